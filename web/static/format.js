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
