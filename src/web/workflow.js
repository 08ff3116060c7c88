// One workflow: its task graph (laid out here by dependency depth, drawn as
// SVG), a timeline of when each task waited and ran, the tasks with their
// inputs, outputs and errors and cancel/retry buttons, and the interactions
// between agents. Events of this workflow re-read it (coalesced).

import { api, h, s, coalesce, badge, section, tile, fmtTime, fmtDateTime, fmtMs, fmtInt, fmtUsd, json, report, toast, put } from './core.js';

const NODE_W = 176;
const NODE_H = 46;
const GAP_X = 56;
const GAP_Y = 12;
const PAD = 10;

// depth: 0 for a task with no dependency, else one more than its deepest one;
// a spawned subtask sits one column right of its parent.
function layout(tasks, edges) {
  const byId = new Map(tasks.map((t, i) => [t.id, { t, i, deps: [], depth: -1 }]));
  for (const e of edges) {
    const n = byId.get(e.task_id);
    if (n && byId.has(e.depends_on)) n.deps.push(e.depends_on);
  }
  for (const n of byId.values()) {
    if (n.t.parent_task_id && byId.has(n.t.parent_task_id)) n.deps.push(n.t.parent_task_id);
  }
  const depth = (n, guard = 0) => {
    if (n.depth >= 0) return n.depth;
    if (guard > tasks.length) return 0; // a cycle cannot be submitted; never loop on bad data
    n.depth = 0;
    let d = 0;
    for (const id of n.deps) d = Math.max(d, depth(byId.get(id), guard + 1) + 1);
    n.depth = d;
    return d;
  };
  const cols = [];
  for (const n of byId.values()) {
    const d = depth(n);
    (cols[d] = cols[d] || []).push(n);
  }
  cols.forEach((col, x) => col.forEach((n, y) => { n.x = PAD + x * (NODE_W + GAP_X); n.y = PAD + y * (NODE_H + GAP_Y); }));
  const rows = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
  return { byId, width: PAD * 2 + cols.length * (NODE_W + GAP_X) - GAP_X, height: PAD * 2 + rows * (NODE_H + GAP_Y) - GAP_Y };
}

function clip(text, n) {
  text = text || '';
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

function graph(wf, edges, select, selected) {
  const L = layout(wf.tasks, edges);
  const svg = s('svg', { class: 'graph', width: Math.max(L.width, 200), height: L.height, role: 'group', 'aria-label': `Task graph: ${wf.tasks.length} tasks`, 'data-testid': 'graph' });
  const lines = s('g', { class: 'edges', 'aria-hidden': 'true' });
  svg.append(lines);
  for (const n of L.byId.values()) {
    for (const id of n.deps) {
      const d = L.byId.get(id);
      const x1 = d.x + NODE_W, y1 = d.y + NODE_H / 2, x2 = n.x, y2 = n.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      lines.append(s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: id === n.t.parent_task_id ? 'edge spawn' : 'edge' }));
    }
  }
  for (const n of L.byId.values()) {
    const t = n.t;
    const g = s('g', { class: `node st-${t.status}${t.id === selected ? ' selected' : ''}`, transform: `translate(${n.x},${n.y})`, tabindex: '0', role: 'button', 'aria-label': `${t.task_type} by ${t.agent_id}: ${t.status}`, 'data-task': t.id });
    g.append(s('title', null, `${t.description || t.task_type} (${t.status})`),
      s('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
      s('text', { x: 10, y: 19, class: 'n1' }, clip(t.task_type, 22)),
      s('text', { x: 10, y: 36, class: 'n2' }, clip(`${t.agent_id} · ${t.status}`, 26)));
    const pick = () => select(t.id);
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    svg.append(g);
  }
  return h('div.graph-wrap', { tabindex: '-1' }, svg);
}

