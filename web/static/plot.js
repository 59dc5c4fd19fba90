// plot draws usage over time as an inline SVG step chart: usage changes
// only when a dataset is created or deleted, so it stays flat between
// samples. With a quota, its line is drawn too and the axis reaches it, so
// the picture shows how close the organisation is to being refused. The
// figure also gets a one-line text summary for screen readers.

import { size, when } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 220, L = 64, R = 12, T = 12, B = 28;

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// niceMax rounds up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function plot(figure, samples, { quota = 0, now = new Date() } = {}) {
  figure.replaceChildren();
  if (!samples.length) {
    figure.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'No usage recorded yet: upload a dataset.' }));
    return;
  }
  const pts = samples.map((s) => ({ t: new Date(s.at).getTime(), v: s.used_bytes }));
  const end = Math.max(now.getTime(), pts[pts.length - 1].t);
  pts.push({ t: end, v: pts[pts.length - 1].v });
  let t0 = pts[0].t;
  if (end - t0 < 60_000) t0 = end - 60_000; // at least a minute wide
  const peak = Math.max(...pts.map((p) => p.v));
  const yMax = niceMax(Math.max(peak * 1.1, quota));
  const x = (t) => L + ((t - t0) / (end - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);

  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'plot-title plot-desc', class: 'chart' });
  root.append(svg('title', { id: 'plot-title' }, 'Usage over time'));
  const summary = `From ${when(new Date(pts[0].t).toISOString())} to now, usage went from ${size(pts[0].v)} to ${size(pts[pts.length - 1].v)}; peak ${size(peak)}` +
    (quota > 0 ? ` of a ${size(quota)} quota.` : '.');
  root.append(svg('desc', { id: 'plot-desc' }, summary));

  for (const f of [0, 0.5, 1]) {
    const v = yMax * f;
    root.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, size(Math.round(v))));
  }
  root.append(svg('text', { x: L, y: H - 8, class: 'axis' }, when(new Date(t0).toISOString())));
  root.append(svg('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'axis' }, 'now'));

  if (quota > 0) {
    root.append(svg('line', { x1: L, x2: W - R, y1: y(quota), y2: y(quota), class: 'quota' }));
    root.append(svg('text', { x: W - R - 4, y: y(quota) - 4, 'text-anchor': 'end', class: 'axis quota-label' }, `quota ${size(quota)}`));
  }
  let d = `M ${x(pts[0].t)} ${y(pts[0].v)}`;
  for (let i = 1; i < pts.length; i++) d += ` H ${x(pts[i].t)} V ${y(pts[i].v)}`;
  const area = `${d} V ${y(0)} H ${x(pts[0].t)} Z`;
  root.append(svg('path', { d: area, class: 'area' }));
  root.append(svg('path', { d, class: 'line' }));
  for (const p of pts.slice(0, -1)) {
    const c = svg('circle', { cx: x(p.t), cy: y(p.v), r: 3, class: 'dot' });
    c.append(svg('title', {}, `${when(new Date(p.t).toISOString())}: ${size(p.v)}`));
    root.append(c);
  }
  const cap = document.createElement('figcaption');
  cap.className = 'muted';
  cap.textContent = summary;
  figure.append(root, cap);
}
