// The dashboard's entry point: reads the server's dashboard settings, routes
// the location hash to a page (#/, #/workflows/ID, #/agents/ID, #/cost,
// #/login), opens the live event stream, and shows the login whenever the API
// answers 401. Each page module exports render(root, params) returning
// {onEvent(ev), destroy()}; the app hands it every event of the stream.

import { AuthError, state, setToken, ensureEvents, disconnectEvents, loadConfig, forgetConfig, onEvent, h, toast } from './core.js';

const pages = {
  overview: () => import('./overview.js'),
  workflow: () => import('./workflow.js'),
  agent: () => import('./agent.js'),
  cost: () => import('./cost.js'),
};

let current = null; // the page shown: {onEvent, destroy}
let seq = 0; // navigation counter: a late page must not replace a newer one
let wantedHash = '#/';

function parse(hash) {
    let parts;
    try {
        parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
        return {page : 'notfound', params : {}}; // a malformed %-escape names no page
    }
  if (parts.length === 0) return { page: 'overview', params: {} };
  if (parts[0] === 'workflows' && parts[1]) return { page: 'workflow', params: { id: parts[1] } };
  if (parts[0] === 'agents' && parts[1]) return { page: 'agent', params: { id: parts[1] } };
  if (parts[0] === 'cost') return { page: 'cost', params: {} };
  if (parts[0] === 'login') return { page: 'login', params: {} };
  return { page: 'notfound', params: {} };
}

function main() {
  return document.getElementById('main');
}

function setNav(page) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.getElementById('signout').hidden = !state.token;
}

export function showLogin(message) {
  if (current) current.destroy();
  current = null;
  disconnectEvents();
  setNav('login');
  document.title = 'Sign in · tokyoia';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, placeholder: 'tia_…', 'aria-describedby': 'login-help' });
  const err = h('p.error', { role: 'alert', id: 'login-error' }, message || '');
  const form = h('form.login', {
    onsubmit: async (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      forgetConfig();
      try {
        await loadConfig();
      } catch (ex) {
        setToken('');
        err.textContent = ex instanceof AuthError ? 'That token was refused (unknown, expired or revoked).' : ex.message;
        input.focus();
        return;
      }
      const back = wantedHash && wantedHash !== '#/login' ? wantedHash : '#/';
      if (location.hash === back) route(); else location.hash = back;
    },
  },
  h('h1', { text: 'Sign in' }),
  h('p', { id: 'login-help' }, 'Paste a session token. Create one with ', h('code', { text: 'tokyoia sessions create --user NAME --ttl 24h' }), ' or POST /api/v1/sessions. It is kept in this tab only (sessionStorage).'),
  h('label', { for: 'token' }, 'Session token'),
  input,
  err,
  h('button', { type: 'submit' }, 'Sign in'));
  main().replaceChildren(form);
  input.focus();
}

async function route() {
  const my = ++seq;
  const { page, params } = parse(location.hash || '#/');
  if (page !== 'login') wantedHash = location.hash || '#/';
  if (page === 'login') { showLogin(); return; }
  if (current) current.destroy();
  current = null;
  setNav(page);
  if (page === 'notfound') {
    main().replaceChildren(h('section.panel', null, h('h1', { text: 'Not found' }), h('p', null, h('a', { href: '#/' }, 'Back to the overview'))));
    return;
  }
  try {
    // The settings load beside the page's own data, not before it.
    const cfg = loadConfig();
    cfg.catch(() => {});
    // Subscribe before reading, so that no change falls between the two (without a
    // token, only once the settings show that reads are public).
    if (state.token) ensureEvents();
    const mod = await pages[page]();
    if (my !== seq) return;
    const root = h('div.page');
    main().replaceChildren(root);
    const p = await mod.render(root, params);
    await cfg;
    ensureEvents();
    if (my !== seq) { p.destroy(); return; }
    current = p;
    // When the page became usable (read by bench/bench_dashboard.mjs).
    if (!window.__tiaReadyAt) window.__tiaReadyAt = performance.now();
    main().focus({ preventScroll: true });
  } catch (ex) {
    if (my !== seq) return;
    if (ex instanceof AuthError) {
      const had = !!state.token;
      setToken('');
      forgetConfig();
      showLogin(had ? 'Your session ended (expired or revoked): sign in again.' : '');
      return;
    }
    main().replaceChildren(h('section.panel', null, h('h1', { text: 'Something went wrong' }), h('p.error', { text: ex.message })));
  }
}

// Pages report a 401 from an action (cancel, retry...) through this.
window.addEventListener('tia-auth', () => {
  setToken('');
  forgetConfig();
  showLogin('Sign in to do that.');
});

onEvent((ev) => {
  if (current) current.onEvent(ev);
});

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason instanceof AuthError) {
    e.preventDefault();
    window.dispatchEvent(new Event('tia-auth'));
  } else if (e.reason) {
    toast(String(e.reason.message || e.reason));
  }
});

document.getElementById('signout').addEventListener('click', () => {
  setToken('');
  forgetConfig();
  disconnectEvents();
  location.hash = '#/login';
});

route();
