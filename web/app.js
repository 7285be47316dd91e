'use strict';
// The trainctl web UI: one page whose views (runs, a run, compare, sweeps, datasets, models,
// deployments, compute targets) are picked by the address's fragment, #/<workspace>/<view>/...
// Everything comes from the REST API (/v1), authorized by the session cookie. Content from runs
// is only ever put into the page as text (textContent, attributes set one by one), never as HTML.

const k_terminal = new Set(['Completed', 'Failed', 'Canceled', 'TimedOut']);
const k_statuses = ['Queued', 'Preparing', 'Starting', 'Running', 'Finalizing', 'CancelRequested',
  'Completed', 'Failed', 'Canceled', 'TimedOut'];
const k_colors = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777',
  '#65a30d', '#475569', '#ea580c'];
const k_max_rows = 500;       // rows of the runs table drawn at once
const k_max_loaded_runs = 20000;
const k_chart_points = 1000;  // points per series asked of the service (it downsamples past it); a chart is ~500 px wide

const ui = {
  csrf: '',
  workspace: localStorage.getItem('trainctl.workspace') || 'default',
  // What the current view started and must stop when another is shown.
  timers: [],
  streams: [],
  charts: [],
  generation: 0,
};

// ---- DOM helpers ----------------------------------------------------------------------------

// el('a', {href: '#/x', class: 'y'}, 'text', child...): attributes are set one by one and
// children that are not nodes become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Replaces the node's children with `children` (as el() takes them).
function fill(node, ...children) {
  return append(clear(node), children);
}

function section(title, ...children) {
  return el('section', {class: 'card'}, el('h2', {}, title), ...children);
}

function table(headers, rows, attrs) {
  return el('table', attrs || {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows));
}

function statusBadge(status) {
  return el('span', {class: 'status status-' + String(status).toLowerCase()}, status);
}

function link(path, text) {
  return el('a', {href: '#/' + path}, text);
}

function enc(part) {
  return encodeURIComponent(part);
}

// A file path for a URL: each component encoded on its own.
function encPath(path) {
  return String(path).split('/').map(enc).join('/');
}

function wsPath(suffix) {
  return '/workspaces/' + enc(ui.workspace) + suffix;
}

function viewPath(suffix) {
  return enc(ui.workspace) + '/' + suffix;
}

function formatTime(text) {
  if (!text) return '';
  const date = new Date(text);
  if (isNaN(date)) return String(text);
  const pad = (n) => String(n).padStart(2, '0');
  return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) + ' ' +
    pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
}

function formatDuration(ms) {
  if (ms === null || ms === undefined) return '';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return seconds + ' s';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + (seconds % 60) + ' s';
  return Math.floor(seconds / 3600) + ' h ' + Math.floor((seconds % 3600) / 60) + ' min';
}

function formatNumber(value) {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 1e4 || Math.abs(value) < 1e-3 ? value.toExponential(3) : value.toPrecision(4);
}

function formatBytes(size) {
  if (size < 1024) return size + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return value.toFixed(1) + ' ' + units[unit];
}

function metricValue(value) {
  return typeof value === 'number' ? value : null;  // "NaN", "Infinity": a gap
}

function keyValueTable(object, empty) {
  const entries = Object.entries(object || {});
  if (entries.length === 0) return el('p', {class: 'muted'}, empty || 'none');
  return table(['name', 'value'], entries.map(([k, v]) =>
    el('tr', {}, el('td', {class: 'mono'}, k), el('td', {class: 'mono'}, typeof v === 'object' ? JSON.stringify(v) : String(v)))));
}

function errorBox(error) {
  return el('p', {class: 'error'}, String(error && error.message ? error.message : error));
}

// ---- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options) {
  const response = await fetch('/v1' + path, Object.assign({credentials: 'same-origin'}, options || {}));
  if (response.status === 401) {
    location.replace('/ui/login');
    throw new ApiError(401, 'not logged in');
  }
  if (!response.ok) {
    let message = response.status + ' ' + response.statusText;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error.message;
    } catch (ignored) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  if (response.status === 204) return null;
  return response.json();
}

// A state change: JSON body and the session's CSRF token.
function apiPost(path, body, headers) {
  return api(path, {
    method: 'POST',
    headers: Object.assign({'Content-Type': 'application/json', 'X-CSRF-Token': ui.csrf}, headers || {}),
    body: JSON.stringify(body === undefined ? {} : body),
  });
}

// Reads an NDJSON stream (logs, metric points), calling onEvent for each event, until it ends or
// the view changes.
async function stream(path, onEvent) {
  const controller = new AbortController();
  ui.streams.push(controller);
  const response = await fetch('/v1' + path, {credentials: 'same-origin', signal: controller.signal});
  if (!response.ok) {
    let message = String(response.status);
    try { message = (await response.json()).error.message; } catch (ignored) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      pending += decoder.decode(value, {stream: true});
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') throw error;
  }
}

function every(ms, action) {
  const generation = ui.generation;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || generation !== ui.generation) return;
    busy = true;
    try { await action(); } catch (error) { if (error.status !== 401) console.warn(error.message); }
    busy = false;
  }, ms);
  ui.timers.push(timer);
}

// ---- charts ---------------------------------------------------------------------------------

function lineChart(canvas, datasets, xTitle, yTitle, extra) {
  const points = datasets.reduce((n, d) => n + d.data.length, 0);
  const chart = new Chart(canvas, {
    type: 'line',
    data: {datasets: datasets.map((d, i) => Object.assign({
      borderColor: k_colors[i % k_colors.length],
      backgroundColor: k_colors[i % k_colors.length],
      borderWidth: 1.5,
      pointRadius: points > 300 ? 0 : 2,
      tension: 0,
      spanGaps: false,
    }, d))},
    options: Object.assign({
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: {mode: 'nearest', axis: 'x', intersect: false},
      scales: {
        x: {type: 'linear', title: {display: true, text: xTitle}},
        y: {type: 'linear', title: {display: true, text: yTitle}},
      },
      plugins: {
        legend: {display: true, position: 'bottom', labels: {boxWidth: 12}},
      },
    }, extra || {}),
  });
  ui.charts.push(chart);
  return chart;
}

function chartBox(attrs) {
  const canvas = el('canvas', attrs || {});
  return {box: el('div', {class: 'chart'}, canvas), canvas: canvas};
}

