// One agent: its card, success and error rates (all time and over the last 24
// hours), latency p50/p95 and tokens and cost over a chosen range in hour or day
// buckets (from the points recorded when its tasks complete), its recent tasks,
// and a status change. Events of this agent's tasks re-read it (coalesced).

import { api, h, coalesce, badge, section, tile, fmtInt, fmtUsd, fmtMs, fmtPct, fmtTime, report, toast, keepFocus, put } from './core.js';
import {chart, rangePicker, rangeOf, rangeNow} from './chart.js';

let range = { preset: '24h', bucket: 'hour', ...rangeOf('24h') };

function series(id, type) {
  const q = new URLSearchParams({ metric_type: type, bucket: range.bucket, from: range.from, to: range.to });
  return api(`/api/v1/agents/${encodeURIComponent(id)}/metrics?${q}`);
}

async function load(id) {
    range = rangeNow(range);
    const enc = encodeURIComponent(id);
    const [agent, stats, tasks, lat, tok, cost] = await Promise.all([
        api(`/api/v1/agents/${enc}`),
        api(`/api/v1/agents/${enc}/stats?window=24h`),
        api(`/api/v1/agents/${enc}/tasks?limit=20`),
        series(id, 'latency'),
        series(id, 'tokens'),
        series(id, 'cost'),
    ]);
    return {agent, stats, tasks : tasks.items, lat : lat.items, tok : tok.items, cost : cost.items};
}

// Sums of the tokens and cost buckets, joined on their start.
function tokenCostRows(tok, cost) {
  const m = new Map();
  const row = (start) => {
    if (!m.has(start)) m.set(start, [new Date(start), null, null]);
    return m.get(start);
  };
  for (const b of tok) row(b.start)[1] = Math.round(b.avg * b.count);
  for (const b of cost) row(b.start)[2] = +(b.avg * b.count).toFixed(6);
  return [...m.values()].sort((a, b) => a[0] - b[0]);
}

function statusControl(agent, done) {
  const sel = h('select', { id: 'agent-status', 'aria-label': 'Agent status' }, ['active', 'inactive', 'maintenance'].map((st) => h('option', { value: st, selected: st === agent.status, text: st })));
  const btn = h('button', {
    type: 'submit', 'data-testid': 'set-status',
  }, 'Set status');
  return h('form.inline', {
    onsubmit: async (e) => {
      e.preventDefault();
      btn.disabled = true;
      try {
        await api(`/api/v1/agents/${encodeURIComponent(agent.id)}/status`, { method: 'PUT', body: { status: sel.value } });
        toast(`${agent.name} is now ${sel.value}`);
        done();
      } catch (ex) {
        report(ex);
      } finally {
        btn.disabled = false;
      }
    },
  }, h('label', { for: 'agent-status', text: 'Status ' }), sel, btn);
}

export async function render(root, { id }) {
  let alive = true;
  const draw = async (d) => {
    const a = d.agent, st = d.stats, w = st.window || {};
    document.title = `${a.name} · tokyoia`;
    const errRate = st.total_tasks ? (100 * st.failed_tasks) / st.total_tasks : 0;
    const latRows = d.lat.map((b) => [new Date(b.start), b.p50, b.p95]);
    // The whole chosen range on the x axis, so that one point sits where it belongs.
    const extra = { dateWindow: [Date.parse(range.from), Date.parse(range.to)] };
    const [c1, c2] = await Promise.all([
      chart({ title: `Latency (p50, p95) by ${range.bucket}`, labels: ['p50 ms', 'p95 ms'], rows: latRows, ylabel: 'ms', fmt: (v) => fmtMs(v), testid: 'chart-latency', extra }),
      chart({ title: `Tokens and cost by ${range.bucket}`, labels: ['tokens', 'cost USD'], rows: tokenCostRows(d.tok, d.cost), y2: ['cost USD'], ylabel: 'tokens', y2label: 'USD', fmt: (v) => (Math.abs(v) < 100 && v % 1 ? v.toFixed(4) : Math.round(v).toLocaleString()), testid: 'chart-tokens', extra }),
    ]);
    if (!alive) return;
    keepFocus(() => put(root,
      h('p.crumbs', null, h('a', { href: '#/', text: 'Overview' }), ' / agent'),
      h('div.title-row', null,
        h('h1', null, h('span', { 'aria-hidden': 'true', text: (a.personality_emoji || '🤖') + ' ' }), a.name),
        h('span', { 'data-testid': 'agent-status', 'data-status': a.status }, badge(a.status)),
        statusControl(a, refresh)),
      h('p.muted', { text: `${a.role} · ${a.model}${a.specialties && a.specialties.length ? ' · ' + a.specialties.join(', ') : ''}` }),
      h('section.tiles', null,
        tile('Completed', fmtInt(st.completed_tasks)),
        tile('Success rate', fmtPct(st.success_rate)),
        tile('Error rate', fmtPct(errRate)),
        tile('Tokens', fmtInt(st.total_tokens)),
        tile('Cost', fmtUsd(st.total_cost ?? st.total_cost_usd)),
        tile('Avg latency', fmtMs(st.avg_duration_ms)),
        tile('Last 24 h', `${fmtInt(w.total_tasks)} tasks`, h('div.tile-sub', { text: `${fmtMs(w.avg_latency_ms)} avg · ${fmtUsd(w.total_cost ?? w.total_cost_usd)}` }))),
      section('Over time', rangePicker(range, (r) => { range = r; refresh(); }), h('div.charts', null, c1, c2)),
      section('Recent tasks', d.tasks.length ? h('div.table-wrap', null, h('table', { 'data-testid': 'recent-tasks' },
        h('thead', null, h('tr', null, ['Created', 'Type', 'Status', 'Duration', 'Tokens', 'Cost', 'Workflow'].map((c) => h('th', { scope: 'col', text: c })))),
        h('tbody', null, d.tasks.map((t) => h('tr', null,
          h('td', { text: fmtTime(t.created_at) }), h('td', { text: t.task_type, title: t.description }), h('td', null, badge(t.status)),
          h('td', { text: fmtMs(t.duration_ms) }), h('td', { text: fmtInt(t.tokens_used) }), h('td', { text: fmtUsd(t.cost_usd) }),
          h('td', null, t.workflow_id ? h('a', { href: `#/workflows/${t.workflow_id}`, text: 'open' }) : '—')))))) : h('p.muted', { text: 'No tasks yet.' }))));
    root.dataset.ready = '1';
  };
  const refresh = coalesce(async () => {
    try {
      const d = await load(id);
      if (alive) await draw(d);
    } catch (ex) {
      if (alive) report(ex);
    }
  }, 300);
  await draw(await load(id));
  return {
    onEvent: (ev) => { if (ev.kind === 'reset' || ev.agent_id === id) refresh(); },
    destroy: () => { alive = false; refresh.cancel(); },
  };
}
