// `trainctl submit` of several runs at once: the items of a batch, their checks, one upload per
// distinct snapshot, one request, and following or waiting for the runs.
#include "trainctl/cli/commands/submit_batch.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "transfers.hpp"
#include "trainctl/cli/commands/logs.hpp"
#include "trainctl/cli/reconnect.hpp"
#include "trainctl/cli/resources.hpp"
#include "trainctl/cli/run_waiter.hpp"
#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/fs.hpp"
#include "trainctl/util/random.hpp"
#include "trainctl/util/sha256.hpp"
#include "trainctl/util/strings.hpp"

namespace trainctl::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The most runs whose logs `submit --stream` follows at once; the others' logs are printed
// whole when a follower is free (nothing is lost, only later).
constexpr size_t k_max_followers = 8;
// The largest --from-file text read.
constexpr size_t k_max_override_file_bytes = 16u << 20;

// "a=1" as a --set entry: a dotted key, '=', a value.
Result<void> check_override(std::string_view entry, std::string_view where) {
  const size_t equals = entry.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return fail(ErrorCode::usage, "{}: '{}' is not key=value (e.g. estimator.node_count=2)", where,
                entry);
  }
  return {};
}

// The words of a line, split at blanks; ' and " quote blanks (and each other) into a word.
Result<std::vector<std::string>> split_words(std::string_view line, std::string_view where) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (const char c : line) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) return fail(ErrorCode::usage, "{}: a quote ({}) is not closed", where, quote);
  if (in_word) words.push_back(std::move(word));
  return words;
}

// The overrides of a JSON object line: "key=<value as JSON>" for each member.
Result<std::vector<std::string>> json_overrides(std::string_view line, std::string_view where) {
  const auto object = json::parse(line, nullptr, false);
  if (object.is_discarded() || !object.is_object()) {
    return fail(ErrorCode::usage, "{}: a line starting with '{{' must be a JSON object", where);
  }
  std::vector<std::string> overrides;
  for (const auto& [key, value] : object.items()) {
    if (key.empty()) return fail(ErrorCode::usage, "{}: a key is empty", where);
    overrides.push_back(fmt::format("{}={}", key, value.dump()));
  }
  return overrides;
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// The values of a --matrix entry: split at commas, "\," being a comma inside a value.
std::vector<std::string> matrix_values(std::string_view list) {
  std::vector<std::string> values(1);
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == '\\' && i + 1 < list.size() && list[i + 1] == ',') {
      values.back() += ',';
      ++i;
    } else if (list[i] == ',') {
      values.emplace_back();
    } else {
      values.back() += list[i];
    }
  }
  return values;
}

// An item of the batch: one document of a spec file with one set of overrides.
struct BatchItem {
  std::string file;
  size_t document = 0;  // 1-based; 0 when the file holds one document
  OverrideSet set;

  // "job.yaml", "jobs.yaml (document 2)", "job.yaml [lr=0.1]".
  std::string label() const {
    std::string text = document == 0 ? file : fmt::format("{} (document {})", file, document);
    if (!set.label.empty()) text += fmt::format(" [{}]", set.label);
    return text;
  }
};

struct LoadedItem {
  BatchItem item;
  LoadedSpec loaded;
};