function timeline(wf) {
  const now = Date.now();
  const ts = (x) => (x ? Date.parse(x) : null);
  let t0 = Infinity, t1 = 0;
  for (const t of wf.tasks) {
    t0 = Math.min(t0, ts(t.created_at));
    t1 = Math.max(t1, ts(t.completed_at) || (t.status === 'pending' || t.status === 'running' ? now : ts(t.started_at) || ts(t.created_at)));
  }
  if (!wf.tasks.length) return h('p.muted', { text: 'No tasks.' });
  const span = Math.max(1, t1 - t0);
  const pct = (v) => `${(100 * (v - t0)) / span}%`;
  const w = (a, b) => `${Math.max(0.3, (100 * (b - a)) / span)}%`;
  const rows = wf.tasks.map((t) => {
    const c = ts(t.created_at), st = ts(t.started_at), end = ts(t.completed_at);
    const waitEnd = st || end || now;
    const runEnd = end || now;
    return h('div.tl-row', null,
      h('div.tl-label', { text: `${t.task_type} · ${t.agent_id}` }),
      h('div.tl-track', { role: 'img', 'aria-label': `${t.task_type}: waited ${fmtMs(waitEnd - c)}${st ? `, ran ${fmtMs(runEnd - st)}` : ''}` },
        h('div.tl-wait', { style: { left: pct(c), width: w(c, waitEnd) } }),
        st ? h(`div.tl-run.st-${t.status}`, { style: { left: pct(st), width: w(st, runEnd) } }) : null));
  });
  return h('div.timeline', null,
    h('div.tl-scale.muted.small', null, h('span', { text: fmtDateTime(new Date(t0).toISOString()) }), h('span', { text: `${fmtMs(span)} total` })),
    rows,
    h('div.legend.small', null, h('span.key.tl-wait-key', { text: 'waiting' }), h('span.key.tl-run-key', { text: 'running / ran' })));
}

async function act(path, what) {
  try {
    await api(path, { method: 'POST' });
    toast(what);
  } catch (ex) {
    report(ex);
  }
}

function taskDetails(t) {
  const open = t.status === 'pending' || t.status === 'running';
  const ended = t.status === 'failed' || t.status === 'cancelled';
  return h('div.task-detail', { 'data-testid': 'task-detail', 'data-task': t.id },
    h('h3', { tabindex: '-1' }, `${t.task_type} `, badge(t.status)),
    h('p', { text: t.description }),
    h('dl.kv', null,
      h('dt', { text: 'Agent' }), h('dd', null, h('a', { href: `#/agents/${encodeURIComponent(t.agent_id)}`, text: t.agent_id })),
      h('dt', { text: 'Created' }), h('dd', { text: fmtTime(t.created_at) }),
      h('dt', { text: 'Started' }), h('dd', { text: fmtTime(t.started_at) }),
      h('dt', { text: 'Ended' }), h('dd', { text: fmtTime(t.completed_at) }),
      h('dt', { text: 'Duration' }), h('dd', { text: fmtMs(t.duration_ms) }),
      h('dt', { text: 'Tokens' }), h('dd', { text: fmtInt(t.tokens_used) }),
      h('dt', { text: 'Cost' }), h('dd', { text: fmtUsd(t.cost_usd) }),
      h('dt', { text: 'Retries' }), h('dd', { text: fmtInt(t.retry_count) })),
    t.error_message ? h('div.errbox', null, h('strong', { text: 'Error: ' }), t.error_message) : null,
    h('div.io', null,
      h('div', null, h('h4', { text: 'Input' }), h('pre', { text: json(t.input_data) })),
      h('div', null, h('h4', { text: 'Output' }), h('pre', { text: json(t.output_data) }))),
    h('div.actions', null,
      open ? h('button.danger', { type: 'button', 'data-testid': 'cancel-task', onclick: () => act(`/api/v1/tasks/${t.id}/cancel`, 'Task cancelled') }, 'Cancel task') : null,
      ended ? h('button', { type: 'button', 'data-testid': 'retry-task', onclick: () => act(`/api/v1/tasks/${t.id}/retry`, 'Task queued again') }, 'Retry task') : null));
}

function tasksTable(wf, select) {
  return h('div.table-wrap', null, h('table', { 'data-testid': 'tasks' },
    h('thead', null, h('tr', null, ['Task', 'Agent', 'Status', 'Started', 'Duration', 'Tokens', 'Cost'].map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', null, wf.tasks.map((t) => h('tr', { 'data-task': t.id },
      h('td', null, h('button.link', { type: 'button', onclick: () => select(t.id) }, t.task_type)),
      h('td', { text: t.agent_id }), h('td', null, badge(t.status)), h('td', { text: fmtTime(t.started_at) }),
      h('td', { text: fmtMs(t.duration_ms) }), h('td', { text: fmtInt(t.tokens_used) }), h('td', { text: fmtUsd(t.cost_usd) }))))));
}