// One series of the metrics API as chart points over step, or over seconds since `start`.
function seriesPoints(series, xAxis, start) {
  return series.points.map((p) => ({
    x: xAxis === 'time' ? (Date.parse(p.time) - start) / 1000 : p.step,
    y: metricValue(p.value),
  }));
}

// ---- views ----------------------------------------------------------------------------------

const k_views = [
  ['runs', 'Runs'], ['sweeps', 'Sweeps'], ['datasets', 'Datasets'], ['models', 'Models'],
  ['deployments', 'Deployments'], ['computes', 'Compute'],
];

function leaveView() {
  ui.generation++;
  ui.timers.forEach(clearInterval);
  ui.streams.forEach((c) => c.abort());
  ui.charts.forEach((c) => c.destroy());
  ui.timers = [];
  ui.streams = [];
  ui.charts = [];
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = hash.split('?');
  const parts = pathPart.split('/').filter((p) => p !== '').map(decodeURIComponent);
  return {parts: parts, query: new URLSearchParams(queryPart || '')};
}

async function route() {
  leaveView();
  const {parts, query} = parseRoute();
  if (parts.length === 0) {
    location.replace('#/' + enc(ui.workspace) + '/runs');
    return;
  }
  ui.workspace = parts[0];
  localStorage.setItem('trainctl.workspace', ui.workspace);
  const select = document.getElementById('workspace');
  if (select.value !== ui.workspace) select.value = ui.workspace;
  const view = parts[1] || 'runs';
  const id = parts[2];
  drawNav(view);
  const main = clear(document.getElementById('view'));
  const pages = {
    runs: () => (id ? runPage(main, id) : runsPage(main, query)),
    compare: () => comparePage(main, (id || '').split(',').filter(Boolean)),
    sweeps: () => (id ? sweepPage(main, id) : sweepsPage(main)),
    datasets: () => (id ? datasetPage(main, id, query) : datasetsPage(main)),
    models: () => (id ? modelPage(main, id, query) : modelsPage(main)),
    deployments: () => (id ? deploymentPage(main, id) : deploymentsPage(main)),
    computes: () => computesPage(main),
  };
  const page = pages[view];
  if (!page) {
    main.append(errorBox('no such page'));
    return;
  }
  try {
    await page();
  } catch (error) {
    if (error.status !== 401) main.append(errorBox(error));
  }
}

function drawNav(current) {
  const nav = clear(document.getElementById('nav'));
  for (const [view, title] of k_views) {
    const active = current === view || (current === 'compare' && view === 'runs');
    nav.append(el('a', {href: '#/' + viewPath(view), class: active ? 'active' : ''}, title));
  }
}

// ---- runs -----------------------------------------------------------------------------------

