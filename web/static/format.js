// Formatting shared by the dashboard's views; sizes in decimal units, as
// silo's quotas are (10 GB = 10,000,000,000 bytes).

export function size(n) {
  if (n < 1000) return `${n} B`;
  const units = 'kMGTPE';
  let v = n, i = -1;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const s = v.toFixed(1).replace(/\.0$/, '');
  return `${s} ${units[i]}B`;
}

export function percent(used, limit) {
  if (!limit) return 0;
  return Math.min(100, (100 * used) / limit);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '–' : dateFmt.format(d);
}

// el builds an element: el('td', {class: 'num'}, 'text', child...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// parseSize reads a size as a person types it: "2 GB", "500MB", "1.5 GiB",
// "1000000" (bytes). Decimal units as silo's flags (1 GB = 10^9 bytes),
// binary with an i. It returns NaN for anything else.
export function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$/i.exec(text);
  if (!m) return NaN;
  const exp = ' kmgtp'.indexOf(m[2].toLowerCase() || ' ');
  const base = m[3] ? 1024 : 1000;
  const n = Math.round(parseFloat(m[1]) * Math.pow(base, exp));
  return Number.isSafeInteger(n) ? n : NaN;
}

// sparkline draws usage over time as a tiny SVG step line, scaled so that
// its top is the quota (or the peak, if usage went over it).
export function sparkline(samples, quota, now = Date.now()) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 120, H = 28;
  const s = document.createElementNS(NS, 'svg');
  s.setAttribute('viewBox', `0 0 ${W} ${H}`);
  s.setAttribute('class', 'spark');
  s.setAttribute('aria-hidden', 'true');
  if (!samples.length) return s;
  const pts = samples.map((p) => ({ t: new Date(p.at).getTime(), v: p.used_bytes }));
  pts.push({ t: Math.max(now, pts[pts.length - 1].t), v: pts[pts.length - 1].v });
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const top = Math.max(quota, ...pts.map((p) => p.v), 1);
  const x = (t) => 1 + ((t - t0) / (t1 - t0)) * (W - 2);
  const y = (v) => H - 1 - (v / top) * (H - 2);
  let d = `M ${x(pts[0].t)} ${y(pts[0].v)}`;
  for (let i = 1; i < pts.length; i++) d += ` H ${x(pts[i].t)} V ${y(pts[i].v)}`;
  const area = document.createElementNS(NS, 'path');
  area.setAttribute('d', `${d} V ${H - 1} H ${x(pts[0].t)} Z`);
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(NS, 'path');
  line.setAttribute('d', d);
  line.setAttribute('class', 'spark-line');
  s.append(area, line);
  return s;
}

// room is what a usage answer leaves free for a create: the organisation's
// free bytes or, for a key of a project with a quota, the smaller of the
// project's and the organisation's (a create must fit both), with the
// limit that binds and its level.
export function room(u) {
  const org = { free: Math.max(0, u.limit_bytes - u.organization_usage - (u.reserved_bytes || 0)), limit: u.limit_bytes, level: 'organisation' };
  if (!u.project_id || u.project_limit_bytes == null) return org;
  const p = { free: Math.max(0, u.project_limit_bytes - u.project_usage - (u.project_reserved_bytes || 0)),
    limit: u.project_limit_bytes, level: 'project' };
  return p.free < org.free ? p : org;
}
