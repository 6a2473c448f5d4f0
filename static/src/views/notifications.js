import { h, replace } from '../ui/dom.js';
import { t, tMaybe } from '../i18n.js';
import { api, post } from '../session.js';
import { bus } from '../bus.js';
import { loading, emptyState, errorState, pageHeader, when, listItems, staleNotice } from '../ui/parts.js';
import { errorText } from '../ui/errors.js';
import { toast } from '../ui/toast.js';
import { uuid } from '../core/http.js';

function hashOf(url) {
  if (!url) return null;
  const i = url.indexOf('#');
  return i >= 0 ? url.slice(i) : null;
}

export default function notificationsView(el) {
  const body = h('div');
  const markAll = h('button.btn.btn-secondary', { type: 'button' }, t('notif.mark_all'));
  el.append(h('div.page', pageHeader(t('notif.title'), { actions: markAll }), body));
  let items = [];

  async function load() {
    replace(body, loading());
    try {
      const res = await api('GET', '/notifications?per_page=100');
      items = listItems(res.data);
      draw(res.cachedAt);
    } catch (err) {
      replace(body, errorState(errorText(err), load));
    }
  }

  async function markRead(payload) {
    try {
      await post('/notifications/read', payload, { key: uuid() });
      bus.emit('notifications:changed');
    } catch (err) {
      toast(errorText(err), 'error');
    }
  }

  // How it went out beyond the push: the last attempt on each chat channel or SMS (the ladder's rungs).
  function reached(deliveries) {
    const last = new Map();
    (deliveries || []).filter((d) => d.channel !== 'webpush').forEach((d) => last.set(d.channel, d));
    if (!last.size) return null;
    return h('p.hint.notif-reach', [...last.values()].map((d) =>
      `${t(`channels.name.${d.channel}`)}: ${tMaybe(`channels.delivery.${d.result}`, d.result)}`).join(' · '));
  }

  function draw(cachedAt) {
    markAll.hidden = !items.some((n) => !n.read_at);
    if (!items.length) {
      replace(body, emptyState(t('notif.empty')));
      return;
    }
    replace(body, staleNotice(cachedAt), h('ul.notif-list', items.map((n) => {
      const target = hashOf(n.url);
      const content = [
        h('p.notif-title', !n.read_at ? h('span.dot', { 'aria-hidden': 'true' }) : null, h('strong', n.title || tMaybe(`notif.kind.${n.kind}`, n.kind || '')),
          !n.read_at ? h('span.sr-only', ` (${t('notif.unread')})`) : null),
        n.body ? h('p', n.body) : null,
        h('p.muted', when(n.created_at)),
        reached(n.deliveries),
      ];
      const open = async (e) => {
        if (!n.read_at) {
          e.preventDefault();
          n.read_at = new Date().toISOString();
          await markRead({ ids: [n.id] });
          if (target) location.hash = target;
          else draw();
        }
      };
      return h(`li.notif${n.read_at ? '' : '.unread'}`,
        target ? h('a.notif-link', { href: target, onclick: open }, content) : h('button.notif-link', { type: 'button', onclick: open }, content));
    })));
  }

  markAll.addEventListener('click', async () => {
    await markRead({ all: true });
    items.forEach((n) => (n.read_at = n.read_at || new Date().toISOString()));
    draw();
  });
  load();
}
