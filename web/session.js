// Who this page listens as (docs/server.md, "Accounts"): GET /api/session
// says. Logged in (or on a server without accounts, this machine) → the page
// connects; 401 → the login form; anything else → what the server said.
// Also the login form itself and the log-out button.

const RECHECK_MS = 5000;

export class Session {
  /**
   * @param {object} o
   * @param {HTMLFormElement} o.form index.html's #login (user, password, .login-error)
   * @param {HTMLElement} o.who #who: who is logged in (.user)
   * @param {HTMLButtonElement} o.logoutButton
   * @param {() => void} o.onAllowed the page may connect (or try: the server may be unreachable)
   * @param {(state: string, text: string) => void} o.onRefused not allowed in: close every connection, show why
   *   (#server-status's data-state and text)
   */
  constructor({ form, who, logoutButton, onAllowed, onRefused }) {
    this.form = form;
    this.who = who;
    this.onAllowed = onAllowed;
    this.onRefused = onRefused;
    this.info = null; // GET /api/session's answer: null until known, and while not allowed in
    this.checkedAt = -Infinity;
    form.addEventListener('submit', (e) => this.logIn(e));
    logoutButton.addEventListener('click', async () => {
      await fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }).catch(() => {});
      this.check();
    });
  }

  /** Asks the server who this page is, and lets the page in or not. */
  async check() {
    this.checkedAt = performance.now();
    let res;
    let body = {};
    try {
      res = await fetch('/api/session', { cache: 'no-store' });
      body = await res.json().catch(() => ({}));
    } catch (e) {
      // The server is unreachable: the connections' own retries report it.
      if (this.info === null) this.info = { accounts: false };
      this.onAllowed();
      return;
    }
    if (res.ok) {
      this.info = body;
      this.form.hidden = true;
      this.who.hidden = !body.accounts;
      this.who.querySelector('.user').textContent = body.user || '';
      this.onAllowed();
      return;
    }
    this.info = null;
    if (res.status === 401) {
      this.onRefused('login', 'log in to listen');
      this.form.hidden = false;
      this.form.elements.user.focus();
    } else {
      this.onRefused('refused', body.error || `the server refused: HTTP ${res.status}`);
    }
  }

  /** check(), unless done in the last RECHECK_MS: a connection that keeps failing may mean the session ended. */
  recheck() {
    if (performance.now() - this.checkedAt > RECHECK_MS) this.check();
  }

  async logIn(e) {
    e.preventDefault();
    const form = this.form;
    const button = form.querySelector('button');
    const error = form.querySelector('.login-error');
    button.disabled = true;
    error.textContent = '';
    try {
      const res = await fetch('/api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: form.elements.user.value, password: form.elements.password.value }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        error.textContent = body.error || `login failed: HTTP ${res.status}`;
        return;
      }
      form.elements.password.value = '';
      await this.check();
    } catch (err) {
      error.textContent = `cannot reach the server: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }
}
