// The screenshot check of the UI test: PNGs made here (every scanline filter of the PNG spec,
// applied by the test to pixels it chose) decode back to those pixels; blank, wrong-size and
// unsupported images are refused with errors that say why.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { checkScreenshot, decodePng, PngError, pngStats } from '../vscode/ui/png-check';

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG of `pixels` (width*height*channels bytes), row y filtered with filters[y % filters.length]. */
function encode(width: number, height: number, channels: 3 | 4, pixels: Uint8Array, filters: number[], depth = 8): Buffer {
  const stride = width * channels;
  const rows: number[] = [];
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length];
    rows.push(f);
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i];
      const a = i >= channels ? pixels[y * stride + i - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, Math.floor((a + b) / 2), paeth][f];
      rows.push((x - predictor + 256) % 256);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = channels === 3 ? 2 : 6;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** A deterministic pattern with many colours (a gradient plus a pseudo-random part). */
function pattern(width: number, height: number, channels: number): Uint8Array {
  const px = new Uint8Array(width * height * channels);
  let s = 12345;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = (i % 7 === 0 ? (s >>> 16) : i * 31 + (i >> 5)) & 0xff;
  }
  return px;
}

for (const channels of [3, 4] as const) {
  test(`${channels === 3 ? 'RGB' : 'RGBA'}: rows filtered with None, Sub, Up, Average and Paeth decode to the pixels encoded`, () => {
    const [w, h] = [37, 20];
    const px = pattern(w, h, channels);
    const img = decodePng(encode(w, h, channels, px, [0, 1, 2, 3, 4]));
    assert.deepEqual([img.width, img.height, img.channels], [w, h, channels]);
    assert.deepEqual(new Uint8Array(img.pixels), px);
  });
}

test('stats: a two-colour image counts 2 colours and the share of the commoner one', () => {
  const [w, h] = [10, 10];
  const px = new Uint8Array(w * h * 3).fill(255);
  for (let i = 0; i < 25; i++) px.fill(0, i * 3, i * 3 + 3);   // 25 black pixels, 75 white
  assert.deepEqual(pngStats(encode(w, h, 3, px, [1, 4])), { width: w, height: h, colours: 2, dominantShare: 0.75 });
});

test('a blank screenshot, a wrong size and too few colours are refused; a busy one passes', () => {
  const blank = encode(64, 32, 4, new Uint8Array(64 * 32 * 4).fill(30), [0]);
  assert.throws(() => checkScreenshot(blank, { width: 64, height: 32 }), (e: Error) => e instanceof PngError && /1 colours/.test(e.message));
  const busy = encode(64, 32, 3, pattern(64, 32, 3), [2]);
  assert.throws(() => checkScreenshot(busy, { width: 65, height: 32 }), /64x32, 65x32 expected/);
  const s = checkScreenshot(busy, { width: 64, height: 32 });
  assert.ok(s.colours >= 50 && s.dominantShare < 0.9, JSON.stringify(s));
  const mostlyOne = new Uint8Array(64 * 32 * 3).fill(200);
  mostlyOne.set(pattern(64, 2, 3));   // two busy rows in 32: the commonest colour covers > 90%
  assert.throws(() => checkScreenshot(encode(64, 32, 3, mostlyOne, [0]), { width: 64, height: 32 }), /covers 9\d\.\d% .*blank/);
});

test('not a PNG, a 16-bit PNG and a cut chunk are refused by name', () => {
  assert.throws(() => decodePng(Buffer.from('GIF89a')), /signature/);
  assert.throws(() => decodePng(encode(4, 4, 3, new Uint8Array(48), [0], 16)), /bit depth 16/);
  assert.throws(() => decodePng(encode(4, 4, 3, new Uint8Array(48), [0]).subarray(0, 20)), /cut short/);
});
