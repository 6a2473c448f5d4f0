// The console's calendar editor (#/admin/calendars/new, #/admin/calendars/:id): working hours per weekday in a time
// zone, the calendar's own days off and make-up working days, and whether China's come from the library. The built-in
// calendar is read-only: "Make a copy" opens a new one with its hours. Saving answers how many live tasks were
// re-planned; a refusal is shown at the period, day or field it names (the API's exact paths).
import { h, icon, replace, uid } from '../ui/dom.js';
import { t, tMaybe, fmtNumber } from '../i18n.js';
import * as session from '../session.js';
import { navigate } from '../router.js';
import { toast } from '../ui/toast.js';
import { errorText, fieldErrors } from '../ui/errors.js';
import { loading, errorState } from '../ui/parts.js';
import { shell, textField, selectField, calendarName } from './admin.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const ZONES = ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Singapore', 'Asia/Tokyo', 'Europe/London', 'Europe/Berlin',
  'America/New_York', 'America/Los_Angeles', 'UTC'];
const BLANK = { name: '', timezone: 'Asia/Shanghai', holidays_from: 'CN', holidays: [], workdays: [],
  week: { mon: [['09:00', '18:00']], tue: [['09:00', '18:00']], wed: [['09:00', '18:00']], thu: [['09:00', '18:00']], fri: [['09:00', '18:00']] } };

/** A list of rows the admin adds to and removes from; each row has an error line the save may fill. */
function rows(makeRow, initial, addLabel) {
  const list = h('ul.cal-rows');
  const items = [];
  const add = (value) => {
    const row = makeRow(value);
    const err = h('p.field-error', { hidden: true, role: 'alert' });
    const item = { ...row, err };
    const remove = h('button.btn.btn-ghost.btn-small', { type: 'button' }, t('calendar.remove'));
    item.li = h('li.cal-row', row.el, remove, err);
    item.li.addEventListener('input', () => { err.hidden = true; }); // fixed: its message goes
    remove.addEventListener('click', () => {
      items.splice(items.indexOf(item), 1);
      item.li.remove();
    });
    items.push(item);
    list.append(item.li);
    return item;
  };
  (initial || []).forEach(add);
  const addBtn = h('button.btn.btn-secondary.btn-small', { type: 'button' }, icon('plus'), h('span', addLabel));
  addBtn.addEventListener('click', () => {
    const item = add(undefined);
    const first = item.li.querySelector('input,select');
    if (first) first.focus();
  });
  return { el: h('div', list, addBtn), items, add, clear: () => items.splice(0).forEach((i) => i.li.remove()) };
}

function period(value) {
  const [from, to] = value || ['09:00', '18:00'];
  const a = h('input.input.input-time', { type: 'time', value: from, 'aria-label': t('calendar.from') });
  const b = h('input.input.input-time', { type: 'time', value: to, 'aria-label': t('calendar.to') });
  return { el: h('span.cal-period', a, h('span', '–'), b), value: () => [a.value, b.value] };
}

function dayOff(value) {
  const input = h('input.input', { type: 'date', value: value || '', 'aria-label': t('calendar.day_off') });
  return { el: input, value: () => input.value };
}

function makeUpDay(value) {
  const date = h('input.input', { type: 'date', value: (value && value.date) || '', 'aria-label': t('calendar.make_up_day') });
  const as = h('select.input', { 'aria-label': t('calendar.works_as') }, DAYS.map((d) => h('option', { value: d }, t(`calendar.as.${d}`))));
  as.value = (value && value.as) || 'mon';
  return { el: h('span.cal-period', date, as), value: () => ({ date: date.value, as: as.value }) };
}

