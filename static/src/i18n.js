// Translation and locale-aware formatting. Every user-visible string goes through t().
import en from './i18n/en.js';
import zhCN from './i18n/zh-CN.js';

export const LOCALES = ['zh-CN', 'en'];
const DICTS = { en, 'zh-CN': zhCN };
let current = 'en';
const listeners = new Set();
const cache = new Map();

export function normalizeLocale(value) {
  if (!value) return null;
  const v = String(value).toLowerCase();
  if (v.startsWith('zh')) return 'zh-CN';
  if (v.startsWith('en')) return 'en';
  return null;
}

export function browserLocale() {
  const langs = (globalThis.navigator && (navigator.languages || [navigator.language])) || [];
  for (const l of langs) {
    const n = normalizeLocale(l);
    if (n) return n;
  }
  return 'en';
}

export function getLocale() {
  return current;
}

export function setLocale(locale) {
  const next = normalizeLocale(locale) || 'en';
  if (next === current && document.documentElement.lang === next) return;
  current = next;
  cache.clear();
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function plural(n) {
  let pr = cache.get('pr');
  if (!pr) cache.set('pr', (pr = new Intl.PluralRules(current)));
  return pr.select(n);
}

/** Translate `key`, filling {placeholders} from params. Plural entries are objects keyed by plural category. */
export function t(key, params) {
  let s = DICTS[current][key];
  if (s === undefined) s = DICTS.en[key];
  if (s === undefined) return key;
  if (typeof s === 'object') s = s[plural(params && params.n !== undefined ? params.n : 0)] || s.other;
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined || params[name] === null ? m : String(params[name])));
}

/** Translate if the key exists, otherwise return `fallback`. */
export function tMaybe(key, fallback) {
  const s = DICTS[current][key] ?? DICTS.en[key];
  return s === undefined ? fallback : t(key);
}

/** A task's step title in the reader's language, where the template gives it per language (`step_titles`). */
export function stepTitle(task) {
  return (task.step_titles || {})[current] || task.step_title || task.step || '';
}

function fmt(name, opts) {
  const k = `${name}`;
  let f = cache.get(k);
  if (!f) cache.set(k, (f = new Intl.DateTimeFormat(current, opts)));
  return f;
}

const toDate = (v) => (v instanceof Date ? v : new Date(v));
const valid = (d) => d instanceof Date && !Number.isNaN(d.getTime());

export function fmtDateTime(v) {
  const d = toDate(v);
  if (!v || !valid(d)) return '';
  return fmt('dt', { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function fmtDate(v) {
  const d = toDate(v);
  if (!v || !valid(d)) return '';
  return fmt('d', { dateStyle: 'medium' }).format(d);
}

export function fmtTime(v) {
  const d = toDate(v);
  if (!v || !valid(d)) return '';
  return fmt('t', { hour: '2-digit', minute: '2-digit' }).format(d);
}

/** "Today 14:05" style for recent times, full date otherwise. */
export function fmtWhen(v) {
  const d = toDate(v);
  if (!v || !valid(d)) return '';
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return t('time.today_at', { time: fmtTime(d) });
  return fmtDateTime(d);
}

export function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return new Intl.NumberFormat(current, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(Number(n));
}

/** `share` is a fraction 0..1. */
export function fmtPercent(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(Number(share))) return '—';
  return new Intl.NumberFormat(current, { style: 'percent', maximumFractionDigits: digits }).format(Number(share));
}

/** Human duration for a positive number of milliseconds, e.g. "1 h 05 min" or "04:12". */
export function fmtDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const mins = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (days > 0) return t('dur.days_hours', { d: days, h: hours });
  if (hours > 0) return t('dur.hours_minutes', { h: hours, m: String(mins).padStart(2, '0') });
  // "28:50" reads as a clock time: say minutes and seconds.
  return mins > 0 ? t('dur.minutes_seconds', { m: mins, s: secs }) : t('dur.seconds', { s: secs });
}

/** Spoken-friendly duration (no mm:ss), for screen readers. */
export function fmtDurationLong(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const mins = Math.floor((total % 3600) / 60);
  if (days > 0) return t('dur.days_hours', { d: days, h: hours });
  if (hours > 0) return t('dur.hours_minutes', { h: hours, m: mins });
  return t('dur.minutes', { n: Math.max(mins, 0) });
}

export function dictionaries() {
  return DICTS;
}