// "1-3, 7": item numbers (1-based, ascending) as ranges.
std::string item_ranges(const std::vector<size_t>& numbers) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < numbers.size();) {
    size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    parts.push_back(j == i ? std::to_string(numbers[i])
                           : fmt::format("{}-{}", numbers[i], numbers[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

// The problems of a batch, each with the items it was found in. The same problem in several
// items (a document's own mistake, in every combination of overrides) is said once.
class BatchProblems {
 public:
  // A problem of item `number` (1-based) labelled `label`.
  void add(size_t number, const std::string& label, const ErrorDetail& detail, ErrorCode code) {
    note_code(code);
    const std::string text = detail.to_string();
    auto [it, added] = m_index.try_emplace(text, m_problems.size());
    if (added) m_problems.push_back(Problem{text, label, {}});
    auto& numbers = m_problems[it->second].items;
    if (numbers.empty() || numbers.back() != number) numbers.push_back(number);
    if (m_failed.empty() || m_failed.back() != number) m_failed.push_back(number);
  }
  // A problem of a whole file (it does not exist, does not parse): no item numbers.
  void add_file(const ErrorDetail& detail, ErrorCode code) {
    note_code(code);
    m_problems.push_back(Problem{detail.to_string(), "", {}});
    ++m_failed_files;
  }
  // An error of `number` as a whole, or each of its details.
  void add_error(size_t number, const std::string& label, const Error& error) {
    if (error.details.empty()) {
      add(number, label, ErrorDetail{.path = {}, .message = error.message, .file = {}}, error.code);
    }
    for (const auto& detail : error.details) add(number, label, detail, error.code);
  }

  bool empty() const { return m_problems.empty(); }

  // invalid_spec when an item is not valid, else the first problem's code; one detail per
  // problem: "item 3 (job.yaml [lr=0.1]): job.yaml:4:3: field: message".
  Error error(size_t items) const {
    std::vector<ErrorDetail> details;
    for (const auto& problem : m_problems) {
      std::string where;
      if (problem.items.size() == 1) {
        where = fmt::format("item {} ({}): ", problem.items.front(), problem.label);
      } else if (!problem.items.empty()) {
        where = fmt::format("items {}: ", item_ranges(problem.items));
      }
      details.push_back(ErrorDetail{.path = {}, .message = where + problem.text, .file = {}});
    }
    std::string message =
        m_failed.empty()
            ? fmt::format("{} of the spec files cannot be read; nothing was submitted",
                          m_failed_files)
            : fmt::format("{} of the {} runs of the batch {} not valid; nothing was submitted",
                          m_failed.size(), items, m_failed.size() == 1 ? "is" : "are");
    return Error{m_code.value_or(ErrorCode::invalid_spec), std::move(message), std::move(details)};
  }

 private:
  struct Problem {
    std::string text;
    std::string label;          // of the first item it was found in
    std::vector<size_t> items;  // 1-based, ascending
  };

  void note_code(ErrorCode code) {
    if (code == ErrorCode::invalid_spec || !m_code) m_code = code;
  }

  std::vector<Problem> m_problems;
  std::map<std::string, size_t> m_index;
  std::vector<size_t> m_failed;  // items with a problem, ascending
  size_t m_failed_files = 0;
  std::optional<ErrorCode> m_code;
};

// The --from-file text: the file, or standard input for "-".
Result<std::string> read_override_file(const std::string& path) {
  if (path != "-") {
    std::error_code error;
    if (!fs::exists(path, error)) return fail(ErrorCode::not_found, "--from-file {} does not exist", path);
    return util::read_file(path, k_max_override_file_bytes);
  }
  std::string text;
  char buffer[65536];
  while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(std::cin.gcount()));
    if (text.size() > k_max_override_file_bytes) {
      return fail(ErrorCode::usage, "--from-file -: standard input is over {}",
                  util::format_size(k_max_override_file_bytes));
    }
  }
  return text;
}

// The sets of overrides of the batch's items: --from-file lines times --matrix combinations.
Result<std::vector<OverrideSet>> batch_override_sets(const SubmitOptions& options) {
  auto matrix = matrix_sets(options.matrix);
  if (!matrix) return fail(matrix.error());
  std::vector<OverrideSet> lines;
  if (!options.from_file.empty()) {
    auto text = read_override_file(options.from_file);
    if (!text) return fail(text.error());
    auto parsed =
        override_lines(*text, options.from_file == "-" ? "stdin" : options.from_file);
    if (!parsed) return fail(parsed.error());
    if (parsed->empty()) {
      return fail(ErrorCode::usage, "--from-file {} holds no line of overrides", options.from_file);
    }
    lines = std::move(*parsed);
  }
  return combine(lines, *matrix);
}

// Every item of the batch, loaded and checked: the documents of each file, each with each set
// of overrides. Every problem is reported, each with its item.
Result<std::vector<LoadedItem>> load_items(const SubmitOptions& options,
                                           const std::vector<OverrideSet>& sets) {
  std::vector<LoadedItem> items;
  BatchProblems problems;
  size_t number = 0;
  for (const auto& file : options.files) {
    auto text = read_spec_file(file);
    if (!text) {
      problems.add_file(text.error().details.empty()
                            ? ErrorDetail{.path = {}, .message = text.error().message, .file = {}}
                            : text.error().details.front(),
                        text.error().code);
      continue;
    }
    auto documents = spec::parse_yaml_documents(*text, file);
    if (!documents) {
      for (const auto& detail : documents.error().details) {
        problems.add_file(detail, documents.error().code);
      }
      continue;
    }
    if (documents->empty()) {
      problems.add_file(ErrorDetail{.path = {}, .message = "holds no YAML document", .file = file},
                        ErrorCode::invalid_spec);
      continue;
    }
    for (size_t d = 0; d < documents->size(); ++d) {
      for (const auto& set : sets) {
        ++number;
        BatchItem item{file, documents->size() == 1 ? 0 : d + 1, set};
        std::vector<std::string> overrides = options.overrides;
        overrides.insert(overrides.end(), set.overrides.begin(), set.overrides.end());
        auto spec = spec::job_spec_from_document((*documents)[d], overrides);
        if (!spec) {
          problems.add_error(number, item.label(), spec.error());
          continue;
        }
        if (spec->sweep) {
          problems.add(number, item.label(),
                       ErrorDetail{.path = "sweep",
                                   .message = "a spec with a sweep section starts a sweep, which "
                                              "cannot be part of a batch; submit it on its own",
                                   .file = file},
                       ErrorCode::invalid_spec);
          continue;
        }
        if (!options.name.empty()) spec->name = options.name;
        auto loaded = locate_source(file, std::move(*spec));
        if (!loaded) {
          problems.add_error(number, item.label(), loaded.error());
          continue;
        }
        items.push_back(LoadedItem{std::move(item), std::move(*loaded)});
      }
    }
  }
  if (!problems.empty()) return fail(problems.error(number));
  return items;
}

// What uploading the batch's sources did.
struct SnapshotUploads {
  std::map<fs::path, std::string> snapshot_of;  // source directory -> snapshot id
  size_t snapshots = 0;
  client::UploadReport totals;
};

// Scans each distinct source directory once and uploads each distinct snapshot once (two
// folders with the same files are one snapshot).
Result<SnapshotUploads> upload_sources(client::ApiClient& client, Session& session,
                                       const std::vector<LoadedItem>& items) {
  SnapshotUploads uploads;
  std::map<std::string, std::string> snapshot_of_manifest;  // sha256 of the manifest -> id
  for (const auto& item : items) {
    const fs::path& source = item.loaded.source_directory;
    if (uploads.snapshot_of.contains(source)) continue;
    auto scan = client::scan_source_directory(
        source, client::ScanOptions{.limits = {},
                                    .hash_cache_file = hash_cache_file(session, source)});
    if (!scan) return fail(scan.error());
    for (const auto& warning : scan->warnings) session.printer().warning(warning);
    const std::string manifest = util::sha256_hex(scan->manifest().dump());
    if (const auto known = snapshot_of_manifest.find(manifest); known != snapshot_of_manifest.end()) {
      uploads.snapshot_of[source] = known->second;
      continue;
    }
    auto report = client::upload_snapshot(
        client, session.workspace(), *scan, [&](uint64_t done, uint64_t total) {
          session.printer().progress("uploading", done, total);
        });
    session.printer().end_progress();
    if (!report) return fail(report.error());
    ++uploads.snapshots;
    uploads.totals.files += report->files;
    uploads.totals.uploaded_files += report->uploaded_files;
    uploads.totals.uploaded_bytes += report->uploaded_bytes;
    snapshot_of_manifest[manifest] = report->snapshot_id;
    uploads.snapshot_of[source] = report->snapshot_id;
  }
  return uploads;
}

// The item number (0-based) a "runs[i]" reference of the service names, and the rest of the text.
std::optional<std::pair<size_t, std::string_view>> item_reference(std::string_view text) {
  constexpr std::string_view k_prefix = "runs[";
  if (!text.starts_with(k_prefix)) return std::nullopt;
  const auto close = text.find(']');
  size_t index = 0;
  const auto digits = text.substr(k_prefix.size(), close - k_prefix.size());
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (close == std::string_view::npos || error != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  auto rest = text.substr(close + 1);
  if (rest.starts_with('.') || rest.starts_with(':')) rest.remove_prefix(1);
  return std::pair{index, trimmed(rest)};
}

// A refusal of the batch by the service, its "runs[i]" references told as the user's items.
Error told_by_item(Error error, const std::vector<LoadedItem>& items) {
  const auto name = [&](size_t index) {
    return index < items.size() ? fmt::format("item {} ({})", index + 1, items[index].item.label())
                                : fmt::format("item {}", index + 1);
  };
  if (const auto reference = item_reference(error.message)) {
    error.message = fmt::format("{}: {}", name(reference->first), reference->second);
  }
  for (auto& detail : error.details) {
    if (const auto reference = item_reference(detail.path)) {
      detail.message = fmt::format("{}: {}{}", name(reference->first), reference->second,
                                   reference->second.empty() ? detail.message
                                                             : ": " + detail.message);
      detail.path.clear();
    }
  }
  return error;
}

Result<int> print_dry_run(Session& session, const std::vector<LoadedItem>& items) {
  json list = json::array();
  Description::Section section{.title = "Batch", .headers = {"ITEM", "SPEC", "EXPERIMENT", "COMMAND"}, .rows = {}};
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& spec = items[i].loaded.spec;
    list.push_back({{"item", i + 1},
                    {"spec", items[i].item.label()},
                    {"payload", spec::build_payload(spec, "<snapshot-id>")}});
    std::vector<std::string> command{spec.estimator.entry_script};
    command.insert(command.end(), spec.estimator.script_params.begin(),
                   spec.estimator.script_params.end());
    section.rows.push_back({std::to_string(i + 1), items[i].item.label(), spec.experiment,
                            fmt::format("{}", fmt::join(command, " "))});
  }
  session.printer().print_document(json{{"items", std::move(list)}},
                                   Description{.fields = {{"Runs", std::to_string(items.size())}},
                                               .sections = {std::move(section)}});
  return exit_code::k_success;
}

// Submits the payloads in one request; a service that is away or busy is waited out and the
// request sent again, which the batch key makes safe.
Result<client::BatchSubmitOutcome> submit_payloads(client::ApiClient& client, Session& session,
                                                   const json& payloads, const std::string& key) {
  InterruptScope interrupt_scope;
  Reconnect reconnect(Reconnect::k_default_patience, {}, [&](const Error& error) {
    session.printer().notice(fmt::format("{}; retrying", error.message));
  });
  while (true) {
    auto outcome = client.create_run_batch(session.workspace(), payloads, key);
    if (outcome || !Reconnect::is_transient(outcome.error()) || !reconnect.wait(outcome.error())) {
      return outcome;
    }
  }
}

// Cancels the runs that have not ended (Ctrl-C with --cancel-on-interrupt).
Result<void> cancel_runs(client::ApiClient& client, Session& session,
                         const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (auto canceled = client.cancel_run(session.workspace(), id); !canceled) {
      return fail(canceled.error());
    }
  }
  session.printer().notice(fmt::format("canceled {} run{}", ids.size(), ids.size() == 1 ? "" : "s"));
  return {};
}

// Ctrl-C while following or waiting: detaches, or cancels the runs.
Result<int> interrupted(client::ApiClient& client, Session& session, const SubmitOptions& options,
                        const std::vector<std::string>& ids) {
  if (options.cancel_on_interrupt) {
    if (auto canceled = cancel_runs(client, session, ids); !canceled) return fail(canceled.error());
  } else {
    session.printer().notice(fmt::format("detached; the runs go on: trainctl run wait {}",
                                         fmt::join(ids, " ")));
  }
  return exit_code::k_interrupted;
}

// Follows the logs of the runs, up to k_max_followers at once, each line prefixed with its run;
// then says how each ended. Exit code: exit_code_for_runs.
Result<int> follow_runs(client::ApiClient& client, Session& session, const SubmitOptions& options,
                        const std::vector<std::string>& ids) {
  auto& printer = session.printer();
  std::vector<std::unique_ptr<client::ApiClient>> clients;
  const size_t followers = std::min(ids.size(), k_max_followers);
  for (size_t i = 1; i < followers; ++i) {
    auto another = session.another_client();
    if (!another) return fail(another.error());
    clients.push_back(std::move(*another));
  }
  std::atomic<size_t> next{0};
  std::mutex output;
  std::vector<std::optional<Error>> errors(ids.size());
  bool was_interrupted = false;
  {
    InterruptScope interrupt_scope;
    const auto follow = [&](client::ApiClient& follower) {
      for (size_t i = next++; i < ids.size() && !InterruptScope::interrupted(); i = next++) {
        const SharedLogOutput shared{.run_label = ids[i], .mutex = &output};
        const LogSource source = [&](const client::LogQuery& query, const LogEventHandler& on_event) {
          return follower.stream_logs(session.workspace(), ids[i], query, on_event);
        };
        auto end = print_log_events(source, printer, "", /*follow=*/true, ids[i], &shared);
        if (!end) errors[i] = end.error();
      }
    };
    std::vector<std::thread> threads;
    for (auto& another : clients) threads.emplace_back(follow, std::ref(*another));
    follow(client);
    for (auto& thread : threads) thread.join();
    was_interrupted = InterruptScope::interrupted();
  }  // ended before a cancel, which must not be aborted
  if (was_interrupted) return interrupted(client, session, options, ids);
  for (const auto& error : errors) {
    if (error && error->code != ErrorCode::interrupted) return fail(*error);
  }
  std::vector<json> runs;
  for (const auto& id : ids) {
    auto run = client.get_run(session.workspace(), id);
    if (!run) return fail(run.error());
    printer.notice(describe_outcome(*run));
    runs.push_back(std::move(*run));
  }
  return exit_code_for_runs(runs);
}

}  // namespace