function editor(root, calendar, { id, readOnly }) {
  const name = textField(t('calendar.path.name'), calendar.name, { maxlength: 200, required: true });
  const zoneList = uid('zones');
  const zone = textField(t('calendar.timezone'), calendar.timezone, { list: zoneList, maxlength: 64 });
  const from = selectField(t('calendar.holidays_from'), [['', t('calendar.holidays_none')], ['CN', t('calendar.holidays_cn')]],
    calendar.holidays_from || '');
  const week = Object.fromEntries(DAYS.map((d) => [d, rows(period, (calendar.week || {})[d], t('calendar.add_period'))]));
  const copy = h('button.btn.btn-ghost.btn-small', { type: 'button' }, t('calendar.copy_monday'));
  copy.addEventListener('click', () => {
    const monday = week.mon.items.map((i) => i.value());
    for (const d of ['tue', 'wed', 'thu', 'fri']) {
      week[d].clear();
      monday.forEach((p) => week[d].add(p));
    }
  });
  const holidays = rows(dayOff, calendar.holidays, t('calendar.add_day_off'));
  const workdays = rows(makeUpDay, calendar.workdays, t('calendar.add_make_up_day'));
  const formErr = h('p.form-error', { role: 'alert', hidden: true });
  const save = h('button.btn.btn-primary', { type: 'submit' }, t(id ? 'calendar.save' : 'calendar.create'));
  const form = h('form.cal-form', { novalidate: true },
    name.field, zone.field, h('datalist', { id: zoneList }, ZONES.map((z) => h('option', { value: z }))), from.field,
    h('fieldset.field', h('legend', t('calendar.week')), h('p.hint', t('calendar.week_hint')),
      h('table.cal-week', h('tbody', DAYS.map((d) => h('tr', { dataset: { day: d } }, h('th', { scope: 'row' }, t(`day.${d}`)),
        h('td', week[d].el))))), copy),
    h('fieldset.field', h('legend', t('calendar.days_off')), h('p.hint', t('calendar.days_off_hint')), holidays.el),
    h('fieldset.field', h('legend', t('calendar.make_up_days')), h('p.hint', t('calendar.make_up_days_hint')), workdays.el),
    formErr,
    readOnly ? null : h('div.action-row', save));
  if (readOnly) form.querySelectorAll('input,select,button').forEach((x) => { x.disabled = true; });

  const body = () => ({
    name: name.input.value.trim(),
    timezone: zone.input.value.trim(),
    holidays_from: from.select.value || null,
    week: Object.fromEntries(DAYS.map((d) => [d, week[d].items.map((i) => i.value())]).filter(([, ps]) => ps.length)),
    holidays: holidays.items.map((i) => i.value()),
    workdays: workdays.items.map((i) => i.value()),
  });
  const allRows = () => [...DAYS.flatMap((d) => week[d].items), ...holidays.items, ...workdays.items];
  const showErrors = (err) => {
    allRows().forEach((r) => { r.err.hidden = true; r.err.textContent = ''; });
    const fields = fieldErrors(err);
    const other = [];
    for (const [path, message] of Object.entries(fields)) {
      const [head, key, index] = path.split('.');
      let item = null;
      if (head === 'week' && week[key]) item = week[key].items[Number(index)] || null;
      else if (head === 'holidays') item = holidays.items[Number(key)] || null;
      else if (head === 'workdays') item = workdays.items[Number(key)] || null;
      if (item) {
        item.err.textContent = message;
        item.err.hidden = false;
      } else {
        other.push(`${tMaybe(`calendar.path.${head}`, head)}${key && head === 'week' ? ` ${t(`day.${key}`)}` : ''}: ${message}`);
      }
    }
    formErr.textContent = [errorText(err), ...other].join(' · ');
    formErr.hidden = false;
    const first = form.querySelector('.field-error:not([hidden])') || formErr;
    first.scrollIntoView({ block: 'center', behavior: 'smooth' });
  };
  form.addEventListener('input', () => { formErr.hidden = true; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const saved = id ? await session.api('PUT', `/calendars/${id}`, { body: body() }).then((r) => r.data)
        : await session.post('/calendars', body());
      const replanned = saved.replanned || {};
      toast(id ? t('calendar.saved', { tasks: fmtNumber(replanned.tasks || 0) }) : t('calendar.created'), 'ok');
      navigate('/admin/calendars');
    } catch (err) {
      showErrors(err);
    } finally {
      save.disabled = false;
    }
  });
  replace(root,
    h('div.page-head-row', h('h2', id ? calendarName(calendar) : t('calendar.new')),
      readOnly ? h('button.btn.btn-secondary', {
        type: 'button',
        onclick: () => navigate(`/admin/calendars/new?from=${id}`),
      }, t('calendar.copy')) : null),
    readOnly ? h('p.notice.notice-info', t('calendar.built_in_read_only')) : null,
    form);
}

export function calendarView(el, params = {}) {
  const root = h('div', loading());
  const cleanup = shell(el, 'calendars', h('a.back-link', { href: '#/admin/calendars' }, icon('back'), h('span', t('admin.calendars'))), root);
  const id = params.id && params.id !== 'new' ? Number(params.id) : null;
  const copyOf = new URLSearchParams((location.hash.split('?')[1]) || '').get('from');
  async function load() {
    try {
      if (id) {
        const calendar = await session.get(`/calendars/${id}`);
        editor(root, calendar, { id, readOnly: calendar.built_in });
      } else if (copyOf) {
        const source = await session.get(`/calendars/${Number(copyOf)}`);
        editor(root, { ...source, name: t('calendar.copy_name', { name: calendarName(source) }) }, { id: null, readOnly: false });
      } else {
        editor(root, BLANK, { id: null, readOnly: false });
      }
    } catch (err) {
      replace(root, errorState(errorText(err), load));
    }
  }
  load();
  return cleanup;
}
