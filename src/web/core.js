// What every page of the dashboard shares: calls to the Registry API with the
// session token, the live event stream, formatting in the viewer's locale and
// time zone, and small DOM helpers. No framework: pages build DOM with h().

export const state = {
  token: sessionStorage.getItem('tia_token') || '',
  config: null, // {daily_budget_usd, auth} from /api/v1/dashboard/config
};

export class AuthError extends Error {}

export function setToken(t) {
  state.token = t || '';
  if (state.token) sessionStorage.setItem('tia_token', state.token);
  else sessionStorage.removeItem('tia_token');
}

// Calls the API; resolves with the JSON body (null for 204). A 401 throws
// AuthError (the app then shows the login); other errors throw with the API's
// own message.
export async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, { method: opts.method || 'GET', headers, body });
  if (r.status === 401) throw new AuthError('sign in to continue');
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!r.ok) {
    const msg = data && data.error && (data.error.message || data.error);
    throw new Error(`${r.status}: ${msg || r.statusText}`);
  }
  return data;
}

// The server's dashboard settings, fetched once (again after a sign-out).
export function loadConfig() {
  if (!state.configP) {
    state.configP = api('/api/v1/dashboard/config').then((c) => (state.config = c));
    state.configP.catch(() => { state.configP = null; });
  }
  return state.configP;
}

export function forgetConfig() {
  state.config = null;
  state.configP = null;
}

// ---- live events ----

const listeners = new Set();
let source = null;
let lastId = '';
let backoff = 1000;
let reconnectTimer = null;

export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setLive(text, ok) {
  const el = document.getElementById('live');
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('ok', !!ok);
}

// One EventSource for the app. The browser reconnects it by itself after a
// dropped connection (with Last-Event-ID); when the server refuses it outright
// (401, 503) it closes, and this reopens it later with ?last_event_id=.
export function connectEvents() {
  if (source) source.close();
  clearTimeout(reconnectTimer);
  const q = new URLSearchParams();
  if (state.token) q.set('access_token', state.token);
  if (lastId) q.set('last_event_id', lastId);
  const qs = q.toString();
  const es = new EventSource('/api/v1/events' + (qs ? '?' + qs : ''));
  source = es;
  es.onopen = () => { backoff = 1000; setLive('live', true); };
  const deliver = (kind) => (e) => {
    if (e.lastEventId) lastId = e.lastEventId;
    let data = {};
    try { data = JSON.parse(e.data); } catch { /* a reset carries no record */ }
    data.kind = kind;
    for (const fn of listeners) fn(data);
  };
  for (const kind of ['task', 'workflow', 'reset']) es.addEventListener(kind, deliver(kind));
  const retry = () => {
      if (source !== es)
          return; // closed or replaced meanwhile
      reconnectTimer = setTimeout(connectEvents, backoff);
      backoff = Math.min(backoff * 2, 30000);
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      setLive('offline, retrying…', false);
      // The server ends the stream of a session revoked or expired, and an
      // EventSource cannot see the 401 that follows: ask before retrying, and
      // show the login rather than retry for ever.
      api('/api/v1/dashboard/config').then(retry, (ex) => {
          if (source === es && ex instanceof AuthError)
              window.dispatchEvent(new Event('tia-auth'));
          else
              retry();
      });
    } else {
      setLive('reconnecting…', false);
    }
  };
}

// Opens the stream unless it is open (or reopening).
export function ensureEvents() {
  if (!source) connectEvents();
}

export function disconnectEvents() {
  if (source) source.close();
  source = null;
  clearTimeout(reconnectTimer);
}

// Runs fn ms after the first of a burst of calls (events come in bursts: one per
// task of a workflow that moves), one run at a time: calls made while fn (async)
// runs lead to exactly one more run after it, so loads never overlap and an
// older answer is never drawn over a newer one.
export function coalesce(fn, ms = 250) {
    let timer = null, running = false, again = false;
    const run = async () => {
        timer = null;
        running = true;
        try {
            await fn();
        } finally {
            running = false;
            if (again) {
                again = false;
                call();
            }
        }
    };
    const call = () => {
        if (running)
            again = true;
        else if (!timer)
            timer = setTimeout(run, ms);
    };
    call.cancel = () => {
        clearTimeout(timer);
        timer = null;
        again = false;
    };
    return call;
}

// ---- formatting (the viewer's locale and time zone) ----

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const tf = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const nf = new Intl.NumberFormat();
const usd = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? tf.format(d) : dtf.format(d);
}
export const fmtDateTime = (t) => (t ? dtf.format(new Date(t)) : '—');
export const fmtInt = (n) => (n === null || n === undefined ? '—' : nf.format(n));
export const fmtUsd = (s) => (s === null || s === undefined ? '—' : usd.format(Number(s)));
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}
export const fmtPct = (p) => (p === null || p === undefined ? '—' : `${Number(p).toFixed(1)} %`);
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

// The viewer's midnight today, as an RFC 3339 UTC time for ?from=.
export function localMidnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

// ---- DOM ----

// h('div.card', {attrs}, children...): an element; strings become text nodes.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export const badge = (status) => h(`span.badge.st-${status}`, { text: status });

export function toast(msg) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.hidden = true; }, 5000);
}

export function section(title, ...children) {
  return h('section.panel', null, h('h2', { text: title }), ...children);
}

export function tile(label, value, extra) {
  return h('div.tile', null, h('div.tile-label', { text: label }), h('div.tile-value', { text: value }), extra || null);
}

export function json(v) {
  if (v === null || v === undefined) return '—';
  return JSON.stringify(v, null, 2);
}

// An error of a background refresh or an action: a 401 shows the login, the
// rest a message.
export function report(ex) {
  if (ex instanceof AuthError) window.dispatchEvent(new Event('tia-auth'));
  else toast(ex.message || String(ex));
}

// Rebuilds part of a page with fn, keeping the keyboard focus on the control
// (by id) that had it, so a live refresh does not throw a keyboard user out.
export function keepFocus(fn) {
  const id = document.activeElement && document.activeElement.id;
  fn();
  if (id) {
    const el = document.getElementById(id);
    if (el && el !== document.activeElement) el.focus({ preventScroll: true });
  }
}

// root.replaceChildren without the null/false placeholders of conditional parts.
export function put(root, ...kids) {
  root.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}