Result<std::vector<OverrideSet>> matrix_sets(const std::vector<std::string>& matrix) {
  std::vector<OverrideSet> sets;
  std::vector<std::string> keys;
  for (const auto& entry : matrix) {
    const auto where = fmt::format("--matrix {}", entry);
    if (auto valid = check_override(entry, where); !valid) return fail(valid.error());
    const size_t equals = entry.find('=');
    const std::string key = entry.substr(0, equals);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return fail(ErrorCode::usage, "{}: {} is given to --matrix twice; list its values once", where, key);
    }
    keys.push_back(key);
    const auto values = matrix_values(std::string_view(entry).substr(equals + 1));
    if (values.size() == 1 && values.front().empty()) {
      return fail(ErrorCode::usage, "{}: no values; give them as {}=V1,V2,...", where, key);
    }
    std::vector<OverrideSet> column;
    for (const auto& value : values) {
      const std::string text = fmt::format("{}={}", key, value);
      column.push_back(OverrideSet{{text}, text});
    }
    sets = combine(sets, column);
  }
  if (matrix.empty()) return std::vector<OverrideSet>{};
  return sets;
}

Result<std::vector<OverrideSet>> override_lines(std::string_view text, std::string_view source) {
  std::vector<OverrideSet> sets;
  size_t number = 0;
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = trimmed(text.substr(start, end - start));
    start = end + 1;
    ++number;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = fmt::format("{}:{}", source, number);
    std::vector<std::string> overrides;
    if (line.front() == '{') {
      auto parsed = json_overrides(line, where);
      if (!parsed) return fail(parsed.error());
      overrides = std::move(*parsed);
    } else {
      auto words = split_words(line, where);
      if (!words) return fail(words.error());
      for (auto& word : *words) {
        if (auto valid = check_override(word, where); !valid) return fail(valid.error());
        overrides.push_back(std::move(word));
      }
    }
    sets.push_back(OverrideSet{std::move(overrides), where});
  }
  return sets;
}

