// Polite status messages in an aria-live region at the bottom of the screen.
import { h } from './dom.js';

let region;
function ensure() {
  if (!region) {
    region = h('div.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  return region;
}

/** kind: 'info' | 'ok' | 'error' | 'warn' */
export function toast(message, kind = 'info', ms = 5000) {
  const box = ensure();
  const el = h(`div.toast.toast-${kind}`, message);
  box.append(el);
  const remove = () => el.remove();
  setTimeout(remove, kind === 'error' ? Math.max(ms, 8000) : ms);
  el.addEventListener('click', remove);
  return el;
}
