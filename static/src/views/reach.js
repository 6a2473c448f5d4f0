// Whom nothing reached lately (docs/design.md §14): people of the lead's departments (everyone, for an admin) to whom
// no push got through and no DingTalk, WeCom, Feishu or SMS message was delivered in the last days, by name, with the
// channels each has, those a vendor does not know, and when something last reached them. On the lead's app under
// the team board (#/team/reach), and in the console beside people (#/admin/reach), where a name opens the person's
// record to fix their IDs.
import { h, replace, uid } from '../ui/dom.js';
import { t, fmtWhen } from '../i18n.js';
import { api } from '../session.js';
import { loading, errorState, emptyState, pageHeader } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';

const DAYS = [1, 3, 7, 14, 30];

function person(item, { console: inConsole }) {
  const name = inConsole ? h('a.card-title', { href: `#/admin/people/${item.id}` }, item.name) : h('strong.card-title', item.name);
  const has = [];
  if (item.devices) has.push(t('reach.devices', { n: item.devices }));
  for (const channel of item.channels) {
    const word = t(`channels.name.${channel}`);
    has.push(item.broken.includes(channel) ? t('reach.broken', { channel: word }) : word);
  }
  return h('li.card.reach-person', { dataset: { userId: item.id } },
    h('div.card-top', name, item.broken.length ? h('span.chip.chip-overdue', t('reach.broken_chip')) : null),
    h('p.muted', [item.department_name, item.login].filter(Boolean).join(' · ')),
    h('p.reach-channels', has.length ? t('reach.has', { list: has.join(t('reach.list_join')) }) : t('reach.nothing')),
    h('p.reach-last', item.last_delivered_at ? t('reach.last', { when: fmtWhen(item.last_delivered_at) }) : t('reach.never')));
}

/** The list with its choice of days, in `container`; answers a cleanup. */
export function unreachable(container, { console: inConsole = false } = {}) {
  const id = uid('reach-days');
  const days = h('select.input', { id }, DAYS.map((n) => h('option', { value: String(n), selected: n === 7 }, t('reach.days', { n }))));
  const summary = h('p.lead.reach-summary', { role: 'status' });
  const list = h('div', loading());
  container.append(h('p.hint', t('reach.hint')),
    h('div.field.reach-window', h('label', { for: id }, t('reach.window')), days), summary, list);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    replace(list, loading());
    summary.textContent = '';
    let items;
    try {
      items = (await api('GET', `/people/unreachable?days=${days.value}`)).data.items;
    } catch (err) {
      if (mine === seq) replace(list, errorState(errorText(err), load));
      return;
    }
    if (mine !== seq) return;
    summary.textContent = t('reach.summary', { n: items.length });
    replace(list, items.length ? h('ul.cards.reach-people', items.map((item) => person(item, { console: inConsole })))
      : emptyState(t('reach.everyone')));
  }
  days.addEventListener('change', load);
  load();
}

/** #/team/reach: the lead's app (leads and admins). */
export function teamReachView(el) {
  const body = h('div');
  el.append(h('div.page.page-reach', pageHeader(t('reach.title'), { back: { href: '#/team', label: t('team.title') } }), body));
  unreachable(body);
}