std::vector<OverrideSet> combine(const std::vector<OverrideSet>& outer,
                                 const std::vector<OverrideSet>& inner) {
  static const std::vector<OverrideSet> k_one_empty(1);
  const auto& outer_sets = outer.empty() ? k_one_empty : outer;
  const auto& inner_sets = inner.empty() ? k_one_empty : inner;
  std::vector<OverrideSet> sets;
  sets.reserve(outer_sets.size() * inner_sets.size());
  for (const auto& a : outer_sets) {
    for (const auto& b : inner_sets) {
      OverrideSet set = a;
      set.overrides.insert(set.overrides.end(), b.overrides.begin(), b.overrides.end());
      if (!set.label.empty() && !b.label.empty()) set.label += ' ';
      set.label += b.label;
      sets.push_back(std::move(set));
    }
  }
  return sets;
}

Result<int> wait_for_submitted(client::ApiClient& client, Session& session,
                               const SubmitOptions& options, const std::vector<std::string>& ids) {
  Result<std::vector<json>> runs;
  {
    InterruptScope interrupt_scope;  // ends before a cancel, which must not be aborted
    runs = wait_for_runs(client, session.printer(), session.workspace(), ids, WaitFor::all,
                         std::chrono::steady_clock::time_point::max());
  }
  if (!runs && runs.error().code == ErrorCode::interrupted) {
    return interrupted(client, session, options, ids);
  }
  if (!runs) return fail(runs.error());
  if (runs->size() == 1) {
    session.printer().print_resource(run_kind(), runs->front());
  } else {
    session.printer().print_list(run_kind(), json(*runs));
  }
  return exit_code_for_runs(*runs);
}

