// Camera photo: downscale on the device to a ~1600 px JPEG before it is stored or sent.
const MAX_EDGE = 1600;
const QUALITY = 0.82;
const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];
export const MAX_UPLOAD = 10 * 1024 * 1024;

async function decode(file) {
  if ('createImageBitmap' in globalThis) {
    try {
      return await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      /* fall through to <img> */
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.decoding = 'async';
    img.src = url;
    await img.decode();
    return img;
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/**
 * Returns a JPEG Blob no larger than MAX_EDGE on its long side. If the browser cannot decode
 * the format (e.g. HEIC on Android), the original file is returned when it is an accepted
 * type under the upload limit; otherwise the promise rejects with code "photo_unreadable".
 */
export async function downscalePhoto(file) {
  let source;
  try {
    source = await decode(file);
  } catch {
    if (ACCEPTED.includes(file.type) && file.size <= MAX_UPLOAD) return file;
    const err = new Error('photo_unreadable');
    err.code = 'photo_unreadable';
    throw err;
  }
  const w = source.width || source.naturalWidth;
  const hgt = source.height || source.naturalHeight;
  const scale = Math.min(1, MAX_EDGE / Math.max(w, hgt));
  const cw = Math.max(1, Math.round(w * scale));
  const ch = Math.max(1, Math.round(hgt * scale));
  const canvas = document.createElement('canvas');
  canvas.width = cw;
  canvas.height = ch;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cw, ch);
  ctx.drawImage(source, 0, 0, cw, ch);
  if (source.close) source.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
  if (!blob) {
    const err = new Error('photo_unreadable');
    err.code = 'photo_unreadable';
    throw err;
  }
  return blob;
}
