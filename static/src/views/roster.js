// A lead's shifts on the phone (docs/design.md §16), reached from the team board: the week of every person of the
// departments they lead (an admin: everyone on the board), by name, today marked, times in this device's zone; a
// shift opens to be changed or deleted, an empty day or "Add shift" plans one. The server decides (overlaps, whose
// shifts a lead plans) and its refusals are shown on their field in the reader's language. Shifts are edited
// online only: offline the screen says so and its buttons wait for the network.
import { h, replace, uid } from '../ui/dom.js';
import { t } from '../i18n.js';
import { api } from '../session.js';
import { navigate } from '../router.js';
import { toast } from '../ui/toast.js';
import { confirmDialog } from '../ui/dialog.js';
import { loading, errorState, emptyState, pageHeader } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';
import {
  addDays, fmtDay, fmtShift, fmtTime, fmtWeekday, isoOf, localValue, mondayOf, parseYmd, sameDay, ymd,
} from '../ui/shifttimes.js';

const PER_PAGE = 500;

async function all(path) {
  const items = [];
  for (let page = 1; ; page += 1) {
    const res = (await api('GET', `${path}${path.includes('?') ? '&' : '?'}per_page=${PER_PAGE}&page=${page}`)).data;
    items.push(...res.items);
    if (items.length >= res.total || !res.items.length) return items;
  }
}

/** The people a lead plans for: their board's (GET /team), by department then name. */
async function team() {
  return (await api('GET', '/team')).data.people;
}

/** Groups by id, asked only when a group's shift is shown. */
async function groupsOf(shifts) {
  if (!shifts.some((s) => s.group_id)) return new Map();
  return new Map((await all('/groups')).map((g) => [g.id, g]));
}

/** Online-only editing: `notice` shown and `onChange(false)` while offline, again as the network comes and goes.
 *  Answers {update, stop}: update() after drawing new controls, stop() when the view goes. */
function onlineOnly(notice, onChange) {
  const update = () => {
    notice.hidden = navigator.onLine !== false;
    onChange(navigator.onLine !== false);
  };
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  update();
  return {
    update,
    stop: () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    },
  };
}

const offlineNotice = () => h('p.notice.notice-warn.roster-offline', { role: 'status', hidden: true }, t('roster.offline'));

