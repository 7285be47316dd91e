'use strict';
// Logs in with the one-time code in the address's fragment (from `trainctl ui`), or with the
// service token typed into the form; the service answers with an HttpOnly session cookie.
(function () {
  const status = document.getElementById('login-status');
  const error = document.getElementById('login-error');

  async function login(credential) {
    const response = await fetch('/ui/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(credential),
    });
    if (response.ok) {
      location.replace('/ui/');
      return;
    }
    let message = 'login failed (' + response.status + ')';
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (ignored) { /* not JSON */ }
    error.textContent = message;
    error.hidden = false;
  }

  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const code = fragment.get('code');
  if (code) {
    // The code is used once; keep it out of the history either way.
    history.replaceState(null, '', '/ui/login');
    status.textContent = 'Logging in…';
    login({code: code});
  }
  document.getElementById('login').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = document.getElementById('token').value.trim();
    if (token) login({token: token});
  });
})();
