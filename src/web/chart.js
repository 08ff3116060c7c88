// Charts: Debian's dygraphs (embedded, loaded on the first page that draws a
// chart, so the overview does not pay for it), one line per series over local
// time, with the figures also as a table for keyboards and screen readers.
// Each chart's element carries data-points, the number of rows it draws.

import { h, fmtDateTime } from './core.js';

let loading = null;

export function loadDygraph() {
  if (window.Dygraph) return Promise.resolve(window.Dygraph);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = '/assets/dygraph.min.css';
      document.head.append(css);
      const js = document.createElement('script');
      js.src = '/assets/dygraph.min.js';
      js.onload = () => resolve(window.Dygraph);
      js.onerror = () => { loading = null; reject(new Error('cannot load the charting library')); };
      document.head.append(js);
    });
  }
  return loading;
}

const COLORS = ['#4ea1ff', '#f5a623', '#3ecf8e', '#e05d9b', '#b58cff', '#ff6b5b', '#2ec4c4', '#c9b458'];

// spec: {title, labels: [series names], rows: [[Date, v1, v2...]], y2: [series on the
// right axis], ylabel, y2label, fmt: value formatter, testid, extra: dygraph options}
export async function chart(spec) {
  const box = h('figure.chart', { 'data-testid': spec.testid || null, 'data-points': String(spec.rows.length) });
  const plot = h('div.plot', { role: 'img', 'aria-label': `${spec.title}: ${spec.rows.length} points; the table below has the figures` });
  const legend = h('div.chart-legend.small');
  box.append(h('figcaption', { text: spec.title }));
  if (!spec.rows.length) {
    box.append(h('p.muted.empty', { text: 'No data in this range.' }));
    return box;
  }
  box.append(plot, legend);
  const fmt = spec.fmt || ((v) => String(v));
  box.append(h('details.data', null, h('summary', { text: 'Figures' }),
    h('div.table-wrap', null, h('table', null,
      h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Time' }), spec.labels.map((l) => h('th', { scope: 'col', text: l })))),
      h('tbody', null, spec.rows.map((r) => h('tr', null, h('td', { text: fmtDateTime(r[0].toISOString()) }), r.slice(1).map((v) => h('td', { text: v === null ? '—' : fmt(v) })))))))));
  const Dygraph = await loadDygraph();
  const series = {};
  for (const name of spec.y2 || []) series[name] = { axis: 'y2' };
  // dygraphs measures its parent: draw once the box is in the page.
  requestAnimationFrame(() => {
    if (!plot.isConnected) return;
    /* eslint-disable-next-line no-new */
    new Dygraph(plot, spec.rows, {
      labels: ['Time', ...spec.labels],
      colors: COLORS,
      series,
      ylabel: spec.ylabel || null,
      y2label: spec.y2label || null,
      labelsDiv: legend,
      legend: 'always',
      labelsSeparateLines: false,
      drawPoints: true,
      pointSize: 2.5,
      strokeWidth: 1.6,
      connectSeparatedPoints: true,
      axes: { y: { valueFormatter: fmt, axisLabelWidth: 64 }, y2: { valueFormatter: fmt, axisLabelWidth: 64 } },
      gridLineColor: 'rgba(140,150,170,0.25)',
      axisLineColor: 'rgba(140,150,170,0.6)',
      ...(spec.extra || {}),
    });
  });
  return box;
}

// A range picker: preset windows, the bucket, and a custom from/to in local
// time. onChange({from, to, bucket}) with ISO times.
export function rangePicker(initial, onChange) {
  const presets = [['24h', 'Last 24 hours', 86400e3, 'hour'], ['7d', 'Last 7 days', 7 * 86400e3, 'day'], ['30d', 'Last 30 days', 30 * 86400e3, 'day'], ['custom', 'Custom…', 0, 'hour']];
  const sel = h('select', { id: 'range', 'aria-label': 'Range' }, presets.map(([v, label]) => h('option', { value: v, selected: v === initial.preset, text: label })));
  const bucket = h('select', { id: 'bucket', 'aria-label': 'Bucket' }, ['hour', 'day'].map((b) => h('option', { value: b, selected: b === initial.bucket, text: `by ${b}` })));
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const from = h('input', { type: 'datetime-local', id: 'from', 'aria-label': 'From', value: local(new Date(Date.now() - 86400e3)) });
  const to = h('input', { type: 'datetime-local', id: 'to', 'aria-label': 'To', value: local(new Date()) });
  const custom = h('span.custom', { hidden: initial.preset !== 'custom' }, from, ' – ', to);
  const fire = () => {
    const p = presets.find((x) => x[0] === sel.value);
    custom.hidden = p[0] !== 'custom';
    let f, t;
    if (p[0] === 'custom') {
      f = new Date(from.value);
      t = new Date(to.value);
      if (!(f < t)) return;
    } else {
      t = new Date();
      f = new Date(t.getTime() - p[2]);
    }
    onChange({ preset: p[0], from: f.toISOString(), to: t.toISOString(), bucket: bucket.value });
  };
  sel.addEventListener('change', () => {
    const p = presets.find((x) => x[0] === sel.value);
    if (p[0] !== 'custom') bucket.value = p[3];
    fire();
  });
  for (const el of [bucket, from, to]) el.addEventListener('change', fire);
  return h('div.picker', { role: 'group', 'aria-label': 'Time range' }, sel, bucket, custom);
}

export function rangeOf(preset) {
  const span = { '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 }[preset] || 86400e3;
  const t = new Date();
  return { from: new Date(t.getTime() - span).toISOString(), to: t.toISOString() };
}

// The range as of now: a preset window ("last 7 days") ends now at every load,
// where the times it was first given would freeze the page at its first visit
// (a live refresh showing nothing newer); a custom range stays as chosen.
export function rangeNow(range)
{
    return range.preset === 'custom' ? range : {...range, ...rangeOf(range.preset)};
}