/** #/team/shifts?week=YYYY-MM-DD: the week view. */
export function rosterView(el, params, query) {
  const today = new Date();
  const monday = mondayOf(parseYmd(query.get('week')) || today);
  const days = Array.from({ length: 7 }, (_, i) => addDays(monday, i));
  const end = addDays(monday, 7);
  const weekParam = ymd(monday);
  const body = h('div', loading());
  const notice = offlineNotice();
  const add = h('a.btn.btn-primary.roster-add-btn', { href: `#/team/shifts/new?week=${weekParam}` }, t('roster.add'));
  const nav = h('nav.roster-weeknav', { 'aria-label': t('roster.weeks') },
    h('a.btn.btn-secondary.btn-small', { href: `#/team/shifts?week=${ymd(addDays(monday, -7))}`, 'aria-label': t('roster.prev_week') }, '‹'),
    h('strong.roster-weekname', { 'aria-live': 'polite' }, t('roster.week_of', { from: fmtDay(monday), to: fmtDay(addDays(monday, 6)) })),
    h('a.btn.btn-secondary.btn-small', { href: `#/team/shifts?week=${ymd(addDays(monday, 7))}`, 'aria-label': t('roster.next_week') }, '›'),
    days.some((d) => sameDay(d, today)) ? null : h('a.btn.btn-ghost.btn-small', { href: '#/team/shifts' }, t('roster.this_week')));
  el.append(h('div.page.page-roster', pageHeader(t('roster.title'), {
    back: { href: '#/team', label: t('team.title') }, actions: add,
  }), notice, h('p.hint', t('roster.hint')), nav, body));
  const editable = [add];
  const network = onlineOnly(notice, (online) => {
    for (const a of editable) {
      a.classList.toggle('is-disabled', !online);
      if (online) a.removeAttribute('aria-disabled');
      else a.setAttribute('aria-disabled', 'true');
    }
  });
  // Offline, links that would edit stay put: the notice says why.
  el.addEventListener('click', (e) => {
    const link = e.target.closest && e.target.closest('[aria-disabled="true"]');
    if (!link) return;
    e.preventDefault();
    toast(t('roster.offline'), 'warn');
  });

  function cell(person, day, shifts, groups) {
    const dayEnd = addDays(day, 1);
    const members = (s) => (groups.get(s.group_id) || { members: [] }).members;
    const mine = shifts.filter((s) => (s.user_id === person.id || (s.group_id && members(s).includes(person.id)))
      && new Date(s.starts_at) < dayEnd && (new Date(s.starts_at) >= day || (sameDay(day, monday) && new Date(s.ends_at) > day)));
    const isToday = sameDay(day, today);
    const head = h('span.roster-dayname', h('span', fmtWeekday(day)), h('span.roster-date', String(day.getDate())));
    const attrs = { class: isToday ? 'is-today' : '', 'aria-current': isToday ? 'date' : false, dataset: { day: ymd(day) } };
    if (!mine.length) {
      const link = h('a.roster-empty', {
        href: `#/team/shifts/new?user=${person.id}&day=${ymd(day)}&week=${weekParam}`,
        'aria-label': t('roster.add_on', { name: person.name, day: fmtDay(day) }),
      }, head, h('span.roster-plus', { 'aria-hidden': 'true' }, '+'));
      editable.push(link);
      return h('li.roster-day', attrs, link);
    }
    return h('li.roster-day', attrs, head, mine.map((s) => {
      const starts = new Date(s.starts_at);
      const group = s.group_id ? groups.get(s.group_id) : null;
      const ends = new Date(s.ends_at);
      // The days after the one it is drawn on that it ends on: "+1" for a night shift.
      const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
      const later = Math.round((midnight(ends) - (starts < day ? day : midnight(starts))) / 86400000);
      return h(`a.roster-shift${group ? '.roster-shift-group' : ''}`, {
        href: `#/team/shifts/${s.id}?week=${weekParam}`, dataset: { shiftId: s.id },
        'aria-label': t(group ? 'roster.shift_label_group' : 'roster.shift_label',
          { name: person.name, when: fmtShift(starts, s.ends_at), group: group ? group.name : '' }),
      }, starts < day ? '…' : fmtTime(starts), '–\u200b', fmtTime(ends),
      later > 0 && !(ends.getHours() === 0 && ends.getMinutes() === 0 && later === 1)
        ? h('sup.roster-later', { 'aria-hidden': 'true' }, t('roster.plus_days', { n: later })) : null);
    }));
  }

  async function load() {
    replace(body, loading());
    let people;
    let shifts;
    let groups;
    try {
      [people, shifts] = await Promise.all([team(), all(`/shifts?ends_after=${encodeURIComponent(monday.toISOString())}&starts_before=${encodeURIComponent(end.toISOString())}`)]);
      groups = await groupsOf(shifts);
    } catch (err) {
      replace(body, errorState(errorText(err), load));
      return;
    }
    if (!people.length) {
      replace(body, emptyState(t('team.empty')));
      return;
    }
    replace(body, h('ul.cards.roster-people', people.map((p) => h('li.card.roster-person', { dataset: { userId: p.id } },
      h('div.roster-person-head',
        h('div', h('strong.card-title', p.name), h('p.muted', p.department && p.department.name)),
        h(`span.chip${p.on_duty ? '.chip-completed' : '.chip-cancelled'}`, t(p.on_duty ? 'team.on_duty' : 'team.off_duty'))),
      h('ol.roster-week', { 'aria-label': t('roster.week_of_person', { name: p.name }) }, days.map((d) => cell(p, d, shifts, groups)))))));
    network.update(); // the links drawn now follow the network too
  }

  load();
  return network.stop;
}