Result<int> run_batch_submit(Session& session, const SubmitOptions& options) {
  auto sets = batch_override_sets(options);
  if (!sets) return fail(sets.error());
  auto items = load_items(options, *sets);
  if (!items) return fail(items.error());
  if (options.dry_run) return print_dry_run(session, *items);

  auto client = session.client();
  if (!client) return fail(client.error());
  auto uploads = upload_sources(**client, session, *items);
  if (!uploads) return fail(uploads.error());
  auto& printer = session.printer();
  printer.notice(fmt::format(
      "{} snapshot{} for {} run{}: uploaded {} of {} files ({})", uploads->snapshots,
      uploads->snapshots == 1 ? "" : "s", items->size(), items->size() == 1 ? "" : "s",
      uploads->totals.uploaded_files, uploads->totals.files,
      util::format_size(uploads->totals.uploaded_bytes)));

  json payloads = json::array();
  for (const auto& item : *items) {
    payloads.push_back(spec::build_payload(
        item.loaded.spec, uploads->snapshot_of.at(item.loaded.source_directory)));
  }
  const auto key = options.idempotency_key.empty() ? util::random_hex(16) : options.idempotency_key;
  auto outcome = submit_payloads(**client, session, payloads, key);
  if (!outcome) return fail(told_by_item(std::move(outcome.error()), *items));
  if (outcome->replayed > 0) {
    printer.notice(fmt::format("{} of the {} runs were already submitted with this idempotency key",
                               outcome->replayed, outcome->runs.size()));
  }
  std::vector<std::string> ids;
  for (const auto& run : outcome->runs) ids.push_back(run.value("id", ""));
  if (!options.stream && !options.wait) {
    printer.print_list(run_kind(), outcome->runs);
    return exit_code::k_success;
  }
  printer.notice(fmt::format("submitted {} run{}", ids.size(), ids.size() == 1 ? "" : "s"));
  if (options.wait) return wait_for_submitted(**client, session, options, ids);
  return follow_runs(**client, session, options, ids);
}

}  // namespace trainctl::cli
