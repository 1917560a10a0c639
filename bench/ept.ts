// EPT walker throughput: guest-physical reads served from the translation cache, and reads that
// miss it and walk 4 levels. Run after a build with `node out/bench/ept.js` (`--quick` for 10x
// fewer translations). Every translation is checked against the identity-plus-offset mapping
// the bench built; a wrong one ends the run with an error.
import { PhysicalMemory } from '../src/hardware/memory';
import { decodeEptCapabilities } from '../src/hardware/ept-capabilities';
import { EPT_ACCESS_READ, EptWalker } from '../src/hardware/ept';
import { BenchError } from './guest';

const PAGES = 16384; // 64 MiB of 4 KiB pages: 16x the cache, so a stride over all of them misses
const HOST_OFFSET = 0x1_0000_0000; // host page = guest page + 4 GiB
const TABLES = 0x10_0000;

function build(mem: PhysicalMemory): bigint {
  // PML4 at TABLES, one PDPT, one PD, PAGES / 512 page tables after them; all entries RWX.
  const pml4 = TABLES, pdpt = TABLES + 0x1000, pd = TABLES + 0x2000, pt0 = TABLES + 0x3000;
  mem.write(pml4, 4, pdpt | 7);
  mem.write(pdpt, 4, pd | 7);
  for (let t = 0; t < PAGES / 512; t++) mem.write(pd + 8 * t, 4, (pt0 + 0x1000 * t) | 7);
  for (let p = 0; p < PAGES; p++) {
    mem.write(pt0 + 8 * p, 4, ((p * 0x1000) | 7 | (6 << 3)) >>> 0);
    mem.write(pt0 + 8 * p + 4, 4, HOST_OFFSET / 2 ** 32);
  }
  return BigInt(pml4) | (3n << 3n) | 6n;
}

function run(w: EptWalker, count: number, pageMask: number, stride: number): number {
  const t0 = process.hrtime.bigint();
  let page = 0;
  for (let n = 0; n < count; n++) {
    page = (page + stride) & pageMask;
    const gpa = page * 0x1000 + (n & 0xff8);
    const hpa = w.translate(gpa, 0, EPT_ACCESS_READ);
    if (hpa !== gpa + HOST_OFFSET) throw new BenchError(`EPT translated 0x${gpa.toString(16)} to ${hpa}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function main(argv: string[]): void {
  const count = argv.includes('--quick') ? 200_000 : 2_000_000;
  const mem = new PhysicalMemory(32 << 20);
  const w = new EptWalker(mem);
  const c = w.configure(build(mem), decodeEptCapabilities(0x00000f0106734141n));
  if (!c.ok) throw new BenchError(c.reason);
  run(w, count / 10, 255, 1);
  run(w, count / 10, PAGES - 1, 1031);
  const hit = run(w, count, 255, 1); // 256 pages: all in the cache after the first lap
  process.stdout.write(`ept-cached: ${(count / hit / 1e6).toFixed(1)} M translations/s\n`);
  const miss = run(w, count, PAGES - 1, 1031); // odd stride over 16384 pages: a walk nearly every time
  process.stdout.write(`ept-walk: ${(count / miss / 1e6).toFixed(1)} M translations/s\n`);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench: error: ${e instanceof BenchError ? e.message : (e instanceof Error ? e.stack : String(e))}\n`);
  process.exitCode = 1;
}