/** #/team/shifts/new?user=&day=&week= and #/team/shifts/:id?week=: one shift, planned or changed. */
export function shiftView(el, params, query) {
  const id = params.id ? Number(params.id) : null;
  const back = `/team/shifts${query.get('week') ? `?week=${query.get('week')}` : ''}`;
  const body = h('div', loading());
  const notice = offlineNotice();
  el.append(h('div.page.page-shift', pageHeader(t(id ? 'roster.edit_title' : 'roster.new_title'), {
    back: { href: `#${back}`, label: t('roster.title') },
  }), notice, body));
  const buttons = [];
  const network = onlineOnly(notice, (online) => buttons.forEach((b) => (b.disabled = !online)));

  function field(label, input, hint) {
    const err = h('p.field-error', { role: 'alert', hidden: true });
    const field = h('div.field', h('label', { for: input.id }, label), input, hint ? h('p.hint', hint) : null, err);
    const show = (text, extra) => {
      err.hidden = !text;
      replace(err, text || '', extra || null);
      if (text) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    };
    return { field, input, show };
  }

  function render(people, shift, group) {
    const chosen = shift ? shift.user_id : Number(query.get('user')) || null;
    if (chosen && !people.some((p) => p.id === chosen)) people = [...people, { id: chosen, name: `#${chosen}`, department: null }];
    const byDept = new Map();
    for (const p of people) {
      const name = (p.department && p.department.name) || '';
      if (!byDept.has(name)) byDept.set(name, []);
      byDept.get(name).push(p);
    }
    const select = h('select.input', { id: uid('roster-person'), name: 'user_id' },
      h('option', { value: '' }, t('roster.choose_person')),
      [...byDept].map(([dept, members]) => h('optgroup', { label: dept || '—' },
        members.map((p) => h('option', { value: String(p.id), selected: p.id === chosen }, p.name)))));
    const person = group ? null : field(t('shifts.person'), select, t('roster.person_hint'));
    const day = parseYmd(query.get('day')) || addDays(new Date(new Date().setHours(0, 0, 0, 0)), 1);
    const start = shift ? new Date(shift.starts_at) : new Date(day.getFullYear(), day.getMonth(), day.getDate(), 8);
    const finish = shift ? new Date(shift.ends_at) : new Date(start.getTime() + 8 * 3600 * 1000);
    const starts = field(t('shifts.starts'), h('input.input', { id: uid('roster-starts'), type: 'datetime-local', name: 'starts_at', value: localValue(start) }));
    const ends = field(t('shifts.ends'), h('input.input', { id: uid('roster-ends'), type: 'datetime-local', name: 'ends_at', value: localValue(finish) }));
    const handoverId = uid('roster-handover');
    const handoverBox = h('input', { type: 'checkbox', id: handoverId, name: 'handover', checked: Boolean(shift && shift.handover) });
    const formError = h('p.form-error', { role: 'alert', hidden: true });
    const save = h('button.btn.btn-primary', { type: 'submit' }, t(id ? 'common.save' : 'roster.add'));
    const remove = id ? h('button.btn.btn-danger', { type: 'button' }, t('roster.delete')) : null;
    buttons.push(save, ...(remove ? [remove] : []));
    const form = h('form.fields.roster-form', { novalidate: true },
      group ? h('p.notice.notice-info', t('roster.group_holder', { group: group.name })) : person.field,
      starts.field, ends.field,
      h('div.field.field-check', handoverBox, h('label', { for: handoverId }, t('shifts.handover_hint'))),
      formError,
      h('div.button-row', save, remove));
    const fields = { user_id: person, group_id: person, starts_at: starts, ends_at: ends };

    const clear = () => {
      formError.hidden = true;
      Object.values(fields).forEach((f) => f && f.show(''));
    };

    /** The person's shifts the new times would overlap, as a line (the refusal names only an id). */
    async function clashes(userId, from, to) {
      if (!userId) return null;
      try {
        const found = (await all(`/shifts?user_id=${userId}&ends_after=${encodeURIComponent(from)}&starts_before=${encodeURIComponent(to)}`))
          .filter((s) => s.id !== id);
        return found.length ? h('span.roster-clashes', ` ${t('roster.clashes', { list: found.map((s) => fmtShift(s.starts_at, s.ends_at)).join(t('roster.list_join')) })}`) : null;
      } catch {
        return null;
      }
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear();
      if (navigator.onLine === false) {
        toast(t('roster.offline'), 'warn');
        return;
      }
      const userId = group ? null : Number(select.value) || null;
      const body = { starts_at: isoOf(starts.input.value), ends_at: isoOf(ends.input.value), handover: handoverBox.checked };
      if (!group) body.user_id = userId;
      let bad = false;
      if (!group && !userId) { person.show(t('roster.choose_person')); bad = true; }
      if (!body.starts_at) { starts.show(t('form.required')); bad = true; }
      if (!body.ends_at) { ends.show(t('form.required')); bad = true; }
      else if (body.starts_at && new Date(body.ends_at) <= new Date(body.starts_at)) { ends.show(t('roster.ends_after_starts')); bad = true; }
      if (bad) return;
      if (shift) {
        // A change sends only what changed: a new end (or holder) hands the shift over again at its end.
        if (body.user_id === shift.user_id) delete body.user_id;
        for (const key of ['starts_at', 'ends_at']) if (new Date(body[key]).getTime() === new Date(shift[key]).getTime()) delete body[key];
        if (body.handover === shift.handover) delete body.handover;
        if (!Object.keys(body).length) {
          navigate(back);
          return;
        }
      }
      save.disabled = true;
      try {
        const saved = id ? (await api('PATCH', `/shifts/${id}`, { body })).data : (await api('POST', '/shifts', { body })).data;
        toast(t(id ? 'roster.saved' : 'roster.added'), 'ok');
        navigate(`/team/shifts?week=${ymd(mondayOf(new Date(saved.starts_at)))}`);
        return;
      } catch (err) {
        const details = (err && err.details) || {};
        const said = [];
        for (const [key, f] of Object.entries(fields)) {
          if (!f || !details[key]) continue;
          const text = [].concat(details[key]).map(String).join(' ');
          const extra = key === 'starts_at'
            ? await clashes(userId || (shift && shift.user_id), isoOf(starts.input.value), isoOf(ends.input.value)) : null;
          f.show(text, extra);
          said.push(f);
        }
        if (!said.length && err && err.code === 'not_your_department' && person) {
          person.show(errorText(err));
        } else if (!said.length) {
          formError.textContent = errorText(err);
          formError.hidden = false;
        }
        const first = form.querySelector('[aria-invalid="true"]');
        if (first) first.focus();
      } finally {
        save.disabled = navigator.onLine === false;
      }
    });
    if (remove) {
      remove.addEventListener('click', async () => {
        if (navigator.onLine === false) {
          toast(t('roster.offline'), 'warn');
          return;
        }
        const who = group ? group.name : (people.find((p) => p.id === shift.user_id) || {}).name;
        if (!(await confirmDialog(t('roster.delete_confirm', { name: who, when: fmtShift(shift.starts_at, shift.ends_at) }), null,
          { confirmLabel: t('roster.delete'), danger: true }))) return;
        try {
          await api('DELETE', `/shifts/${id}`);
          toast(t('roster.deleted'), 'ok');
          navigate(back);
        } catch (err) {
          formError.textContent = errorText(err);
          formError.hidden = false;
        }
      });
    }
    replace(body, shift ? h('p.lead.roster-current', fmtShift(shift.starts_at, shift.ends_at)) : null, form);
    network.update();
  }

  (async () => {
    try {
      const [people, shift] = await Promise.all([team(), id ? api('GET', `/shifts/${id}`).then((r) => r.data) : null]);
      const group = shift && shift.group_id ? (await groupsOf([shift])).get(shift.group_id) || { name: `#${shift.group_id}` } : null;
      render(people, shift, group);
    } catch (err) {
      replace(body, errorState(errorText(err)));
    }
  })();
  return network.stop;
}