async function runsPage(main, query) {
  const filters = {
    experiment: query.get('experiment') || '',
    status: query.get('status') || '',
    compute: query.get('compute') || '',
    tag: query.get('tag') || '',
  };
  const state = {runs: new Map(), sort: {key: 'created_at', descending: true}, selected: new Set(), complete: false};
  const generation = ui.generation;

  const input = (name, placeholder) => el('input', {name: name, placeholder: placeholder, value: filters[name]});
  const statusSelect = el('select', {name: 'status'}, el('option', {value: ''}, 'any status'),
    k_statuses.map((s) => el('option', {value: s, selected: s === filters.status}, s)));
  const computeSelect = el('select', {name: 'compute'}, el('option', {value: ''}, 'any compute'));
  const filterForm = el('form', {class: 'filters', onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(filterForm);
    const params = new URLSearchParams();
    for (const [key, value] of data.entries()) if (String(value).trim()) params.set(key, String(value).trim());
    location.hash = '#/' + viewPath('runs') + (params.toString() ? '?' + params : '');
  }},
  input('experiment', 'experiment'), statusSelect, computeSelect, input('tag', 'tag key or key=value'),
  el('button', {type: 'submit'}, 'Filter'));
  const compareButton = el('button', {type: 'button', disabled: true, onclick: () => {
    location.hash = '#/' + viewPath('compare/' + [...state.selected].map(enc).join(','));
  }}, 'Compare selected');
  const summary = el('span', {class: 'muted'});
  const tableBox = el('div', {class: 'table-scroll'});
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Runs'), summary, el('span', {class: 'spacer'}), compareButton),
    filterForm, el('section', {class: 'card flush'}, tableBox));

  api(wsPath('/computes')).then((computes) => {
    for (const compute of computes.items) {
      computeSelect.append(el('option', {value: compute.name, selected: compute.name === filters.compute}, compute.name));
    }
  }).catch(() => {});

  const listQuery = (limit, pageToken, statuses) => {
    const params = new URLSearchParams({limit: String(limit)});
    if (filters.experiment) params.set('experiment', filters.experiment);
    if (statuses || filters.status) params.set('status', statuses || filters.status);
    if (filters.compute) params.set('compute', filters.compute);
    if (pageToken) params.set('page_token', pageToken);
    return wsPath('/runs?' + params);
  };

  const tagMatches = (run) => {
    if (!filters.tag) return true;
    const equals = filters.tag.indexOf('=');
    const key = equals < 0 ? filters.tag : filters.tag.slice(0, equals);
    if (!(key in (run.tags || {}))) return false;
    return equals < 0 || String(run.tags[key]) === filters.tag.slice(equals + 1);
  };

  const draw = () => {
    const runs = [...state.runs.values()].filter((run) => tagMatches(run) && (!filters.status || run.status === filters.status));
    // The metric and param columns: the names most runs have, at most six of each.
    const count = (field) => {
      const counts = new Map();
      for (const run of runs.slice(0, 2000)) for (const name of Object.keys(run[field] || {})) counts.set(name, (counts.get(name) || 0) + 1);
      return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 6).map((e) => e[0]);
    };
    const metrics = count('metrics');
    const params = count('params');
    const columns = [
      {key: 'id', title: 'run', value: (r) => r.id, cell: (r) => link(viewPath('runs/' + enc(r.id)), r.id)},
      {key: 'name', title: 'name', value: (r) => r.name},
      {key: 'experiment', title: 'experiment', value: (r) => r.experiment},
      {key: 'status', title: 'status', value: (r) => r.status, cell: (r) => statusBadge(r.status)},
      {key: 'compute', title: 'compute', value: (r) => r.compute},
      {key: 'created_at', title: 'created', value: (r) => r.created_at, cell: (r) => formatTime(r.created_at)},
      {key: 'duration_ms', title: 'duration', value: (r) => r.duration_ms, cell: (r) => formatDuration(r.duration_ms)},
      ...metrics.map((m) => ({key: 'metric:' + m, title: m, numeric: true, value: (r) => (r.metrics[m] ? metricValue(r.metrics[m].last) : null),
        cell: (r) => (r.metrics[m] ? formatNumber(r.metrics[m].last) : '')})),
      ...params.map((p) => ({key: 'param:' + p, title: p, param: true, value: (r) => (r.params || {})[p], cell: (r) => (r.params || {})[p]})),
      {key: 'tags', title: 'tags', value: (r) => Object.keys(r.tags || {}).join(','), cell: (r) =>
        Object.entries(r.tags || {}).map(([k, v]) => el('span', {class: 'tag'}, v === '' ? k : k + '=' + v))},
    ];
    const column = columns.find((c) => c.key === state.sort.key) || columns[5];
    const direction = state.sort.descending ? -1 : 1;
    runs.sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * direction;
    });
    const shown = runs.slice(0, k_max_rows);
    const head = el('tr', {}, el('th', {}, ''), columns.map((c) => el('th', {
      class: 'sortable' + (c.numeric ? ' num' : '') + (c.param ? ' param' : ''),
      title: 'sort by ' + c.title,
      onclick: () => {
        state.sort = {key: c.key, descending: state.sort.key === c.key ? !state.sort.descending : c.numeric || c.key === 'created_at'};
        draw();
      },
    }, c.title, state.sort.key === c.key ? (state.sort.descending ? ' ▼' : ' ▲') : '')));
    const rows = document.createDocumentFragment();
    for (const run of shown) {
      const box = el('input', {type: 'checkbox', checked: state.selected.has(run.id), 'aria-label': 'select ' + run.id, onchange: (event) => {
        if (event.target.checked) state.selected.add(run.id); else state.selected.delete(run.id);
        compareButton.disabled = state.selected.size < 1;
      }});
      rows.append(el('tr', {'data-run': run.id}, el('td', {}, box),
        columns.map((c) => el('td', {class: c.numeric ? 'num' : ''}, c.cell ? c.cell(run) : c.value(run)))));
    }
    const grid = el('table', {class: 'runs'}, el('thead', {}, head), el('tbody', {}, rows));
    fill(tableBox, shown.length ? grid : el('p', {class: 'muted pad'}, state.complete ? 'No runs.' : 'Loading…'));
    summary.textContent = runs.length + ' run' + (runs.length === 1 ? '' : 's') +
      (state.complete ? '' : ' loaded so far') + (runs.length > shown.length ? ', showing ' + shown.length + ' (sort or filter for others)' : '');
  };

  // The newest runs first, drawn at once; the rest page by page behind them.
  const first = await api(listQuery(100));
  if (generation !== ui.generation) return;
  for (const run of first.items) state.runs.set(run.id, run);
  state.complete = !first.next_page_token;
  draw();
  (async () => {
    let token = first.next_page_token;
    while (token && generation === ui.generation && state.runs.size < k_max_loaded_runs) {
      const page = await api(listQuery(1000, token));
      if (generation !== ui.generation) return;
      for (const run of page.items) if (!state.runs.has(run.id)) state.runs.set(run.id, run);
      token = page.next_page_token;
      state.complete = !token;
      draw();
    }
  })().catch((error) => main.append(errorBox(error)));

  // Live, every two seconds: the newest runs (new ones appear), every unfinished run (their
  // statuses change), and each run that was unfinished here but is no longer listed so (it has
  // finished). Only changed rows make a redraw.
  const unfinished = k_statuses.filter((status) => !k_terminal.has(status)).join(',');
  every(2000, async () => {
    const [newest, active] = await Promise.all([api(listQuery(100)), api(listQuery(1000, null, unfinished))]);
    let changed = false;
    const merge = (run) => {
      const old = state.runs.get(run.id);
      if (old && old.status === run.status && old.updated_at === run.updated_at) return;
      changed = true;
      state.runs.set(run.id, run);
    };
    newest.items.forEach(merge);
    active.items.forEach(merge);
    const listed = new Set([...newest.items, ...active.items].map((run) => run.id));
    const ended = [...state.runs.values()].filter((run) => !k_terminal.has(run.status) && !listed.has(run.id)).slice(0, 20);
    (await Promise.all(ended.map((run) => api(wsPath('/runs/' + enc(run.id))).catch(() => null)))).filter(Boolean).forEach(merge);
    if (changed && generation === ui.generation) draw();
  });
}

// ---- a run ----------------------------------------------------------------------------------

