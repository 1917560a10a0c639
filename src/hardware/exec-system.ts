// System instructions: segment-register moves, CPUID, RDMSR/WRMSR, RDTSC, IN/OUT, MOV CR/DR,
// descriptor tables, SWAPGS, SYSCALL/SYSRET and the rest of 0F 00/0F 01 (SDM Vol. 2 and 3A).
// Each place where VMX non-root operation may exit calls `cpu.intercept` first.

import type { Cpu } from './cpu';
import { CpuFault, Intercept, Vector } from './cpu';
import { Ar, Flag, Seg, Shadow } from './cpu-state';
import { cpuidLookup } from './cpuid';
import { getRflags, getStatusFlags, setRflags, setStatusFlags } from './flags';
import { Handler, Insn } from './insn';
import { MsrAccessError } from '../msr';
import { effectiveAddress, readReg, readRm, writeReg, writeRm } from './operands';
import { loadDataSegment, loadRealModeSegment, loadSegmentCache, readDescriptor, readSystem32, descriptorAr } from './segments';
import { pop, push } from './stack';
import { checkIoPermission } from './io-permission';
import { verr, verw } from './exec-descriptor-check';


function requireCpl0(c: Cpu, what: string): void {
  if ((c.cr0 & 1) !== 0 && c.cpl !== 0) throw new CpuFault(Vector.GP, 0, `${what} at CPL ${c.cpl}`);
}

function realOrV86(c: Cpu): boolean {
  return (c.cr0 & 1) === 0 || (c.flagsOther & Flag.VM) !== 0;
}

// ---- segment registers ---------------------------------------------------------------

/** Loads a segment register as MOV/POP do, by mode. */
export function loadSegment(c: Cpu, seg: number, sel: number): void {
  if (realOrV86(c)) loadRealModeSegment(c, seg, sel);
  else loadDataSegment(c, seg, sel);
  if (seg === Seg.SS) {
    c.interruptShadow = Shadow.MOV_SS;
    c.stopBlock = true; // the shadow covers exactly the next instruction (see Cpu.run)
  }
}

