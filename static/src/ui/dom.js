// Tiny DOM builder. Never parses HTML from strings: text is always set as text.
const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('button#id.primary', {type: 'button', onclick: fn, 'aria-label': '…'}, 'Text', childEl)
 * Attribute values of false/null/undefined are skipped; `on*` functions become listeners;
 * `dataset` and `props` objects are assigned.
 */
export function h(spec, attrs, ...children) {
  const [head, ...classes] = spec.split('.');
  const [tag, id] = head.split('#');
  const el = document.createElement(tag || 'div');
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'props') Object.assign(el, v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

const PATHS = {
  inbox: 'M4 4h16v10h-4.5a3.5 3.5 0 0 1-7 0H4zm0 12h3.3a5.5 5.5 0 0 0 9.4 0H20v4H4z',
  outbox: 'M12 3l5 5h-3.5v6h-3V8H7zm-8 11h4.5a3.5 3.5 0 0 0 7 0H20v6H4z',
  orders: 'M6 3h9l5 5v13H6zm8 1.5V9h4.5M9 12h8v1.6H9zm0 3.5h8v1.6H9z',
  andon: 'M11 2h2v3h-2zM4.2 5.6l1.4-1.4 2.1 2.1-1.4 1.4zm12.1.7l2.1-2.1 1.4 1.4-2.1 2.1zM7 18v-5a5 5 0 0 1 10 0v5h2v3H5v-3z',
  chart: 'M4 20V10h3v10zm6.5 0V4h3v16zM17 20v-7h3v7z',
  user: 'M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zm-8 9c0-4 3.6-7 8-7s8 3 8 7z',
  bell: 'M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zm7-5V11a7 7 0 0 0-5.5-6.8V3h-3v1.2A7 7 0 0 0 5 11v6l-2 2v.5h18V19z',
  back: 'M15.4 4.6L8 12l7.4 7.4-2 2L4 12l9.4-9.4z',
  plus: 'M11 4h2v7h7v2h-7v7h-2v-7H4v-2h7z',
  tune: 'M3 17v2h6v-2zm0-12v2h10V5zm10 16v-2h8v-2h-8v-2h-2v6zM7 9v2H3v2h4v2h2V9zm14 4v-2H11v2zm-6-4h2V7h4V5h-4V3h-2z',
  camera: 'M8.5 4h7l1.5 2H21v14H3V6h4zM12 17a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
  check: 'M9.5 16.2L5.3 12l-1.4 1.4 5.6 5.6L20.1 8.4 18.7 7z',
  cloudoff: 'M3.3 2.3L2 3.6l3 3A6.5 6.5 0 0 0 6.5 19H17l3.4 3.4 1.3-1.3zM19.4 10.1A7 7 0 0 0 8.6 5.1l10 10 .8.8A4.5 4.5 0 0 0 19.4 10.1z',
  sync: 'M12 4V1L8 5l4 4V6a6 6 0 0 1 5.7 7.9l1.5 1.5A8 8 0 0 0 12 4zm0 14a6 6 0 0 1-5.7-7.9L4.8 8.6A8 8 0 0 0 12 20v3l4-4-4-4z',
  clock: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 10.4l3.6 2.1-1 1.7L11 13V6h2z',
  warn: 'M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z',
};

export function icon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', cls);
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', PATHS[name] || '');
  svg.append(p);
  return svg;
}

let idSeq = 0;
export const uid = (prefix = 'f') => `${prefix}-${++idSeq}`;
