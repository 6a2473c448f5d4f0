// Work-order timeline: append-only events with actor, time and (for offline actions) the
// device time.
import { h } from './dom.js';
import { t, tMaybe, fmtWhen, fmtDateTime } from '../i18n.js';

const DETAIL_KEYS = ['outcome', 'reason', 'handover', 'route', 'note', 'body', 'filename', 'level', 'to', 'from_user', 'to_user', 'dispatch', 'cancelled', 'kept', 'score', 'resolved', 'step_title', 'step'];

// Details that hold a person's id: the answer names them in `people`.
const PERSON_KEYS = ['to_user', 'from_user', 'reassigned_to', 'reassigned_from'];

function detailLines(kind, details, ev = {}, opts = {}) {
  if (!details || typeof details !== 'object') return [];
  const lines = [];
  for (const k of DETAIL_KEYS) {
    let v = details[k];
    if (v === undefined || v === null || v === '') continue;
    if (k === 'step' && details.step_title) continue;
    if (k === 'step' && opts.stepTitles && opts.stepTitles[v]) v = opts.stepTitles[v];
    if (PERSON_KEYS.includes(k) && ev.people && ev.people[String(v)]) v = ev.people[String(v)].name;
    if (k === 'reason' && typeof v === 'string') v = tMaybe(`reason.${v}`, v);
    // The handover note of a task handed back at the end of its holder's shift (docs/design.md §16).
    if (k === 'handover' && typeof v === 'object') v = t('handover.note', { time: fmtDateTime(v.ended_at) });
    if ((k === 'reason' || k === 'route') && typeof v === 'object') v = routeReason(v);
    else if (typeof v === 'object') v = v.name || v.login || v.id || '';
    if (k === 'resolved') v = v ? t('common.yes') : t('common.no');
    if (k === 'outcome') v = tMaybe(`outcome.${v}`, String(v));
    if (k === 'score') v = `${v} · ${tMaybe(`score.${v}`, '')}`;
    // How a dispatch handed the task out (docs/design.md §16), with the step's capacity when it has one.
    if (k === 'dispatch') v = tMaybe(`dispatch.${v}`, String(v)) + (details.capacity ? ` · ${t('dispatch.capacity', { n: details.capacity })}` : '');
    const label = tMaybe(`tlkey.${kind}.${k}`, null) || tMaybe(`tlkey.${k}`, k);
    lines.push(h('p.tl-detail', h('span.tl-key', `${label}: `), String(v)));
  }
  return lines;
}

/** Why the router started or skipped a step (details.reason of step_skipped, details.route of activated). */
export function routeReason(reason) {
  if (reason.by === 'when') return t(reason.held ? 'route.when_held' : 'route.when_not_held');
  return tMaybe(`route.${reason.by}`, String(reason.by || ''));
}

/** The actor's name; the API may give {actor: {id, name}} or only actor_id. */
export function actorName(ev) {
  if (ev.actor && typeof ev.actor === 'object') return ev.actor.name || ev.actor.login || t('common.user_n', { id: ev.actor.id });
  if (ev.actor_id !== undefined && ev.actor_id !== null) return t('common.user_n', { id: ev.actor_id });
  return t('timeline.system');
}

/** `opts.stepTitles`: {step key: title}, so that a step is named, never shown by its key. */
export function timeline(events = [], pending = [], opts = {}) {
  if (!events.length && !pending.length) return h('p.muted', t('timeline.empty'));
  // Newest first, and within one moment too (the later event of a moment has the higher id).
  const items = [...events].sort((a, b) => String(b.at).localeCompare(String(a.at)) || (Number(b.id) || 0) - (Number(a.id) || 0));
  // A lead's escalation is one event for the work order and one per running task: the reason is told once, on the
  // work order's; the tasks' say which step reached which level.
  const byHand = new Set(events.filter((e) => e.kind === 'escalated' && e.details && e.details.manual).map((e) => String(e.at)));
  return h('ol.timeline',
    pending.map((e) => h('li.tl-item.tl-pending',
      h('p.tl-head', h('strong', tMaybe(`timeline.${e.kind === 'comment' ? 'commented' : e.kind}`, e.kind)), ' · ', h('span.chip.chip-pending', t('outbox.status.pending'))),
      e.body && (e.body.body || e.body.note || e.body.reason) ? h('p.tl-detail', e.body.body || e.body.note || e.body.reason) : null,
      h('p.tl-meta', h('time', { datetime: e.occurred_at }, fmtWhen(e.occurred_at))))),
    items.map((ev) => {
      const offline = ev.occurred_at && ev.at && Math.abs(Date.parse(ev.at) - Date.parse(ev.occurred_at)) > 60000;
      const manual = ev.kind === 'escalated' && ev.details && ev.details.manual;
      const stepOfManual = ev.kind === 'escalated' && !manual && byHand.has(String(ev.at));
      const details = stepOfManual ? { ...ev.details, reason: null } : ev.details;
      const head = manual ? t('timeline.escalated_by_hand', { from: ev.details.priority_from || '', to: ev.details.priority_to || '' })
        : stepOfManual ? t('timeline.escalated_step') : tMaybe(`timeline.${ev.kind}`, String(ev.kind || '').replace(/[._]/g, ' '));
      return h(`li.tl-item.tl-${ev.kind}`,
        h('p.tl-head', h('strong', head), ` · ${actorName(ev)}`),
        detailLines(ev.kind, details, ev, opts),
        h('p.tl-meta', h('time', { datetime: ev.at }, fmtWhen(ev.at)),
          offline ? h('span.tl-offline', ` · ${t('timeline.done_offline', { time: fmtDateTime(ev.occurred_at) })}`) : null));
    }));
}