async function runPage(main, id) {
  const generation = ui.generation;
  let run = await api(wsPath('/runs/' + enc(id)));
  const head = el('div', {class: 'page-head'});
  const overview = el('div', {class: 'grid two'});
  const tasksBox = el('div');
  const logBox = el('div');
  const metricsBox = el('div');
  const detailsBox = el('div', {class: 'grid two'});
  main.append(head, overview, section('Tasks', tasksBox), section('Log', logBox),
    section('Metrics', metricsBox), detailsBox);

  const cancel = async (button) => {
    button.disabled = true;
    try {
      run = await apiPost(wsPath('/runs/' + enc(id) + '/cancel'));
      drawStatus();
    } catch (error) {
      head.append(errorBox(error));
    }
  };

  const drawStatus = () => {
    fill(head, el('h1', {}, run.name || run.id), statusBadge(run.status),
      run.name ? el('span', {class: 'muted mono'}, run.id) : null, el('span', {class: 'muted'}, run.experiment),
      el('span', {class: 'spacer'}),
      k_terminal.has(run.status) || run.status === 'CancelRequested' ? null :
        el('button', {class: 'danger', id: 'cancel-run', type: 'button', onclick: (event) => cancel(event.target)}, 'Cancel run'));
    const facts = [
      ['experiment', run.experiment], ['compute', run.compute], ['created', formatTime(run.created_at)],
      ['started', formatTime(run.started_at)], ['ended', formatTime(run.ended_at)],
      ['duration', formatDuration(run.duration_ms)], ['exit code', run.exit_code],
      ['attempt', run.attempt + ' of ' + run.max_attempts], ['priority', run.priority],
      ['Slurm job', run.slurm_job_id], ['failure', run.failure_reason],
      ['queue', run.queue ? '#' + run.queue.position + ' of ' + run.queue.queue_length + ': ' + run.queue.reason : null],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '');
    const timeline = (run.timeline || []).map((event, i, all) => {
      const next = all[i + 1];
      const spent = next ? Date.parse(next.at) - Date.parse(event.at) : (k_terminal.has(event.status) ? null : Date.now() - Date.parse(event.at));
      return el('li', {}, statusBadge(event.status), el('span', {class: 'muted'}, ' ' + formatTime(event.at)),
        spent !== null ? el('span', {class: 'muted'}, ' · ' + formatDuration(spent)) : null,
        event.message ? el('div', {class: 'note'}, event.message) : null);
    });
    fill(overview, 
      section('Overview', el('dl', {class: 'facts'}, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]))),
      section('Timeline', el('ol', {class: 'timeline'}, timeline)));
    const taskRows = (run.tasks || []).map((t) => el('tr', {},
      el('td', {class: 'mono'}, t.name), el('td', {}, t.role), el('td', {class: 'num'}, t.node),
      el('td', {}, t.host || ''), el('td', {}, t.state, t.failed_first ? el('span', {class: 'tag bad'}, 'failed first') : null),
      el('td', {class: 'num'}, t.exit_code === null || t.exit_code === undefined ? '' : t.exit_code),
      el('td', {class: 'num'}, t.signal || ''), el('td', {}, formatTime(t.started_at)), el('td', {}, formatTime(t.ended_at)),
      el('td', {}, t.message || '')));
    fill(tasksBox, taskRows.length ? table(['task', 'role', 'node', 'host', 'state', 'exit', 'signal', 'started', 'ended', 'message'], taskRows)
      : el('p', {class: 'muted'}, 'No tasks yet.'));
  };
  drawStatus();
  drawRunLog(logBox, run);
  const charts = await drawRunMetrics(metricsBox, [run]);
  drawRunDetails(detailsBox, run);

  if (!k_terminal.has(run.status)) {
    every(1500, async () => {
      const latest = await api(wsPath('/runs/' + enc(id)));
      if (generation !== ui.generation) return;
      const metricsChanged = JSON.stringify(latest.metrics) !== JSON.stringify(run.metrics);
      run = latest;
      drawStatus();
      if (metricsChanged) await charts.refresh([run]);
      if (k_terminal.has(run.status)) leaveTimers();
    });
  }
}

function leaveTimers() {
  ui.timers.forEach(clearInterval);
  ui.timers = [];
}

// The run's log, followed as `trainctl logs -f` does: every task's, or one task's.
function drawRunLog(box, run) {
  const taskNames = (run.tasks || []).map((t) => t.name);
  const select = el('select', {'aria-label': 'task'}, el('option', {value: ''}, 'every task'),
    taskNames.map((t) => el('option', {value: t}, t)));
  const pre = el('pre', {class: 'log', id: 'run-log'});
  const note = el('span', {class: 'muted'});
  let controllerIndex = -1;
  const follow = () => {
    if (controllerIndex >= 0) ui.streams[controllerIndex].abort();
    controllerIndex = ui.streams.length;
    clear(pre);
    note.textContent = 'following…';
    const task = select.value;
    const params = new URLSearchParams({follow: 'true'});
    if (task) params.set('task', task);
    const several = !task && taskNames.length > 1;
    stream(wsPath('/runs/' + enc(run.id) + '/logs?' + params), (event) => {
      if (event.type === 'log') {
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
        const text = several ? event.data.replace(/^(?=.)/gm, '[' + event.task + '] ') : event.data;
        pre.append(document.createTextNode(text));
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      } else if (event.type === 'attempt' && event.previous) {
        pre.append(el('span', {class: 'log-note'}, '── attempt ' + event.attempt + ' ──\n'));
      } else if (event.type === 'end') {
        note.textContent = 'ended: ' + event.status + (event.failure_reason ? ' (' + event.failure_reason + ')' : '');
      }
    }).catch((error) => { note.textContent = error.message; });
  };
  select.addEventListener('change', follow);
  fill(box, el('div', {class: 'toolbar'}, select, note), pre);
  follow();
}

// Charts of every metric of `runs` (one dataset per run and series), over step or time.
async function drawRunMetrics(box, runs) {
  let xAxis = 'step';
  const grid = el('div', {class: 'charts'});
  const toggle = el('select', {'aria-label': 'x axis', onchange: (event) => { xAxis = event.target.value; refresh(current); }},
    el('option', {value: 'step'}, 'over step'), el('option', {value: 'time'}, 'over time'));
  fill(box, el('div', {class: 'toolbar'}, toggle), grid);
  let current = runs;
  const charts = new Map();  // metric name -> Chart

  const load = async (runList) => {
    const names = [...new Set(runList.flatMap((r) => Object.keys(r.metrics || {})))].sort();
    const data = new Map();
    await Promise.all(names.flatMap((name) => runList.filter((r) => r.metrics && r.metrics[name]).map(async (run) => {
      const reply = await api(wsPath('/runs/' + enc(run.id) + '/metrics/series?name=' + enc(name) + '&max_points=' + k_chart_points));
      if (!data.has(name)) data.set(name, []);
      const start = Date.parse(run.started_at || run.created_at);
      for (const series of reply.series) {
        const several = reply.series.length > 1;
        const label = (runList.length > 1 ? (run.name || run.id) : name) +
          (several ? ' (' + series.task + (series.attempt > 1 ? ', attempt ' + series.attempt : '') + ')' : '') +
          (series.downsampled ? ' · mean of ' + Math.ceil(series.count / series.points.length) : '');
        data.get(name).push({label: label, data: seriesPoints(series, xAxis, start), order: runList.indexOf(run)});
      }
    })));
    return {names, data};
  };

  const refresh = async (runList) => {
    current = runList;
    const {names, data} = await load(runList);
    if (names.length === 0) {
      fill(grid, el('p', {class: 'muted'}, 'No metrics logged.'));
      return;
    }
    if (grid.querySelector('p')) clear(grid);
    for (const name of names) {
      const datasets = (data.get(name) || []).sort((a, b) => a.order - b.order);
      let chart = charts.get(name);
      if (!chart || chart.canvas === null) {
        const {box: chartBoxNode, canvas} = chartBox({'data-metric': name, 'aria-label': 'metric ' + name});
        grid.append(el('div', {class: 'chart-card'}, el('h3', {}, name), chartBoxNode));
        chart = lineChart(canvas, datasets, xAxis === 'time' ? 'seconds since start' : 'step', name);
        chart.options.scales.x.ticks.precision = xAxis === 'time' ? undefined : 0;
        charts.set(name, chart);
      } else {
        datasets.forEach((d, i) => Object.assign(d, {borderColor: k_colors[i % k_colors.length], backgroundColor: k_colors[i % k_colors.length],
          borderWidth: 1.5, pointRadius: d.data.length > 300 ? 0 : 2}));
        chart.data.datasets = datasets;
        chart.options.scales.x.title.text = xAxis === 'time' ? 'seconds since start' : 'step';
        chart.options.scales.x.ticks.precision = xAxis === 'time' ? undefined : 0;
        chart.update('none');
      }
    }
  };
  await refresh(runs);
  return {refresh};
}

