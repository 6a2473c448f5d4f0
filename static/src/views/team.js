// A lead's team board (docs/design.md §16): who of their departments is on duty and why (their shift until when, their
// switch), their next shift when off, the open work each holds (overdue among it, and per template against a
// dispatched step's capacity), and the offers waiting for someone with room. Shifts are planned from here (#/team/shifts).
// Looks again every 20 s, and at once when something is told to the lead (live.js).
import { h, replace } from '../ui/dom.js';
import { t, fmtNumber } from '../i18n.js';
import { api } from '../session.js';
import { bus } from '../bus.js';
import { loading, errorState, emptyState, pageHeader } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';
import { fmtDayTime, fmtShift } from '../ui/shifttimes.js';

const POLL_MS = 20000;

function load(item) {
  const rows = item.by_template.map((b) => h('li.team-load',
    h('span.team-load-name', b.name),
    b.capacity
      ? h('span.team-load-figure', h('meter', { min: 0, max: b.capacity, value: Math.min(b.open, b.capacity), 'aria-hidden': 'true' }),
        ` ${t('team.of_capacity', { open: fmtNumber(b.open), capacity: fmtNumber(b.capacity) })}`)
      : h('span.team-load-figure', fmtNumber(b.open))));
  return rows.length ? h('ul.team-loads', rows) : h('p.muted', t('team.nothing_held'));
}

/** Why on or off duty, and the next shift of someone off. */
function duty(item) {
  const until = item.shift ? fmtDayTime(item.shift.ends_at) : '';
  const why = {
    shift: item.shift ? t('team.on_shift_until', { time: until }) : t('team.on_shift'),
    switch: t('team.by_switch'),
    switched_off: item.shift ? t('team.switched_off_in_shift', { time: until }) : t('team.switched_off'),
    off_shift: t('team.off_shift'),
  }[item.duty_reason] || '';
  let next = null;
  if (!item.on_duty && item.next_shift) next = t('team.next_shift', { when: fmtShift(item.next_shift.starts_at, item.next_shift.ends_at) });
  else if (item.duty_reason === 'off_shift') next = t('team.no_next_shift');
  return h('p.team-duty', h('span.team-why', why), next ? h('span.team-next', next) : null);
}

function person(item) {
  return h(`li.card.team-person${item.on_duty ? '' : '.team-off'}`, { dataset: { userId: item.id } },
    h('div.team-person-head',
      h('strong', item.name),
      h(`span.chip${item.on_duty ? '.chip-completed' : '.chip-cancelled'}`, t(item.on_duty ? 'team.on_duty' : 'team.off_duty'))),
    h('p.muted', item.department && item.department.name),
    duty(item),
    h('p.team-figures',
      h('span', t('team.open', { n: fmtNumber(item.open) })),
      item.overdue ? h('span.chip.chip-overdue', t('team.overdue', { n: fmtNumber(item.overdue) })) : null),
    load(item));
}

export function teamView(el) {
  const body = h('div', loading());
  el.append(h('div.page.page-team', pageHeader(t('team.title'), {
    back: { href: '#/wo', label: t('nav.orders') },
    actions: h('div.button-row.team-actions',
      h('a.btn.btn-secondary', { href: '#/team/shifts' }, t('roster.open')),
      h('a.btn.btn-secondary', { href: '#/team/reach' }, t('reach.open'))),
  }), body));
  let stopped = false;

  async function refresh() {
    let board;
    try {
      board = (await api('GET', '/team')).data;
    } catch (err) {
      if (!stopped) replace(body, errorState(errorText(err), refresh));
      return;
    }
    if (stopped) return;
    const waiting = board.waiting.length
      ? h('section.section.team-waiting', h('h2', t('team.waiting_title')),
        h('ul.plain', board.waiting.map((w) => h('li', t(w.capacity ? 'team.waiting_line_capacity' : 'team.waiting_line',
          { name: w.name, step: w.step_title, n: fmtNumber(w.count), capacity: w.capacity ? fmtNumber(w.capacity) : '' })))))
      : null;
    replace(body,
      h('p.lead.team-summary', { role: 'status' }, t('team.summary', {
        on: fmtNumber(board.on_duty), n: fmtNumber(board.people.length), open: fmtNumber(board.open) })),
      waiting,
      board.people.length ? h('ul.cards.team-people', board.people.map(person)) : emptyState(t('team.empty')),
      board.truncated ? h('p.muted', t('team.truncated')) : null);
  }

  refresh();
  const timer = setInterval(() => document.visibilityState === 'visible' && refresh(), POLL_MS);
  const offChanges = bus.on('changes', refresh);
  return () => {
    stopped = true;
    clearInterval(timer);
    offChanges();
  };
}
