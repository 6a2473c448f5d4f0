// What was captured in the field, shown to whoever reads it later (docs/design.md §15): photos as thumbnails that
// open full screen, a signature as its image, a barcode as the text read, a position as coordinates ± accuracy with
// a map link.
import { h } from './dom.js';
import { t, fmtNumber } from '../i18n.js';
import { attachmentTile, isAttachment } from './attachments.js';

/**
 * A map of the position. Amap (高德), because the people who open it work in mainland China: its page loads there
 * and opens the Amap app most phones have, where OpenStreetMap is slow or unreachable. The phone reports WGS 84;
 * `coordinate=wgs84` tells Amap so, which otherwise reads GCJ-02 and would put the pin a few hundred metres off.
 */
export function mapLink(loc) {
  const position = `${Number(loc.lng).toFixed(6)},${Number(loc.lat).toFixed(6)}`;
  return `https://uri.amap.com/marker?position=${position}&coordinate=wgs84&src=baton`;
}

/** "31.230400, 121.473700 ± 12 m" */
export function positionText(loc) {
  return t('location.value', { lat: Number(loc.lat).toFixed(6), lng: Number(loc.lng).toFixed(6), accuracy: fmtNumber(loc.accuracy, 0) });
}

export const isPosition = (v) => Boolean(v && typeof v === 'object' && Number.isFinite(v.lat) && Number.isFinite(v.lng));

/** A position with its map link (opened outside the app). */
export function positionView(loc) {
  return h('span.captured-location', h('span', positionText(loc)), ' ',
    h('a.link', { href: mapLink(loc), target: '_blank', rel: 'noopener noreferrer' }, t('location.open_map')));
}

/**
 * A labelled value of a form ({name, label, type, value}, as the API's case gives it) shown as what was captured,
 * or null when it is not a captured kind (the caller shows it as text).
 */
export function capturedValue(d) {
  if (!d) return null;
  const v = d.value;
  if (d.type === 'photos' && Array.isArray(v)) {
    const tiles = v.filter(isAttachment);
    return tiles.length ? h('div.thumbs', tiles.map(attachmentTile)) : null;
  }
  if (d.type === 'signature' && isAttachment(v)) {
    return h('div.captured-signature', attachmentTile({ ...v, filename: v.filename || t('signature.label') }));
  }
  if (d.type === 'barcode' && typeof v === 'string') return h('code.captured-code', v);
  if ((d.type === 'location' || !d.type) && isPosition(v)) return positionView(v);
  return null;
}