function drawRunDetails(box, run) {
  const inputs = (run.inputs || []).map((input) => el('tr', {},
    el('td', {class: 'mono'}, input.name),
    el('td', {}, link(viewPath('datasets/' + enc(input.dataset) + '?version=' + enc(input.version)), input.dataset + ':' + input.version)),
    el('td', {}, input.mode)));
  const models = el('div', {}, el('p', {class: 'muted'}, 'Looking for models…'));
  const files = el('div', {}, el('p', {class: 'muted'}, 'Loading…'));
  const estimator = run.estimator || {};
  fill(box, 
    section('Params', keyValueTable(run.params)),
    section('Tags', keyValueTable(run.tags)),
    section('Inputs (dataset versions)', inputs.length ? table(['input', 'dataset version', 'mode'], inputs) : el('p', {class: 'muted'}, 'none')),
    section('Models registered from this run', models),
    section('Files', files),
    section('Spec', el('dl', {class: 'facts'},
      [['entry script', estimator.entry_script], ['framework', estimator.framework], ['nodes', estimator.node_count],
        ['processes per node', estimator.process_count_per_node],
        ['backend', estimator.distributed_training ? estimator.distributed_training.backend : ''],
        ['snapshot', run.snapshot_id]].filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => [el('dt', {}, k), el('dd', {class: 'mono'}, String(v))]))));
  api(wsPath('/runs/' + enc(run.id) + '/files')).then((reply) => {
    const rows = reply.items.map((f) => el('tr', {},
      el('td', {class: 'mono'}, el('a', {href: '/v1' + wsPath('/runs/' + enc(run.id) + '/files/' + encPath(f.path)), download: f.path.split('/').pop()}, f.path)),
      el('td', {class: 'num'}, formatBytes(f.size))));
    fill(files, rows.length ? table(['file', 'size'], rows) : el('p', {class: 'muted'}, 'none'));
  }).catch((error) => fill(files, errorBox(error)));
  findModelsOf(run).then((versions) => {
    fill(models, versions.length ? table(['model version', 'framework', 'path', 'registered'], versions.map((v) => el('tr', {},
      el('td', {}, link(viewPath('models/' + enc(v.name) + '?version=' + v.version), v.name + ':' + v.version)),
      el('td', {}, v.framework), el('td', {class: 'mono'}, v.path), el('td', {}, formatTime(v.created_at)))))
      : el('p', {class: 'muted'}, 'none'));
  }).catch((error) => fill(models, errorBox(error)));
}

async function findModelsOf(run) {
  const models = await api(wsPath('/models'));
  const found = [];
  await Promise.all(models.items.slice(0, 200).map(async (model) => {
    const detail = await api(wsPath('/models/' + enc(model.name)));
    for (const version of detail.versions) if (version.run_id === run.id) found.push(version);
  }));
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version));
}

async function comparePage(main, ids) {
  const runs = await Promise.all(ids.map((id) => api(wsPath('/runs/' + enc(id)))));
  const box = el('div');
  const paramNames = [...new Set(runs.flatMap((r) => Object.keys(r.params || {})))].sort();
  const metricNames = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Compare ' + runs.length + ' runs')),
    section('Runs', table(['run', 'status', ...metricNames, ...paramNames], runs.map((r) => el('tr', {},
      el('td', {}, link(viewPath('runs/' + enc(r.id)), r.name || r.id)), el('td', {}, statusBadge(r.status)),
      metricNames.map((m) => el('td', {class: 'num'}, r.metrics[m] ? formatNumber(r.metrics[m].last) : '')),
      paramNames.map((p) => el('td', {class: 'mono'}, (r.params || {})[p] === undefined ? '' : r.params[p])))))),
    section('Metrics', box));
  await drawRunMetrics(box, runs);
}

// ---- sweeps ---------------------------------------------------------------------------------

async function sweepsPage(main) {
  const sweeps = await api(wsPath('/sweeps'));
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Sweeps')), section('Sweeps', sweeps.items.length ?
    table(['sweep', 'experiment', 'status', 'sampling', 'primary metric', 'trials', 'best', 'created'], sweeps.items.map((s) => el('tr', {},
      el('td', {}, link(viewPath('sweeps/' + enc(s.id)), s.id)), el('td', {}, s.experiment), el('td', {}, statusBadge(s.status)),
      el('td', {}, s.sampling), el('td', {}, s.primary_metric + ' (' + s.goal + ')'),
      el('td', {class: 'num'}, s.trials_started + ' / ' + s.max_total_trials),
      el('td', {class: 'num'}, s.best ? formatNumber(s.best.objective) : ''), el('td', {}, formatTime(s.created_at))))) :
    el('p', {class: 'muted'}, 'No sweeps.')));
}

