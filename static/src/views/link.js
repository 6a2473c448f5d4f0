// A chat card's or an SMS's signed link (docs/design.md §14). The server's /l/<token> checked its signature and time
// and opened the app here; the link does nothing by itself: under the reader's own session the app redeems it (the
// server marks the notification read, so its ladder stops, and says whether to claim), then claims through the
// task's ordinary claim call and opens the task.
import { h, replace } from '../ui/dom.js';
import { t } from '../i18n.js';
import { api, post, signedIn } from '../session.js';
import { navigate } from '../router.js';
import { loading } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';
import { claimTask, taskAbilities } from './tasklib.js';

function refused(el, title, text) {
  replace(el, h('div.page.page-link',
    h('h1.page-title', { tabindex: '-1' }, title),
    h('p', text),
    h('a.btn.btn-primary', { href: signedIn() ? '#/inbox' : '#/signin' }, t(signedIn() ? 'link.to_tasks' : 'nav.signin'))));
  el.querySelector('h1').focus({ preventScroll: true });
}

const TITLES = { link_expired: 'link.expired_title', link_invalid: 'link.invalid_title', link_not_yours: 'link.not_yours_title' };

/** #/link/<token>: redeem, claim if asked, open what the link is about. */
export function linkView(el, params) {
  const root = h('div.page', h('h1.page-title.sr-only', { tabindex: '-1' }, t('link.title')), loading(t('link.opening')));
  el.append(root);
  (async () => {
    let answer;
    try {
      answer = await post('/links/redeem', { token: params.token });
    } catch (err) {
      if (!root.isConnected) return;
      refused(root, t(TITLES[err.code] || 'link.invalid_title'), errorText(err));
      return;
    }
    if (!root.isConnected) return;
    const target = (answer.url || '/#/inbox').replace(/^[^#]*#/, '');
    if (answer.action === 'claim' && answer.task_id !== null && answer.task_id !== undefined) {
      try {
        const task = (await api('GET', `/tasks/${encodeURIComponent(answer.task_id)}`)).data;
        // Claimed already, or no longer on offer: the task screen says so; nothing is claimed twice.
        if (taskAbilities(task).canClaim) await claimTask(task);
      } catch (err) {
        if (!root.isConnected) return;
        refused(root, t('link.claim_failed_title'), errorText(err));
        return;
      }
    }
    if (root.isConnected) navigate(target, { replace: true });
  })();
}

/** #/link-refused/<expired|invalid>: what /l/<token> answers for a link that cannot be used, signed in or not. */
export function refusedView(el, params) {
  const reason = params.reason === 'expired' ? 'expired' : 'invalid';
  const root = h('div');
  el.append(root);
  refused(root, t(`link.${reason}_title`), t(`link.${reason}`));
}
