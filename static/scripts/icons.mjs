// Draws the Baton app icons (a relay baton on the brand colour) and encodes them
// as PNG using only Node built-ins. Output is deterministic for a given Node/zlib.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    rgba.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const hex = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];

const BRAND = hex('#0a4fa3');
const BATON = hex('#ffc233');
const BAND = hex('#0a2d5c');
const SHINE = hex('#ffe39a');
const WHITE = [255, 255, 255];

// Signed distance helpers in unit coordinates (0..1).
function sdRoundRect(x, y, half, r) {
  const qx = Math.abs(x - 0.5) - half + r;
  const qy = Math.abs(y - 0.5) - half + r;
  const ox = Math.max(qx, 0);
  const oy = Math.max(qy, 0);
  return Math.hypot(ox, oy) + Math.min(Math.max(qx, qy), 0) - r;
}

// Position along the baton axis (t in 0..1) and distance from the axis.
function batonCoords(x, y, scale) {
  const cx = 0.5 + (x - 0.5) / scale;
  const cy = 0.5 + (y - 0.5) / scale;
  const ax = 0.34, ay = 0.7, bx = 0.74, by = 0.3;
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = ((cx - ax) * dx + (cy - ay) * dy) / len2;
  const tc = Math.min(1, Math.max(0, t));
  const px = ax + dx * tc, py = ay + dy * tc;
  return { t, dist: Math.hypot(cx - px, cy - py), cx, cy };
}

// Three speed lines trailing the baton (lower left), parallel to it.
function onSpeedLine(cx, cy) {
  const lines = [
    [0.14, 0.66, 0.27, 0.53],
    [0.17, 0.79, 0.3, 0.66],
    [0.29, 0.86, 0.39, 0.76],
  ];
  for (const [ax, ay, bx, by] of lines) {
    const dx = bx - ax, dy = by - ay;
    const t = Math.min(1, Math.max(0, ((cx - ax) * dx + (cy - ay) * dy) / (dx * dx + dy * dy)));
    if (Math.hypot(cx - (ax + dx * t), cy - (ay + dy * t)) <= 0.028) return true;
  }
  return false;
}

/**
 * kind: 'any' (rounded square, transparent corners), 'maskable' (full bleed, glyph in the
 * safe zone), 'apple' (full bleed, opaque), 'badge' (white glyph on transparent).
 */
export function drawIcon(size, kind) {
  const buf = Buffer.alloc(size * size * 4);
  const SS = 4; // supersampling per axis
  const radius = 0.105; // baton half-thickness
  const glyphScale = kind === 'maskable' ? 0.78 : kind === 'badge' ? 1.1 : 1;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const x = (px + (sx + 0.5) / SS) / size;
          const y = (py + (sy + 0.5) / SS) / size;
          let col = null;
          if (kind !== 'badge') {
            const inside = kind === 'any' ? sdRoundRect(x, y, 0.5, 0.2) <= 0 : true;
            if (inside) col = BRAND;
          }
          const { t, dist, cx, cy } = batonCoords(x, y, glyphScale);
          if (dist <= radius) {
            if (kind === 'badge') col = WHITE;
            else {
              const band = (t > 0.16 && t < 0.26) || (t > 0.74 && t < 0.84);
              col = band ? BAND : dist < radius * 0.35 && t > 0.3 && t < 0.7 ? SHINE : BATON;
            }
          } else if (onSpeedLine(cx, cy)) {
            col = kind === 'badge' ? WHITE : SHINE;
          }
          if (col) {
            r += col[0];
            g += col[1];
            b += col[2];
            a += 1;
          }
        }
      }
      const n = SS * SS;
      const o = (py * size + px) * 4;
      if (a > 0) {
        buf[o] = Math.round(r / a);
        buf[o + 1] = Math.round(g / a);
        buf[o + 2] = Math.round(b / a);
      }
      buf[o + 3] = Math.round((a / n) * 255);
    }
  }
  return encodePng(size, size, buf);
}

export const ICONS = [
  { file: 'icons/icon-192.png', size: 192, kind: 'any' },
  { file: 'icons/icon-512.png', size: 512, kind: 'any' },
  { file: 'icons/maskable-512.png', size: 512, kind: 'maskable' },
  { file: 'icons/maskable-192.png', size: 192, kind: 'maskable' },
  { file: 'icons/apple-touch-icon.png', size: 180, kind: 'apple' },
  { file: 'icons/favicon-32.png', size: 32, kind: 'any' },
  { file: 'icons/badge-96.png', size: 96, kind: 'badge' },
];