export function movToSeg(c: Cpu, i: Insn): void {
  const sel = readRm(c, i, 2);
  loadSegment(c, i.cc, sel);
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

export function movFromSeg(c: Cpu, i: Insn): void {
  const v = c.segSel[i.cc];
  // to a register with 32/64-bit operand size the selector is zero-extended
  writeRm(c, i, i.rm >= 0 ? i.size : 2, v, 0);
}

export function pushSeg(c: Cpu, i: Insn): void {
  push(c, i.size, c.segSel[i.reg], 0);
}

export function popSeg(c: Cpu, i: Insn): void {
  const sel = pop(c, i.size) & 0xffff;
  loadSegment(c, i.reg, sel);
  if (i.endsBlock) { c.ip[0] = i.nextLo; c.ip[1] = i.nextHi; }
}

/** LDS/LES/LSS/LFS/LGS reg, m16:16/32/64 */
export function loadFarPointer(c: Cpu, i: Insn): void {
  effectiveAddress(c, i, i.size + 2);
  const size = i.size;
  const off = size === 8 ? c.read64(c.eaLo, c.eaHi) : c.read(c.eaLo, c.eaHi, size);
  const offHi = size === 8 ? c.hi : 0;
  const sel = c.read((c.eaLo + size) | 0, c.eaHi, 2);
  loadSegment(c, i.cc, sel);
  writeReg(c, i.reg, size, off, offHi);
}

/** PUSHA/PUSHAD */
export function pusha(c: Cpu, i: Insn): void {
  const sp = readReg(c, 4, i.size);
  for (const reg of [0, 1, 2, 3]) push(c, i.size, readReg(c, reg, i.size), 0);
  push(c, i.size, sp, 0);
  for (const reg of [5, 6, 7]) push(c, i.size, readReg(c, reg, i.size), 0);
}

/** POPA/POPAD: the saved SP is skipped */
export function popa(c: Cpu, i: Insn): void {
  for (const reg of [7, 6, 5, -1, 3, 2, 1, 0]) {
    const v = pop(c, i.size);
    if (reg >= 0) writeReg(c, reg, i.size, v, 0);
  }
}

/** ARPL r/m16, r16 */
export function arpl(c: Cpu, i: Insn): void {
  if (realOrV86(c)) throw new CpuFault(Vector.UD, -1, 'ARPL in real mode');
  const dst = readRm(c, i, 2);
  const src = readReg(c, i.reg, 2);
  const f = getStatusFlags(c) & ~Flag.ZF;
  if ((dst & 3) < (src & 3)) {
    writeRm(c, i, 2, (dst & ~3) | (src & 3), 0);
    setStatusFlags(c, f | Flag.ZF);
  } else setStatusFlags(c, f);
}

// ---- simple ones ---------------------------------------------------------------------

export function nop(): void { /* no operation */ }

export function pause(c: Cpu, i: Insn): void {
  if (c.interceptHere(Intercept.PAUSE, i)) return;
}

export function fwait(c: Cpu): void {
  if ((c.cr0 & 0xa) === 0xa) throw new CpuFault(Vector.NM, -1, 'WAIT with CR0.MP and CR0.TS set');
}

export function int1(c: Cpu, i: Insn): void {
  c.intercept(Intercept.EXCEPTION, i); // the VMX exception bitmap sees it as a privileged software exception
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
  throw new CpuFault(Vector.DB, -1, 'INT1');
}

export function clts(c: Cpu, i: Insn): void {
  requireCpl0(c, 'CLTS');
  if (c.interceptHere(Intercept.CR_WRITE, i)) return;
  if ((c.cr0Mask & 8) === 0) c.cr0 &= ~8; // a masked TS belongs to the VMM (SDM Vol. 3C, 26.3)
}

export function invd(c: Cpu, i: Insn): void {
  requireCpl0(c, 'INVD');
  if (c.interceptHere(Intercept.INVD, i)) return;
}

export function wbinvd(c: Cpu, i: Insn): void {
  requireCpl0(c, 'WBINVD');
  if (c.interceptHere(Intercept.WBINVD, i)) return;
}

// ---- CPUID, MSRs, TSC ------------------------------------------------------------------

export function cpuid(c: Cpu, i: Insn): void {
  if (c.interceptHere(Intercept.CPUID, i)) return;
  const [a, b, cx, d] = cpuidLookup(c.cpuidTable, c.r[0], c.r[2]);
  const r = c.r;
  r[0] = a; r[1] = 0; r[6] = b; r[7] = 0; r[2] = cx; r[3] = 0; r[4] = d; r[5] = 0;
}

export function rdmsr(c: Cpu, i: Insn): void {
  requireCpl0(c, 'RDMSR');
  if (c.interceptHere(Intercept.MSR_READ, i)) return;
  let v: bigint;
  try {
    v = c.msrs.rdmsr(c.r[2] >>> 0);
  } catch (e) {
    if (e instanceof MsrAccessError) throw new CpuFault(Vector.GP, 0, e.message);
    throw e;
  }
  c.r[0] = Number(v & 0xffffffffn) | 0; c.r[1] = 0;
  c.r[4] = Number(v >> 32n) | 0; c.r[5] = 0;
}

export function wrmsr(c: Cpu, i: Insn): void {
  requireCpl0(c, 'WRMSR');
  if (c.interceptHere(Intercept.MSR_WRITE, i)) return;
  const v = (BigInt(c.r[4] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
  // RIP names the writing instruction while the MSR file's write hook runs (a debugger says where)
  c.ip[0] = i.ripLo; c.ip[1] = i.ripHi;
  try {
    c.msrs.wrmsr(c.r[2] >>> 0, v);
  } catch (e) {
    if (e instanceof MsrAccessError) throw new CpuFault(Vector.GP, 0, e.message);
    throw e;
  }
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

export function rdtsc(c: Cpu, i: Insn): void {
  loadTsc(c, i);
}

/** EDX:EAX = TSC; false when a VM-exit point stopped the instruction first. */
function loadTsc(c: Cpu, i: Insn): boolean {
  if ((c.cr4 & 4) !== 0 && c.cpl !== 0 && (c.cr0 & 1) !== 0) throw new CpuFault(Vector.GP, 0, 'RDTSC with CR4.TSD at CPL > 0');
  if (c.interceptHere(Intercept.RDTSC, i)) return false;
  const t = c.tsc();
  c.r[0] = Number(t & 0xffffffffn) | 0; c.r[1] = 0;
  c.r[4] = Number((t >> 32n) & 0xffffffffn) | 0; c.r[5] = 0;
  return true;
}

export function rdpmc(c: Cpu, i: Insn): void {
  if ((c.cr4 & 0x100) === 0 && c.cpl !== 0 && (c.cr0 & 1) !== 0) throw new CpuFault(Vector.GP, 0, 'RDPMC with CR4.PCE clear at CPL > 0');
  if (c.interceptHere(Intercept.RDPMC, i)) return;
  throw new CpuFault(Vector.GP, 0, 'no performance counters are implemented');
}

/** RDRAND/RDSEED: deterministic values from the instruction count, CF=1 */
export function rdrand(c: Cpu, i: Insn): void {
  if (c.interceptHere(Intercept.RDRAND, i)) return;
  let x = BigInt(c.icount) * 0x9e3779b97f4a7c15n + 0x632be59bd9b4e019n;
  x = BigInt.asUintN(64, (x ^ (x >> 31n)) * 0xbf58476d1ce4e5b9n);
  writeReg(c, i.rm, i.size, Number(x & 0xffffffffn) | 0, Number(x >> 32n) | 0);
  setStatusFlags(c, Flag.CF);
}

// ---- I/O ----------------------------------------------------------------------------

export function inPort(c: Cpu, i: Insn): void {
  const port = i.immLo >= 0 ? i.immLo : c.r[4] & 0xffff;
  checkIoPermission(c, port, i.size);
  if (c.interceptHere(Intercept.IO, i)) return;
  writeReg(c, 0, i.size, c.io.read(port, i.size), 0);
}

export function outPort(c: Cpu, i: Insn): void {
  const port = i.immLo >= 0 ? i.immLo : c.r[4] & 0xffff;
  checkIoPermission(c, port, i.size);
  if (c.interceptHere(Intercept.IO, i)) return;
  c.io.write(port, i.size, readReg(c, 0, i.size));
}

// ---- control and debug registers --------------------------------------------------------

/** MOV CR: i.cc 0 = read (0F 20), 2 = write (0F 22) */
export function movCr(c: Cpu, i: Insn): void {
  requireCpl0(c, 'MOV CR');
  const n = i.reg;
  if (![0, 2, 3, 4, 8].includes(n)) throw new CpuFault(Vector.UD, -1, `CR${n} does not exist`);
  if (i.cc === 0) {
    if (c.interceptHere(Intercept.CR_READ, i)) return;
    const v = n === 0 ? BigInt(c.readCr0()) : n === 2 ? c.cr2 : n === 3 ? c.cr3 : n === 4 ? BigInt(c.readCr4()) : BigInt(c.cr8);
    writeReg(c, i.rm, i.size, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    return;
  }
  if (c.interceptHere(Intercept.CR_WRITE, i)) return;
  const lo = readReg(c, i.rm, i.size), hi = i.size === 8 ? c.hi : 0;
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  c.writeCr(n, v);
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

export function movDr(c: Cpu, i: Insn): void {
  requireCpl0(c, 'MOV DR');
  let n = i.reg;
  if (n > 7) throw new CpuFault(Vector.UD, -1, `DR${n} does not exist`);
  if ((n === 4 || n === 5)) {
    if ((c.cr4 & 8) !== 0) throw new CpuFault(Vector.UD, -1, 'DR4/DR5 with CR4.DE set');
    n += 2;
  }
  if (c.interceptHere(Intercept.DR_ACCESS, i)) return;
  if (i.cc === 1) {
    const v = c.dr[n];
    writeReg(c, i.rm, i.size, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    return;
  }
  const lo = readReg(c, i.rm, i.size), hi = i.size === 8 ? c.hi : 0;
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  if ((n === 6 || n === 7) && (v >> 32n) !== 0n) throw new CpuFault(Vector.GP, 0, `reserved bits in DR${n}`);
  c.dr[n] = n === 6 ? (v | 0xffff0ff0n) & 0xffffffffn : n === 7 ? (v | 0x400n) & 0xffffffffn : v;
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

// ---- 0F 00 / 0F 01 groups ----------------------------------------------------------------

function descriptorTableStore(c: Cpu, i: Insn, which: 'gdtr' | 'idtr'): void {
  if (c.interceptHere(Intercept.DESCRIPTOR_TABLE, i)) return;
  effectiveAddress(c, i);
  const limit = which === 'gdtr' ? c.gdtrLimit : c.idtrLimit;
  const base = which === 'gdtr' ? c.gdtrBase : c.idtrBase;
  c.write(c.eaLo, c.eaHi, 2, limit);
  const a = (c.eaLo + 2) | 0;
  if (c.in64BitMode) c.write64(a, c.eaHi, Number(base & 0xffffffffn) | 0, Number(base >> 32n) | 0);
  else c.write(a, c.eaHi, 4, Number(base & 0xffffffffn) | 0);
}

function descriptorTableLoad(c: Cpu, i: Insn, which: 'gdtr' | 'idtr'): void {
  requireCpl0(c, which === 'gdtr' ? 'LGDT' : 'LIDT');
  if (c.interceptHere(Intercept.DESCRIPTOR_TABLE, i)) return;
  effectiveAddress(c, i);
  const limit = c.read(c.eaLo, c.eaHi, 2);
  const a = (c.eaLo + 2) | 0;
  let base: bigint;
  if (c.in64BitMode) {
    const lo = c.read64(a, c.eaHi);
    base = (BigInt(c.hi >>> 0) << 32n) | BigInt(lo >>> 0);
  } else {
    base = BigInt(c.read(a, c.eaHi, 4) >>> 0);
    if (i.size === 2) base &= 0xffffffn;
  }
  if (which === 'gdtr') { c.gdtrBase = base; c.gdtrLimit = limit; } else { c.idtrBase = base; c.idtrLimit = limit; }
}

function lldtLtr(c: Cpu, i: Insn, tr: boolean): void {
  if (realOrV86(c)) throw new CpuFault(Vector.UD, -1, tr ? 'LTR in real mode' : 'LLDT in real mode');
  requireCpl0(c, tr ? 'LTR' : 'LLDT');
  if (c.interceptHere(Intercept.DESCRIPTOR_TABLE, i)) return;
  const sel = readRm(c, i, 2);
  const seg = tr ? Seg.TR : Seg.LDTR;
  if ((sel & 0xfffc) === 0) {
    if (tr) throw new CpuFault(Vector.GP, 0, 'LTR with a null selector');
    c.segSel[seg] = sel; c.segAr[seg] = Ar.UNUSABLE; return;
  }
  if (sel & 4) throw new CpuFault(Vector.GP, sel & 0xfffc, 'selector in the LDT');
  const d = readDescriptor(c, sel);
  const ar = descriptorAr(d);
  const type = ar & 0xf;
  if ((ar & Ar.S) !== 0 || (tr ? type !== 9 && type !== 1 : type !== 2)) throw new CpuFault(Vector.GP, sel & 0xfffc, tr ? 'not an available TSS' : 'not an LDT descriptor');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, sel & 0xfffc, 'not present');
  let upper = 0;
  if (c.longModeActive) {
    const base = (sel & 0xfff8) + 8;
    upper = readSystem32(c, (Number(c.gdtrBase & 0xffffffffn) + base) | 0, Number(c.gdtrBase >> 32n) | 0);
  }
  loadSegmentCache(c, seg, sel, d, upper);
  if (tr) {
    // mark busy in the descriptor and the cache
    d.hi |= 0x200;
    c.segAr[seg] |= 2;
    const addr = c.gdtrBase + BigInt((sel & 0xfff8) + 4);
    c.write(Number(addr & 0xffffffffn) | 0, Number(addr >> 32n) | 0, 4, d.hi);
  }
}

export function decodeSystemGroup(d: { mode: number; rex: number; next(): number; src: { byte(k: number): number }; k: number }, i: Insn, b: number, modrm: (byteOps: boolean) => void, vsz: number): void {
  const set = (m: string, f: string, h: Handler, ends = false) => { i.mnemonic = m; i.form = f; i.exec = h; i.endsBlock = ends; };
  const m = d.src.byte(d.k);
  const mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
  if (b === 0x00) {
    i.size = vsz;
    modrm(false);
    switch (reg) {
      case 0: set('sldt', 'Ewv', (c, x) => { if (c.interceptHere(Intercept.DESCRIPTOR_TABLE, x)) return; writeRm(c, x, x.rm >= 0 ? x.size : 2, c.segSel[Seg.LDTR], 0); }); return;
      case 1: set('str', 'Ewv', (c, x) => { if (c.interceptHere(Intercept.DESCRIPTOR_TABLE, x)) return; writeRm(c, x, x.rm >= 0 ? x.size : 2, c.segSel[Seg.TR], 0); }); return;
      case 2: set('lldt', 'Ew', (c, x) => lldtLtr(c, x, false)); return;
      case 3: set('ltr', 'Ew', (c, x) => lldtLtr(c, x, true)); return;
      case 4: case 5: set(reg === 4 ? 'verr' : 'verw', 'Ew', reg === 4 ? verr : verw); return;
      default: return;
    }
  }
  // 0F 01
  if (mod === 3) {
    d.next();
    const key = (reg << 3) | rm;
    switch (key) {
      case 0o01: set('vmcall', '', vmxInstruction); i.endsBlock = true; return;
      case 0o02: set('vmlaunch', '', vmxInstruction, true); return;
      case 0o03: set('vmresume', '', vmxInstruction, true); return;
      case 0o04: set('vmxoff', '', vmxInstruction, true); return;
      case 0o10: set('monitor', '', monitorMwait); return;
      case 0o11: set('mwait', '', monitorMwait); return;
      case 0o12: set('clac', '', (c) => { requireCpl0(c, 'CLAC'); c.flagsOther &= ~Flag.AC; }); return;
      case 0o13: set('stac', '', (c) => { requireCpl0(c, 'STAC'); c.flagsOther |= Flag.AC; }); return;
      case 0o20: set('xgetbv', '', xgetbv); return;
      case 0o21: set('xsetbv', '', xsetbv); return;
      case 0o24: set('vmfunc', '', vmxInstruction); return;
      case 0o70: set('swapgs', '', swapgs); return;
      case 0o71: set('rdtscp', '', rdtscp); return;
      default:
        if (reg === 4) { i.size = vsz; i.rm = rm | ((d.rex & 1) << 3); set('smsw', 'Rv', smsw); return; }
        if (reg === 6) { i.size = 2; i.rm = rm | ((d.rex & 1) << 3); set('lmsw', 'Ew', lmsw, true); return; }
        return;
    }
  }
  i.size = vsz;
  modrm(false);
  switch (reg) {
    case 0: set('sgdt', 'M', (c, x) => descriptorTableStore(c, x, 'gdtr')); return;
    case 1: set('sidt', 'M', (c, x) => descriptorTableStore(c, x, 'idtr')); return;
    case 2: set('lgdt', 'M', (c, x) => descriptorTableLoad(c, x, 'gdtr')); return;
    case 3: set('lidt', 'M', (c, x) => descriptorTableLoad(c, x, 'idtr')); return;
    case 4: i.size = 2; set('smsw', 'Ew', smsw); return;
    case 6: i.size = 2; set('lmsw', 'Ew', lmsw, true); return;
    case 7: set('invlpg', 'M', invlpg, true); return;
    default: return;
  }
}

function smsw(c: Cpu, i: Insn): void {
  if (c.interceptHere(Intercept.CR_READ, i)) return;
  writeRm(c, i, i.size, i.size === 2 ? c.readCr0() & 0xffff : c.readCr0() | 0, 0);
}

/** LMSW: loads CR0[3:0]; can set PE but never clear it */
function lmsw(c: Cpu, i: Insn): void {
  requireCpl0(c, 'LMSW');
  if (c.interceptHere(Intercept.CR_WRITE, i)) return;
  const v = readRm(c, i, 2);
  const next = (c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & 1);
  c.writeCr(0, BigInt(next >>> 0));
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

function invlpg(c: Cpu, i: Insn): void {
  requireCpl0(c, 'INVLPG');
  if (c.interceptHere(Intercept.INVLPG, i)) return;
  effectiveAddress(c, i);
  c.invalidatePage(c.eaLo, c.eaHi);
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

function swapgs(c: Cpu, i: Insn): void {
  if (!c.in64BitMode) throw new CpuFault(Vector.UD, -1, 'SWAPGS outside 64-bit mode');
  requireCpl0(c, 'SWAPGS');
  const kernel = c.msrs.rdmsr(0xc0000102);
  // as in WRMSR: RIP names the writer for the MSR file's write hook (the block end moves it on)
  c.ip[0] = i.ripLo; c.ip[1] = i.ripHi;
  c.msrs.wrmsr(0xc0000102, c.segmentBase(Seg.GS));
  c.setSegmentBase(Seg.GS, kernel);
}

function rdtscp(c: Cpu, i: Insn): void {
  if (!loadTsc(c, i)) return;
  const aux = c.msrs.rdmsr(0xc0000103);
  c.r[2] = Number(aux & 0xffffffffn) | 0;
  c.r[3] = 0;
}

function xgetbv(c: Cpu): void {
  if ((c.cr4 & (1 << 18)) === 0) throw new CpuFault(Vector.UD, -1, 'XGETBV with CR4.OSXSAVE clear');
  if ((c.r[2] >>> 0) !== 0) throw new CpuFault(Vector.GP, 0, 'XCR index other than 0');
  c.r[0] = Number(c.xcr0 & 0xffffffffn) | 0; c.r[1] = 0;
  c.r[4] = Number(c.xcr0 >> 32n) | 0; c.r[5] = 0;
}

/** XSETBV: XCR0 bit 0 (x87) must stay 1 and only states this CPU reports may be set */
function xsetbv(c: Cpu, i: Insn): void {
  if ((c.cr4 & (1 << 18)) === 0) throw new CpuFault(Vector.UD, -1, 'XSETBV with CR4.OSXSAVE clear');
  requireCpl0(c, 'XSETBV'); // a fault based on privilege level comes before the VM exit (SDM Vol. 3C, 26.1.1)
  if (c.interceptHere(Intercept.XSETBV, i)) return;
  const v = (BigInt(c.r[4] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
  if ((c.r[2] >>> 0) !== 0 || (v & 1n) === 0n || (v & ~1n) !== 0n) throw new CpuFault(Vector.GP, 0, 'invalid XCR0 value');
  c.xcr0 = v;
}

function monitorMwait(c: Cpu, i: Insn): void {
  // #UD when CPUID.01H:ECX.MONITOR is 0, and #UD comes before VM exits (SDM Vol. 3C, 26.1.1)
  if ((cpuidLookup(c.cpuidTable, 1, 0)[2] & (1 << 3)) === 0) throw new CpuFault(Vector.UD, -1, 'MONITOR/MWAIT are not reported by CPUID');
  if (c.interceptHere(Intercept.MONITOR_MWAIT, i)) return;
  throw new CpuFault(Vector.UD, -1, 'MONITOR/MWAIT are not emulated yet');
}

/** VMX instructions: carried out by the VMX core (src/hardware/vmx/); #UD on a processor without one */
export function vmxInstruction(c: Cpu, i: Insn): void {
  if (c.vmx !== undefined) c.vmx.execute(c, i);
  else throw new CpuFault(Vector.UD, -1, `${i.mnemonic}: this processor has no VMX`);
}

/** 0F C7 /6 and /7 with a memory operand: F3 selects VMXON, 66 VMCLEAR, none VMPTRLD (SDM Vol. 3C, 31.3). */
export function decodeVmxGroup9(i: Insn, has66: boolean): void {
  const names = ['', '', '', '', '', '', i.rep === 0xf3 ? 'vmxon' : has66 ? 'vmclear' : i.rep === 0 ? 'vmptrld' : '', 'vmptrst'];
  const name = names[i.cc];
  if (name !== '' && i.rm < 0) { i.mnemonic = name; i.form = 'M'; i.exec = vmxInstruction; }
}

export function decodeTwoByteSystem(d: { mode: number }, i: Insn, b: number, modrm: () => void, vsz: number): void {
  if (b === 0x78 || b === 0x79) { i.size = d.mode === 64 ? 8 : 4; modrm(); i.mnemonic = b === 0x78 ? 'vmread' : 'vmwrite'; i.form = b === 0x78 ? 'Ey,Gy' : 'Gy,Ey'; i.exec = vmxInstruction; return; }
  void vsz;
}

// ---- SYSCALL / SYSRET ---------------------------------------------------------------

export function syscall(c: Cpu, i: Insn): void {
  if (!c.in64BitMode || (c.efer & 1) === 0) throw new CpuFault(Vector.UD, -1, 'SYSCALL outside 64-bit mode or with EFER.SCE clear');
  const star = c.msrs.rdmsr(0xc0000081);
  const lstar = c.msrs.rdmsr(0xc0000082);
  const fmask = Number(c.msrs.rdmsr(0xc0000084) & 0xffffffffn);
  c.r[2] = i.nextLo; c.r[3] = i.nextHi; // RCX = return RIP
  const flags = getRflags(c);
  c.r[22] = flags; c.r[23] = 0; // R11 = RFLAGS
  const sel = Number((star >> 32n) & 0xfffcn);
  c.segSel[Seg.CS] = sel;
  c.segBase[2] = 0; c.segBase[3] = 0;
  c.segLimit[Seg.CS] = 0xffffffff;
  c.segAr[Seg.CS] = 0xb | Ar.S | Ar.P | Ar.L | Ar.G;
  c.segSel[Seg.SS] = sel + 8;
  c.segBase[4] = 0; c.segBase[5] = 0;
  c.segLimit[Seg.SS] = 0xffffffff;
  c.segAr[Seg.SS] = 0x3 | Ar.S | Ar.P | Ar.DB | Ar.G;
  c.cpl = 0;
  setRflags(c, flags & ~fmask & ~Flag.RF);
  c.rip = lstar;
}

export function sysret(c: Cpu, i: Insn): void {
  if (!c.in64BitMode || (c.efer & 1) === 0) throw new CpuFault(Vector.UD, -1, 'SYSRET outside 64-bit mode or with EFER.SCE clear');
  requireCpl0(c, 'SYSRET');
  const star = c.msrs.rdmsr(0xc0000081);
  const base = Number((star >> 48n) & 0xffffn);
  if (i.size === 8) {
    if (((c.r[3] << 16) >> 16) !== c.r[3]) throw new CpuFault(Vector.GP, 0, 'SYSRET to a non-canonical RIP');
    c.ip[0] = c.r[2]; c.ip[1] = c.r[3];
    c.segSel[Seg.CS] = (base + 16) | 3;
    c.segAr[Seg.CS] = 0xb | Ar.S | Ar.P | Ar.L | Ar.G | (3 << Ar.DPL_SHIFT);
  } else {
    c.ip[0] = c.r[2]; c.ip[1] = 0;
    c.segSel[Seg.CS] = base | 3;
    c.segAr[Seg.CS] = 0xb | Ar.S | Ar.P | Ar.DB | Ar.G | (3 << Ar.DPL_SHIFT);
  }
  c.segBase[2] = 0; c.segBase[3] = 0;
  c.segLimit[Seg.CS] = 0xffffffff;
  c.segSel[Seg.SS] = (base + 8) | 3;
  // the SS cache is fixed too: flat, writable, DPL 3, B = 1 (SDM Vol. 2B SYSRET operation)
  c.segBase[2 * Seg.SS] = 0; c.segBase[2 * Seg.SS + 1] = 0;
  c.segLimit[Seg.SS] = 0xffffffff;
  c.segAr[Seg.SS] = 0x3 | Ar.S | Ar.P | Ar.DB | Ar.G | (3 << Ar.DPL_SHIFT);
  c.cpl = 3;
  setRflags(c, (c.r[22] & 0x3c7fd7) | 2);
}

// ---- 0F 38 ------------------------------------------------------------------------------

/** MOVBE: load or store with bytes reversed */
export function movbe(c: Cpu, i: Insn): void {
  const swap32 = (v: number) => ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) | 0;
  if (i.cc === 0) {
    const lo = readRm(c, i, i.size), hi = c.hi;
    if (i.size === 8) writeReg(c, i.reg, 8, swap32(hi), swap32(lo));
    else if (i.size === 4) writeReg(c, i.reg, 4, swap32(lo), 0);
    else writeReg(c, i.reg, 2, ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff), 0);
  } else {
    const lo = readReg(c, i.reg, i.size), hi = c.hi;
    if (i.size === 8) writeRm(c, i, 8, swap32(hi), swap32(lo));
    else if (i.size === 4) writeRm(c, i, 4, swap32(lo), 0);
    else writeRm(c, i, 2, ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff), 0);
  }
}

/** ADCX (CF) and ADOX (OF): add with carry through one flag, others unchanged */
export function adcxAdox(c: Cpu, i: Insn): void {
  const flag = i.cc === 0 ? Flag.CF : Flag.OF;
  const f = getStatusFlags(c);
  const cin = (f & flag) !== 0 ? 1n : 0n;
  const size = i.size;
  const aLo = readReg(c, i.reg, size), aHi = c.hi;
  const bLo = readRm(c, i, size), bHi = c.hi;
  const a = size === 8 ? (BigInt(aHi >>> 0) << 32n) | BigInt(aLo >>> 0) : BigInt(aLo >>> 0);
  const b = size === 8 ? (BigInt(bHi >>> 0) << 32n) | BigInt(bLo >>> 0) : BigInt(bLo >>> 0);
  const s = a + b + cin;
  const bits = BigInt(size * 8);
  const out = s >> bits;
  const r = BigInt.asUintN(size * 8, s);
  writeReg(c, i.reg, size, Number(r & 0xffffffffn) | 0, Number(r >> 32n) | 0);
  setStatusFlags(c, out !== 0n ? f | flag : f & ~flag);
}
