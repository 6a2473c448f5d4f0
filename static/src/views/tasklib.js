// Task helpers shared by the inbox and the task screen.
import { h } from '../ui/dom.js';
import { t, stepTitle } from '../i18n.js';
import { perform } from '../outbox-client.js';
import { toast } from '../ui/toast.js';
import { errorText } from '../ui/errors.js';
import { user } from '../session.js';

// A work order's references and classification, as rows of a definition list (empty values are left out by dl).
export function workOrderRefRows(wo) {
  return [
    [t('wo.order_no'), wo.order_no],
    [t('wo.customer_ref'), wo.customer_ref],
    [t('wo.batch_no'), wo.batch_no],
    [t('wo.product_sku'), wo.product_sku],
    [t('wo.business'), wo.business],
    [t('wo.problem'), wo.problem],
  ];
}

export function taskLabel(task) {
  const wo = task.work_order || {};
  return { number: wo.number || '', title: wo.title || '', step_title: stepTitle(task) };
}

/** What the current user may do with a task, given queued actions on it. */
export function taskAbilities(task, pending = []) {
  const me = user() ? user().id : null;
  const kinds = new Set(pending.map((e) => e.kind));
  const finishing = kinds.has('complete') || kinds.has('return');
  const claimedByMe = task.status === 'claimed' && String(task.assignee_id) === String(me);
  const claimPending = kinds.has('claim') && task.status === 'open';
  const open = task.status === 'open';
  const direct = open && (task.mode === 'joint' || task.mode === 'each');
  return {
    finishing,
    claimPending,
    canClaim: open && task.mode === 'pool' && !claimPending && !finishing,
    canComplete: !finishing && (claimedByMe || claimPending || direct),
    canReturn: !finishing && Boolean(task.allow_return) && (claimedByMe || claimPending || direct),
    canRelease: !finishing && claimedByMe && task.mode === 'pool',
    canTransfer: !finishing && (claimedByMe || direct),
    takenByOther: task.status === 'claimed' && !claimedByMe,
    closed: task.status === 'completed' || task.status === 'cancelled',
  };
}

/** Claim through the outbox; reports the result in plain words (a screen that shows who took the task itself asks
 * `quietWhenTaken`). Resolves the perform() result. */
export async function claimTask(task, { quietWhenTaken = false } = {}) {
  const res = await perform({
    kind: 'claim',
    task_id: task.id,
    work_order_id: task.work_order_id,
    label: taskLabel(task),
    body: {},
  });
  if (res.state === 'done') toast(t('claim.done'), 'ok');
  else if (res.state === 'queued') toast(t('outbox.queued'), 'warn');
  else if (!(quietWhenTaken && res.error && res.error.code === 'task_taken')) toast(errorText(res.error), 'error');
  return res;
}

export function pendingChip(pending) {
  if (!pending.length) return null;
  const last = pending[pending.length - 1];
  return h('span.chip.chip-pending', t(`pending.${last.kind}`));
}
