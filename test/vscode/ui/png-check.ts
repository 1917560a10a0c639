// Enough of PNG (ISO/IEC 15948: IHDR, IDAT, the five scanline filters) to tell a real screenshot
// from a blank one: its size and how many colours it holds. Chromium writes 8-bit RGB or RGBA,
// not interlaced; anything else is refused by name rather than misread.
import * as zlib from 'node:zlib';

export class PngError extends Error {}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel by colour type, for bit depth 8: 2 = RGB, 6 = RGBA. */
const CHANNELS: Record<number, number> = { 2: 3, 6: 4 };

export interface Image { width: number; height: number; channels: number; pixels: Buffer }

export function decodePng(png: Buffer): Image {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new PngError('not a PNG file (signature missing)');
  let header: { width: number; height: number; depth: number; colour: number; interlace: number } | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (data.length !== length) throw new PngError(`chunk ${type} is cut short`);
    if (type === 'IHDR') header = { width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], colour: data[9], interlace: data[12] };
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (header === undefined) throw new PngError('no IHDR chunk');
  const channels = CHANNELS[header.colour];
  if (header.depth !== 8 || channels === undefined || header.interlace !== 0) {
    throw new PngError(`unsupported PNG: bit depth ${header.depth}, colour type ${header.colour}, interlace ${header.interlace} (8-bit RGB/RGBA only)`);
  }
  const { width, height } = header;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new PngError(`image data holds ${raw.length} bytes, ${height * (stride + 1)} expected`);
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[out + i - channels] : 0;
      const b = y > 0 ? pixels[out - stride + i] : 0;
      const c = i >= channels && y > 0 ? pixels[out - stride + i - channels] : 0;
      let predictor: number;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new PngError(`row ${y} has filter type ${filter} (0..4 exist)`);
      }
      pixels[out + i] = (line[i] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

export interface PngStats { width: number; height: number; colours: number; dominantShare: number }

/** Size, the number of distinct RGB colours, and the share of pixels the commonest colour covers. */
export function pngStats(png: Buffer): PngStats {
  const { width, height, channels, pixels } = decodePng(png);
  const counts = new Map<number, number>();
  for (let i = 0; i < pixels.length; i += channels) {
    const rgb = (pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2];
    counts.set(rgb, (counts.get(rgb) ?? 0) + 1);
  }
  const top = Math.max(0, ...counts.values());
  return { width, height, colours: counts.size, dominantShare: width * height === 0 ? 1 : top / (width * height) };
}

/**
 * Throws unless the PNG is `width` x `height` and looks like a drawn window, not a blank page:
 * at least `minColours` colours (text is anti-aliased, so real UI has hundreds) and no colour
 * covering more than `maxDominantShare` of it.
 */
export function checkScreenshot(png: Buffer, expect: { width: number; height: number; minColours?: number; maxDominantShare?: number }): PngStats {
  const s = pngStats(png);
  const minColours = expect.minColours ?? 50;
  const maxShare = expect.maxDominantShare ?? 0.9;
  if (s.width !== expect.width || s.height !== expect.height) throw new PngError(`screenshot is ${s.width}x${s.height}, ${expect.width}x${expect.height} expected`);
  if (s.colours < minColours) throw new PngError(`screenshot has ${s.colours} colours (< ${minColours}): blank or not drawn`);
  if (s.dominantShare > maxShare) throw new PngError(`one colour covers ${(100 * s.dominantShare).toFixed(1)}% of the screenshot (> ${100 * maxShare}%): blank`);
  return s;
}
