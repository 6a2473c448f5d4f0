// Photos and files in the app: thumbnails that open full screen, files that download. Each attachment an answer
// names carries `view_url`, a short-lived link signed for the reader (an <img> cannot send the Authorization header).
import { h, icon } from './dom.js';
import { t } from '../i18n.js';

const isImage = (a) => String(a.content_type || '').startsWith('image/');

function kb(size) {
  if (!Number.isFinite(size)) return '';
  return size >= 1024 * 1024 ? `${(size / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(size / 1024))} KB`;
}

/** Full screen: the photo as large as the screen allows, closed by the button, Esc or a tap outside it. */
export function openViewer(a) {
  const close = h('button.btn.btn-secondary.viewer-close', { type: 'button' }, t('common.close'));
  const dlg = h('dialog.viewer', { 'aria-label': a.filename },
    h('img.viewer-img', { src: a.view_url, alt: a.filename }),
    h('div.viewer-bar', h('span.viewer-name', a.filename),
      h('a.btn.btn-secondary', { href: a.view_url, download: a.filename }, t('attach.download')), close));
  const done = () => {
    dlg.close();
    dlg.remove();
  };
  close.addEventListener('click', done);
  dlg.addEventListener('cancel', (e) => {
    e.preventDefault();
    done();
  });
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) done();
  });
  document.body.append(dlg);
  dlg.showModal();
  close.focus();
}

/** One attachment: a thumbnail button for a photo, a download link for anything else. */
export function attachmentTile(a) {
  if (!a || !a.view_url) return h('span', (a && a.filename) || '');
  if (isImage(a)) {
    return h('button.thumb', { type: 'button', 'aria-label': t('attach.open_named', { name: a.filename }), onclick: () => openViewer(a) },
      h('img', { src: a.view_url, alt: a.filename, loading: 'lazy', decoding: 'async' }));
  }
  return h('a.file-link', { href: a.view_url, download: a.filename }, icon('orders'), h('span', a.filename), h('span.muted', ` ${kb(a.size)}`));
}

/** Several attachments as a row of tiles. */
export function attachmentTiles(list) {
  if (!list || !list.length) return null;
  return h('div.thumbs', list.map(attachmentTile));
}

/** A value that is an attachment (an object with view_url) shown as one; anything else left to the caller. */
export const isAttachment = (v) => Boolean(v && typeof v === 'object' && 'content_type' in v && 'filename' in v);
