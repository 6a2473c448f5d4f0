// Shift times as a lead reads them (docs/design.md §16), in the reader's language and this device's time zone, on a
// 24-hour clock in every language (a shift is 22:00–06:00, and it fits a day's column): "16:00" today, "Tue 12/8
// 06:00" another day; ranges "08:00–16:00", "22:00–Tue 12/8 06:00"; local weeks from Monday.
import { getLocale, t } from '../i18n.js';

const formats = new Map();
function format(name, opts) {
  const key = `${getLocale()}|${name}`;
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(getLocale(), opts));
  return formats.get(key);
}

const toDate = (v) => (v instanceof Date ? v : new Date(v));
export const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** "16:00", in every language. */
export function fmtTime(v) {
  return format('clock', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(toDate(v));
}

/** "Tue 12/8" (zh-CN "12/8周二"). */
export function fmtDay(v) {
  return format('day', { weekday: 'short', month: 'numeric', day: 'numeric' }).format(toDate(v));
}

/** The weekday alone, short: "Tue" (zh-CN "周二"). */
export function fmtWeekday(v) {
  return format('wd', { weekday: 'short' }).format(toDate(v));
}

/** A time, with its day when it is not on `base`'s day (today by default). */
export function fmtDayTime(v, base = new Date()) {
  const d = toDate(v);
  return sameDay(d, base) ? fmtTime(d) : `${fmtDay(d)} ${fmtTime(d)}`;
}

/** "08:00–16:00", the end with its day when it ends on another day. */
export function fmtRange(starts, ends) {
  const s = toDate(starts);
  return `${fmtTime(s)}–${fmtDayTime(ends, s)}`;
}

/** A shift as a line: "today 08:00–16:00", or "Tue 12/8 22:00–Wed 12/9 06:00". */
export function fmtShift(starts, ends) {
  const s = toDate(starts);
  const day = sameDay(s, new Date()) ? t('roster.today') : fmtDay(s);
  return `${day} ${fmtRange(s, ends)}`;
}

export function addDays(d, n) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + n, d.getHours(), d.getMinutes());
}

/** Local midnight of the Monday of `d`'s week. */
export function mondayOf(d) {
  const x = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  return addDays(x, -((x.getDay() + 6) % 7));
}

const pad = (n) => String(n).padStart(2, '0');
export const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** A YYYY-MM-DD as local midnight, or null. */
export function parseYmd(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

/** A datetime-local input's value for a time. */
export const localValue = (d) => `${ymd(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** A datetime-local value as an ISO time (the API wants an offset), or '' when empty or not a time. */
export function isoOf(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