async function sweepPage(main, id) {
  const generation = ui.generation;
  const head = el('div', {class: 'page-head'});
  const facts = el('div');
  const trialsBox = el('div', {class: 'table-scroll'});
  const progress = chartBox({id: 'sweep-progress', 'aria-label': 'primary metric over trials'});
  const parallel = chartBox({id: 'sweep-parallel', 'aria-label': 'parallel coordinates'});
  main.append(head, el('div', {class: 'grid two'}, section('Primary metric over trials', progress.box),
    section('Params against the metric', parallel.box,
      el('p', {class: 'muted caption'}, 'One line per trial through each axis (scaled to its range); colour: the metric, red worst to blue best; dashed: stopped early.'))),
  section('Trials', trialsBox), facts);
  let progressChart = null;
  let parallelChart = null;

  const draw = (sweep) => {
    fill(head, el('h1', {}, sweep.experiment), statusBadge(sweep.status), el('span', {class: 'muted mono'}, sweep.id),
      el('span', {class: 'muted'}, sweep.trials_started + ' of ' + sweep.max_total_trials + ' trials started, ' + sweep.trials_running + ' running'));
    const paramNames = [...new Set(sweep.trials.flatMap((t) => Object.keys(t.params || {})))].sort();
    const stopped = (t) => t.failure_reason === 'early termination';
    const rows = sweep.trials.map((t, rank) => el('tr', {class: stopped(t) ? 'stopped' : '', 'data-trial': t.trial},
      el('td', {class: 'num'}, rank + 1), el('td', {class: 'num'}, t.trial),
      el('td', {}, link(viewPath('runs/' + enc(t.run_id)), t.run_id)),
      el('td', {}, statusBadge(t.status), stopped(t) ? el('span', {class: 'tag bad'}, 'early terminated') : null),
      el('td', {class: 'num'}, formatNumber(t.objective)),
      paramNames.map((p) => el('td', {class: 'mono'}, (t.params || {})[p] === undefined ? '' : t.params[p]))));
    fill(trialsBox, rows.length ? table(['rank', 'trial', 'run', 'status', sweep.primary_metric + ' (' + sweep.goal + ')', ...paramNames], rows, {class: 'trials'})
      : el('p', {class: 'muted pad'}, 'No trials yet.'));
    fill(facts, section('Sweep', el('dl', {class: 'facts'}, [
      ['sampling', sweep.sampling], ['objective', sweep.primary_metric + ', ' + sweep.goal], ['concurrent trials', sweep.max_concurrent_trials],
      ['seed', sweep.seed], ['created', formatTime(sweep.created_at)], ['ended', formatTime(sweep.ended_at)], ['message', sweep.message],
      ['best', sweep.best ? 'trial ' + sweep.best.trial + ': ' + formatNumber(sweep.best.objective) : ''],
    ].filter(([, v]) => v !== '' && v !== null && v !== undefined).map(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]))));

    // The metric by trial number, and the best so far.
    const byTrial = sweep.trials.filter((t) => typeof t.objective === 'number').sort((a, b) => a.trial - b.trial);
    const better = sweep.goal === 'minimize' ? (a, b) => a < b : (a, b) => a > b;
    let best = null;
    const bestLine = byTrial.map((t) => {
      if (best === null || better(t.objective, best)) best = t.objective;
      return {x: t.trial, y: best};
    });
    const points = byTrial.map((t) => ({x: t.trial, y: t.objective}));
    const stoppedPoints = byTrial.filter(stopped).map((t) => ({x: t.trial, y: t.objective}));
    const progressData = [
      {label: sweep.primary_metric, data: points, showLine: false, pointRadius: 4},
      {label: 'best so far', data: bestLine, stepped: true, pointRadius: 0, borderWidth: 2},
      {label: 'early terminated', data: stoppedPoints, showLine: false, pointRadius: 5, pointStyle: 'crossRot', borderWidth: 2},
    ];
    if (!progressChart) {
      progressChart = lineChart(progress.canvas, progressData, 'trial', sweep.primary_metric,
        {scales: {x: {type: 'linear', title: {display: true, text: 'trial'}, ticks: {precision: 0}, grace: '5%'},
          y: {type: 'linear', title: {display: true, text: sweep.primary_metric}, grace: '5%'}}});
    } else {
      progressData.forEach((d, i) => Object.assign(progressChart.data.datasets[i], {data: d.data}));
      progressChart.update('none');
    }

    // Parallel coordinates: one line per trial through each param's axis and the metric's, each
    // axis scaled to 0..1 (choices by their index); the tooltip shows the values.
    const axes = [...paramNames, sweep.primary_metric];
    const values = (t, axis) => (axis === sweep.primary_metric ? t.objective : (t.params || {})[axis]);
    const axisLabels = [];
    const scales = axes.map((axis) => {
      const raw = sweep.trials.map((t) => values(t, axis)).filter((v) => v !== undefined && v !== null);
      const numeric = raw.every((v) => !isNaN(Number(v)));
      if (numeric) {
        const numbers = raw.map(Number);
        const low = Math.min(...numbers);
        const high = Math.max(...numbers);
        axisLabels.push([axis, raw.length ? formatNumber(low) + ' … ' + formatNumber(high) : '']);
        return (v) => (high === low ? 0.5 : (Number(v) - low) / (high - low));
      }
      const choices = [...new Set(raw.map(String))].sort();
      axisLabels.push([axis, choices.join(' · ')]);
      return (v) => (choices.length === 1 ? 0.5 : choices.indexOf(String(v)) / (choices.length - 1));
    });
    const scored = sweep.trials.filter((t) => typeof t.objective === 'number');
    const objectives = scored.map((t) => t.objective);
    const low = Math.min(...objectives);
    const high = Math.max(...objectives);
    const shade = (objective) => {
      const f = high === low ? 1 : (objective - low) / (high - low);
      const good = sweep.goal === 'minimize' ? 1 - f : f;
      return 'hsla(' + Math.round(10 + good * 200) + ', 75%, 45%, 0.8)';
    };
    const parallelData = scored.map((t) => ({
      label: 'trial ' + t.trial,
      data: axes.map((axis, i) => ({x: i, y: scales[i](values(t, axis)), raw: values(t, axis)})),
      borderColor: shade(t.objective), backgroundColor: shade(t.objective), pointRadius: 3,
      borderDash: stopped(t) ? [4, 3] : undefined,
    }));
    const options = {
      scales: {
        x: {type: 'linear', min: 0, max: Math.max(axes.length - 1, 1), ticks: {stepSize: 1, callback: (v) => axisLabels[v] || ''},
          grid: {color: '#94a3b8'}},
        y: {min: 0, max: 1, title: {display: true, text: 'scaled to each axis'}, ticks: {display: false}},
      },
      plugins: {
        legend: {display: false},
        tooltip: {callbacks: {label: (item) => item.dataset.label + ': ' + axes[item.raw.x] + ' = ' + item.raw.raw}},
      },
    };
    if (parallelChart) parallelChart.destroy();
    ui.charts = ui.charts.filter((c) => c !== parallelChart);
    parallelChart = lineChart(parallel.canvas, parallelData, '', '', {});
    Object.assign(parallelChart.options.scales, options.scales);
    Object.assign(parallelChart.options.plugins, options.plugins);
    parallelChart.update('none');
  };

  let sweep = await api(wsPath('/sweeps/' + enc(id)));
  draw(sweep);
  if (sweep.status === 'Running') {
    every(3000, async () => {
      sweep = await api(wsPath('/sweeps/' + enc(id)));
      if (generation !== ui.generation) return;
      draw(sweep);
      if (sweep.status !== 'Running') leaveTimers();
    });
  }
}