function interactions(wf) {
  if (!wf.interactions.length) return h('p.muted', { text: 'No interactions yet.' });
  return h('ol.interactions', { 'data-testid': 'interactions' }, wf.interactions.map((i) => h('li', null,
    h('span.muted.small', { text: fmtTime(i.created_at) }), ' ',
    h('strong', { text: i.from_agent_name || i.from_agent_id }), ' → ', h('strong', { text: i.to_agent_name || i.to_agent_id }), ' ',
    h('span.badge', { text: i.interaction_type }), ' ', i.message || '',
    i.payload && Object.keys(i.payload).length ? h('details', null, h('summary', { text: 'payload' }), h('pre', { text: json(i.payload) })) : null)));
}

export async function render(root, { id }) {
  let selected = null;
  let alive = true;
  let data = null;
  const load = async () => {
    const [wf, g] = await Promise.all([api(`/api/v1/workflows/${encodeURIComponent(id)}`), api(`/api/v1/dashboard/workflows/${encodeURIComponent(id)}/graph`)]);
    return { wf, edges: g.edges };
  };
  const draw = () => {
    const { wf, edges } = data;
    document.title = `${wf.name} · tokyoia`;
    const open = wf.status === 'pending' || wf.status === 'running';
    const failed = wf.tasks.filter((t) => t.status === 'failed' || t.status === 'cancelled');
    const sel = wf.tasks.find((t) => t.id === selected);
    const select = (tid) => {
      selected = tid;
      draw();
      const el = root.querySelector('[data-testid="task-detail"]');
      if (el) { el.scrollIntoView({ block: 'nearest' }); el.querySelector('h3').focus?.(); }
    };
    const done = wf.completed_tasks + wf.failed_tasks;
    put(root,
      h('p.crumbs', null, h('a', { href: '#/', text: 'Overview' }), ' / workflow'),
      h('div.title-row', null,
        h('h1', { text: wf.name }),
        h('span', { 'data-testid': 'wf-status', 'data-status': wf.status }, badge(wf.status)),
        h('div.actions', null,
          open ? h('button.danger', {
            type: 'button', 'data-testid': 'cancel-workflow',
            onclick: async () => { if (confirm(`Cancel workflow "${wf.name}"?`)) await act(`/api/v1/workflows/${wf.id}/cancel`, 'Workflow cancelled'); },
          }, 'Cancel workflow') : null,
          failed.length ? h('button', {
            type: 'button', 'data-testid': 'retry-failed',
            onclick: async () => { for (const t of failed) await act(`/api/v1/tasks/${t.id}/retry`, `Retrying ${failed.length} task(s)`); },
          }, `Retry ${failed.length} failed`) : null)),
      wf.description ? h('p.muted', { text: wf.description }) : null,
      h('section.tiles', null,
        tile('Progress', `${done}/${wf.total_tasks}`, h('div.progress.small', { role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': wf.total_tasks, 'aria-valuenow': done, 'aria-label': 'tasks done' }, h('div.bar', { style: { width: `${wf.total_tasks ? (100 * done) / wf.total_tasks : 0}%` } }))),
        tile('Created', fmtTime(wf.created_at)),
        tile('Duration', fmtMs(wf.duration_ms)),
        tile('Tokens', fmtInt(wf.total_tokens_used)),
        tile('Cost', fmtUsd(wf.total_cost_usd))),
      section('Task graph', graph(wf, edges, select, selected), h('p.muted.small', { text: 'Columns follow the dependencies; choose a task to see its input, output and errors.' })),
      sel ? section('Task', taskDetails(sel)) : null,
      section('Timeline', timeline(wf)),
      section(`Tasks (${wf.tasks.length})`, tasksTable(wf, select)),
      section('Interactions', interactions(wf)));
  };
  data = await load();
  draw();
  root.dataset.ready = '1';
  const refresh = coalesce(async () => {
    try {
      const d = await load();
      if (!alive) return;
      data = d;
      draw();
    } catch (ex) {
      if (alive) report(ex);
    }
  }, 200);
  return {
    onEvent: (ev) => { if (ev.kind === 'reset' || ev.workflow_id === id || (ev.kind === 'workflow' && ev.id === id)) refresh(); },
    destroy: () => { alive = false; refresh.cancel(); },
  };
}
