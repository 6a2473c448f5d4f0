import { h, icon, replace } from '../ui/dom.js';
import { t, tMaybe, fmtWhen } from '../i18n.js';
import { user } from '../session.js';
import { onOutboxChange, flush, retry, discard } from '../outbox-client.js';
import { errorText } from '../ui/errors.js';
import { emptyState, pageHeader } from '../ui/parts.js';
import { confirmDialog } from '../ui/dialog.js';
import { toast } from '../ui/toast.js';

// Refusals that no retry can change: the task is someone else's, finished, cancelled or gone.
const FINAL = ['task_taken', 'task_completed', 'task_cancelled', 'not_found', 'not_a_handler', 'not_a_candidate'];

function describe(e) {
  const l = e.label || {};
  const what = tMaybe(`outbox.kind.${e.kind}`, e.kind);
  const outcome = e.kind === 'complete' && l.outcome ? ` · ${tMaybe(`outcome.${l.outcome}`, l.outcome)}` : '';
  return { what: what + outcome, target: [l.number, l.title].filter(Boolean).join(' · '), step: l.step_title || '' };
}

export default function outboxView(el) {
  const body = h('div.outbox-body');
  const sendNow = h('button.btn.btn-primary', { type: 'button' }, icon('sync'), h('span', t('outbox.send_now')));
  sendNow.addEventListener('click', async () => {
    if (navigator.onLine === false) {
      toast(t('offline.banner'), 'warn');
      return;
    }
    sendNow.disabled = true;
    const s = await flush();
    sendNow.disabled = false;
    if (s && s.stopped === 'transient') toast(t('outbox.still_offline'), 'warn');
    else if (s && s.stopped === 'unauthorized') toast(t('auth.expired'), 'warn');
  });
  el.append(h('div.page.page-outbox', pageHeader(t('outbox.title')), h('p.lead', t('outbox.intro')), body));

  function item(e, foreign) {
    const d = describe(e);
    let statusLine;
    let actions = [];
    if (foreign) {
      statusLine = h('p.ob-status.ob-failed', t('outbox.other_account'));
      actions = [h('button.btn.btn-ghost', { type: 'button', onclick: () => ask(e) }, t('outbox.discard'))];
    } else if (e.status === 'pending') {
      statusLine = h('p.ob-status.ob-pending', icon('sync'),
        e.last_error ? (e.last_error.status === 401 ? t('auth.expired') : t('outbox.retrying', { reason: errorText(e.last_error) })) : t('outbox.status.pending'));
    } else if (e.status === 'done') {
      statusLine = h('p.ob-status.ob-done', icon('check'), t('outbox.sent_at', { time: fmtWhen(e.done_at) }));
    } else if (FINAL.includes(e.error && e.error.code)) {
      // Someone else holds or finished the task, or it is gone: sending it again cannot succeed; say who and when.
      statusLine = h('p.ob-status.ob-failed', icon('warn'), errorText(e.error), ' ', h('span.muted', t('outbox.final')));
      actions = [
        e.task_id ? h('a.btn.btn-secondary', { href: `#/task/${e.task_id}` }, t('outbox.open_task')) : null,
        h('button.btn.btn-ghost', { type: 'button', onclick: async () => { await discard(e.id); } }, t('outbox.dismiss')),
      ];
    } else {
      statusLine = h('p.ob-status.ob-failed', icon('warn'), errorText(e.error));
      actions = [
        h('button.btn.btn-secondary', { type: 'button', onclick: async () => { await retry(e.id); } }, t('outbox.retry')),
        h('button.btn.btn-ghost', { type: 'button', onclick: () => ask(e) }, t('outbox.discard')),
        e.task_id ? h('a.btn.btn-ghost', { href: `#/task/${e.task_id}` }, t('outbox.open_task')) : null,
      ];
    }
    return h(`li.ob-item.ob-${foreign ? 'foreign' : e.status}`,
      h('p.ob-what', h('strong', d.what), e.photo || e.attachment || (e.files && e.files.length) ? h('span.muted', ` · ${t('outbox.with_photo')}`) : null),
      d.target ? h('p.ob-target', d.target) : null,
      d.step ? h('p.muted', d.step) : null,
      h('p.ob-time.muted', t('outbox.taken_at', { time: fmtWhen(e.occurred_at) })),
      statusLine,
      actions.filter(Boolean).length ? h('div.ob-actions', actions) : null);
  }

  async function ask(e) {
    const ok = await confirmDialog(t('outbox.discard_title'), t('outbox.discard_body'), { confirmLabel: t('outbox.discard'), danger: true });
    if (ok) await discard(e.id);
  }

  function draw(all) {
    const me = user() ? user().id : null;
    const mine = all.filter((e) => e.user_id === me);
    const foreign = all.filter((e) => e.user_id !== me && e.status !== 'done');
    const pending = mine.filter((e) => e.status === 'pending');
    const failed = mine.filter((e) => e.status === 'failed');
    const done = mine.filter((e) => e.status === 'done').reverse();
    const group = (title, list, extra, isForeign = false) => list.length
      ? h('section.section', h('h2.section-title', title, h('span.count', ` (${list.length})`)), extra || null, h('ul.ob-list', list.map((e) => item(e, isForeign))))
      : null;
    if (!mine.length && !foreign.length) {
      replace(body, emptyState(t('outbox.empty')));
      return;
    }
    replace(body,
      group(t('outbox.group.pending'), pending, sendNow),
      group(t('outbox.group.failed'), failed),
      group(t('outbox.group.foreign'), foreign, null, true),
      group(t('outbox.group.done'), done));
  }

  return onOutboxChange(draw);
}