// ---- datasets and models --------------------------------------------------------------------

async function datasetsPage(main) {
  const datasets = await api(wsPath('/datasets'));
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Datasets')), section('Datasets', datasets.items.length ?
    table(['dataset', 'latest version', 'versions', 'description', 'updated'], datasets.items.map((d) => el('tr', {},
      el('td', {}, link(viewPath('datasets/' + enc(d.name)), d.name)), el('td', {class: 'num'}, d.latest_version),
      el('td', {class: 'num'}, d.version_count), el('td', {}, d.description), el('td', {}, formatTime(d.updated_at))))) :
    el('p', {class: 'muted'}, 'No datasets.')));
}

function fileTable(files, hrefOf) {
  if (!files.length) return el('p', {class: 'muted'}, 'none');
  return table(['file', 'size', 'sha256'], files.map((f) => el('tr', {},
    el('td', {class: 'mono'}, el('a', {href: hrefOf(f.path), download: f.path.split('/').pop()}, f.path)),
    el('td', {class: 'num'}, formatBytes(f.size)), el('td', {class: 'mono muted'}, (f.sha256 || '').slice(0, 12)))));
}

async function versionedPage(main, kind, name, query, extraColumns) {
  const base = wsPath('/' + kind + '/' + enc(name));
  const detail = await api(base);
  const chosen = query.get('version') || String(detail.versions[detail.versions.length - 1].version);
  const versionBox = el('div');
  main.append(el('div', {class: 'page-head'}, el('h1', {}, name), el('span', {class: 'muted'}, kind === 'models' ? 'model' : 'dataset')),
    section('Versions', table(['version', 'description', 'files', 'size', ...extraColumns.map((c) => c[0]), 'created'],
      detail.versions.map((v) => el('tr', {class: String(v.version) === chosen ? 'selected' : ''},
        el('td', {}, link(viewPath(kind + '/' + enc(name) + '?version=' + v.version), 'v' + v.version)),
        el('td', {}, v.description), el('td', {class: 'num'}, v.file_count), el('td', {class: 'num'}, formatBytes(v.total_size)),
        extraColumns.map((c) => el('td', {}, c[1](v))), el('td', {}, formatTime(v.created_at))))), versionBox));
  const version = await api(base + '/versions/' + enc(chosen));
  const lineage = kind === 'models' ? [
    el('dt', {}, 'from run'), el('dd', {}, link(viewPath('runs/' + enc(version.run_id)), version.run_id)),
    el('dt', {}, 'experiment'), el('dd', {}, version.experiment), el('dt', {}, 'path'), el('dd', {class: 'mono'}, version.path),
    el('dt', {}, 'trained on'), el('dd', {}, (version.inputs || []).length ? version.inputs.map((i) =>
      el('div', {}, link(viewPath('datasets/' + enc(i.dataset) + '?version=' + i.version), i.dataset + ':' + i.version), ' as ' + i.name)) : 'no dataset'),
  ] : [el('dt', {}, 'source'), el('dd', {}, version.source), el('dt', {}, 'content hash'), el('dd', {class: 'mono'}, version.content_hash)];
  main.append(section('Version ' + version.version, el('dl', {class: 'facts'}, lineage,
    el('dt', {}, 'tags'), el('dd', {}, Object.keys(version.tags || {}).length ?
      Object.entries(version.tags).map(([k, v]) => el('span', {class: 'tag'}, k + '=' + v)) : 'none')),
  el('h3', {}, 'Files'), fileTable(version.files || [], (path) => '/v1' + base + '/versions/' + enc(version.version) + '/files/' + encPath(path))));
}

function datasetPage(main, name, query) {
  return versionedPage(main, 'datasets', name, query, [['source', (v) => v.source]]);
}

async function modelsPage(main) {
  const models = await api(wsPath('/models'));
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Models')), section('Models', models.items.length ?
    table(['model', 'latest version', 'versions', 'framework', 'description', 'updated'], models.items.map((m) => el('tr', {},
      el('td', {}, link(viewPath('models/' + enc(m.name)), m.name)), el('td', {class: 'num'}, m.latest_version),
      el('td', {class: 'num'}, m.version_count), el('td', {}, m.framework), el('td', {}, m.description), el('td', {}, formatTime(m.updated_at))))) :
    el('p', {class: 'muted'}, 'No models.')));
}

function modelPage(main, name, query) {
  return versionedPage(main, 'models', name, query, [['framework', (v) => v.framework],
    ['run', (v) => link(viewPath('runs/' + enc(v.run_id)), v.run_id)]]);
}

// ---- deployments ----------------------------------------------------------------------------

async function deploymentsPage(main) {
  const deployments = await api(wsPath('/services'));
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Deployments')), section('Deployments', deployments.items.length ?
    table(['deployment', 'state', 'models', 'replicas', 'revision', 'updated'], deployments.items.map((d) => el('tr', {},
      el('td', {}, link(viewPath('deployments/' + enc(d.name)), d.name)), el('td', {}, statusBadge(d.state)),
      el('td', {}, d.models.map((m) => m.name + ':' + m.version).join(', ')),
      el('td', {class: 'num'}, (d.replica_status || []).filter((r) => r.state === 'ready').length + ' / ' + d.replicas),
      el('td', {class: 'num'}, d.revision), el('td', {}, formatTime(d.updated_at))))) :
    el('p', {class: 'muted'}, 'No deployments.')));
}

