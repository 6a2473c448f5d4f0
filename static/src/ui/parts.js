// Shared building blocks: badges, countdowns, state messages.
import { h, icon } from './dom.js';
import { t, tMaybe, fmtDuration, fmtDurationLong, fmtTime, fmtWhen } from '../i18n.js';

export function priorityBadge(p) {
  const v = /^P[1-4]$/.test(p || '') ? p : 'P3';
  return h(`span.prio.prio-${v.toLowerCase()}`, { title: t(`priority.${v}`) }, v, h('span.sr-only', ` ${t(`priority.${v}`)}`));
}

export function statusChip(status, scope = 'task') {
  const label = tMaybe(`${scope}.status.${status}`, status || '');
  return h(`span.chip.chip-status.chip-${status}`, label);
}

export const modeLabel = (mode) => tMaybe(`mode.${mode}`, mode || '');
export const sourceLabel = (source) => tMaybe(`source.${source}`, source || '');

// ---- live countdowns: one timer updates every [data-due] element on screen ----
let tick = null;
function updateCountdown(el) {
  const due = Date.parse(el.dataset.due);
  if (Number.isNaN(due)) return;
  const left = due - Date.now();
  const overdue = left < 0;
  const text = overdue ? t('due.overdue_by', { d: fmtDuration(-left) }) : t('due.in', { d: fmtDuration(left) });
  const label = el.querySelector('.countdown-text');
  if (label && label.textContent !== text) label.textContent = text;
  el.classList.toggle('overdue', overdue);
  el.classList.toggle('soon', !overdue && left < 30 * 60 * 1000);
  // Screen readers get a calmer, minute-level label.
  const spoken = overdue ? t('due.overdue_by', { d: fmtDurationLong(-left) }) : t('due.in', { d: fmtDurationLong(left) });
  if (el.getAttribute('aria-label') !== spoken) el.setAttribute('aria-label', spoken);
}

function ensureTick() {
  if (tick) return;
  tick = setInterval(() => {
    const els = document.querySelectorAll('[data-due]');
    if (!els.length) {
      clearInterval(tick);
      tick = null;
      return;
    }
    if (document.visibilityState === 'visible') els.forEach(updateCountdown);
  }, 1000);
}

export function countdown(dueAt) {
  if (!dueAt) return h('span.countdown.none', icon('clock'), h('span.countdown-text', t('due.none')));
  const el = h('span.countdown', { dataset: { due: dueAt }, role: 'timer' }, icon('clock'), h('span.countdown-text', { 'aria-hidden': 'true' }));
  updateCountdown(el);
  ensureTick();
  return el;
}

export function isOverdue(dueAt) {
  return Boolean(dueAt) && Date.parse(dueAt) < Date.now();
}

export function loading(text) {
  return h('p.state.state-loading', { role: 'status' }, h('span.spinner', { 'aria-hidden': 'true' }), text || t('common.loading'));
}

export function emptyState(text, extra) {
  return h('div.state.state-empty', h('p', text), extra || null);
}

export function errorState(text, onRetry) {
  return h('div.state.state-error', { role: 'alert' },
    h('p', text),
    onRetry ? h('button.btn.btn-secondary', { type: 'button', onclick: onRetry }, t('common.retry')) : null);
}

/** "Offline — last updated 14:05" when the data came from the service worker's cache. */
export function staleNotice(cachedAt) {
  if (!cachedAt) return null;
  return h('p.stale', { role: 'status' }, icon('cloudoff'), t('offline.last_updated', { time: fmtTime(cachedAt) }));
}

export function pageHeader(title, { back, actions } = {}) {
  return h('div.page-head',
    back ? h('a.back-link', { href: back.href }, icon('back'), h('span', back.label)) : null,
    h('div.page-head-row', h('h1.page-title', { tabindex: '-1' }, title), actions || null));
}

export function dl(rows) {
  const items = rows.filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && !v.length));
  if (!items.length) return null;
  return h('dl.facts', items.map(([k, v]) => h('div.fact', h('dt', k), h('dd', Array.isArray(v) ? v.join(' › ') : v))));
}

export function when(iso) {
  return h('time', { datetime: iso }, fmtWhen(iso));
}

export function listItems(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}