async function deploymentPage(main, name) {
  const generation = ui.generation;
  const base = wsPath('/services/' + enc(name));
  const head = el('div', {class: 'page-head'});
  const replicas = el('div');
  const logs = el('pre', {class: 'log'});
  const answer = el('pre', {class: 'answer', id: 'score-answer'});
  const request = el('textarea', {rows: 6, spellcheck: 'false', id: 'score-request', 'aria-label': 'scoring request'}, '{"data": [[0, 0, 0, 0]]}');
  const send = el('button', {type: 'submit'}, 'Send');
  const form = el('form', {class: 'score', onsubmit: async (event) => {
    event.preventDefault();
    send.disabled = true;
    answer.textContent = 'sending…';
    try {
      JSON.parse(request.value);
      // The score route takes the deployment's own key, which the session may read.
      const key = await api(base + '/keys');
      const response = await fetch('/v1' + base + '/score', {method: 'POST', credentials: 'omit',
        headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + key.primary_key}, body: request.value});
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (ignored) { /* not JSON */ }
      answer.textContent = response.status + ' ' + response.statusText + '\n' + shown;
    } catch (error) {
      answer.textContent = error.message;
    }
    send.disabled = false;
  }}, request, el('div', {}, send));
  main.append(head, replicas, section('Score', el('p', {class: 'muted'}, 'A JSON request, sent to the deployment’s scoring route as a client would.'), form, answer),
    section('Logs', logs));

  const draw = (d) => {
    fill(head, el('h1', {}, d.name), statusBadge(d.state), el('span', {class: 'muted'}, 'revision ' + d.revision),
      d.message ? el('span', {class: 'note'}, d.message) : null);
    fill(replicas, el('div', {class: 'grid two'},
      section('Deployment', el('dl', {class: 'facts'}, [
        ['models', d.models.map((m) => m.name + ':' + m.version).join(', ')], ['entry script', d.entry_script || 'no-code'],
        ['scoring path', d.scoring_path], ['cpu', d.cpu], ['memory (GB)', d.memory_gb], ['updated', formatTime(d.updated_at)],
      ].map(([k, v]) => [el('dt', {}, k), el('dd', {class: 'mono'}, String(v))]))),
      section('Replicas', table(['replica', 'state', 'pid', 'restarts', 'message'], (d.replica_status || []).map((r) => el('tr', {},
        el('td', {class: 'num'}, r.index), el('td', {}, statusBadge(r.state)), el('td', {class: 'num'}, r.pid),
        el('td', {class: 'num'}, r.restarts), el('td', {}, r.message)))))));
  };
  draw(await api(base));
  const loadLogs = async () => {
    clear(logs);
    await stream(base + '/logs', (event) => {
      if (event.type === 'log') logs.append(document.createTextNode(event.data.replace(/^(?=.)/gm, '[' + event.task + '] ')));
    });
    logs.scrollTop = logs.scrollHeight;
  };
  await loadLogs();
  every(3000, async () => {
    const d = await api(base);
    if (generation === ui.generation) draw(d);
  });
}

// ---- compute targets ------------------------------------------------------------------------

async function computesPage(main) {
  const computes = await api(wsPath('/computes'));
  main.append(el('div', {class: 'page-head'}, el('h1', {}, 'Compute targets')));
  for (const summary of computes.items) {
    const compute = await api(wsPath('/computes/' + enc(summary.name)));
    const queued = await api(wsPath('/runs?status=Queued&limit=100&compute=' + enc(compute.name)));
    const usage = compute.usage || {};
    main.append(section(compute.name,
      el('div', {class: 'toolbar'}, statusBadge(compute.state), el('span', {class: 'muted'}, compute.message ? compute.type + ' · ' + compute.message : compute.type)),
      el('dl', {class: 'facts'}, [
        ['nodes', compute.max_nodes], ['busy nodes', usage.busy_nodes], ['free nodes', usage.free_nodes],
        ['active runs', usage.active_runs], ['queued runs', usage.queued_runs], ['GPUs per node', compute.gpus_per_node],
        ['partition', compute.slurm ? compute.slurm.partition || '(default)' : null],
      ].filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))])),
      compute.nodes ? [el('h3', {}, 'Nodes'), table(['node', 'state', 'CPUs', 'GRES'], compute.nodes.map((n) => el('tr', {},
        el('td', {class: 'mono'}, n.name), el('td', {}, n.state), el('td', {class: 'num'}, n.cpus), el('td', {}, n.gres))))] : null,
      compute.nodes_error ? el('p', {class: 'note'}, compute.nodes_error) : null,
      el('h3', {}, 'Queue'),
      queued.items.length ? table(['place', 'run', 'experiment', 'priority', 'why it waits'], queued.items
        .sort((a, b) => (a.queue ? a.queue.position : 0) - (b.queue ? b.queue.position : 0)).map((r) => el('tr', {},
          el('td', {class: 'num'}, r.queue ? r.queue.position : ''), el('td', {}, link(viewPath('runs/' + enc(r.id)), r.name || r.id)),
          el('td', {}, r.experiment), el('td', {class: 'num'}, r.priority), el('td', {}, r.queue ? r.queue.reason : ''))))
        : el('p', {class: 'muted'}, 'Nothing waits.')));
  }
}

// ---- start ----------------------------------------------------------------------------------

async function start() {
  const response = await fetch('/ui/session', {credentials: 'same-origin'});
  if (!response.ok) {
    location.replace('/ui/login');
    return;
  }
  const session = await response.json();
  ui.csrf = session.csrf_token;
  const logout = document.getElementById('logout');
  if (!session.auth) logout.hidden = true;
  logout.addEventListener('click', async () => {
    await fetch('/ui/session', {method: 'DELETE', credentials: 'same-origin', headers: {'X-CSRF-Token': ui.csrf}});
    location.replace('/ui/login');
  });
  const select = document.getElementById('workspace');
  select.addEventListener('change', () => { location.hash = '#/' + enc(select.value) + '/runs'; });
  api('/workspaces').then((workspaces) => {
    for (const w of workspaces.items) select.append(el('option', {value: w.name, selected: w.name === ui.workspace}, w.name));
  }).catch(() => {});
  window.addEventListener('hashchange', route);
  await route();
}

start();
