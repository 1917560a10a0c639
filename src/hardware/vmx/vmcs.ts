// The current VMCS as the processor holds it, and its region in physical memory.
//
// SDM Vol. 3C, 25.2: the VMCS region starts with the revision identifier (bits 30:0, bit 31
// the shadow-VMCS indicator) and the VMX-abort indicator; the layout of the rest is the
// processor's own. Ours: each field of Appendix B in a fixed 8-byte slot (the order of
// VMCS_FIELDS) from offset 8, then the launch state. Like real hardware, the processor works
// on a cached copy; VMCLEAR (and loading another VMCS) writes it back, VMPTRLD reads it.

import { VMCS_FIELDS, VmcsFieldName, vmcsFieldByEncoding } from '../../vmx/vmcs-fields';
import type { PhysicalMemory } from '../memory';

/** Slot index of each field by name: `F.GUEST_RIP`. */
export const F: { readonly [K in VmcsFieldName]: number } = Object.freeze(
  Object.fromEntries(VMCS_FIELDS.map((f, i) => [f.name, i])),
) as { readonly [K in VmcsFieldName]: number };

export const FIELD_COUNT = VMCS_FIELDS.length;
const GUEST_ES_SELECTOR = F.GUEST_ES_SELECTOR, GUEST_ES_BASE = F.GUEST_ES_BASE, GUEST_ES_LIMIT = F.GUEST_ES_LIMIT, GUEST_ES_AR_BYTES = F.GUEST_ES_AR_BYTES;
const DATA_OFFSET = 8;
const LAUNCH_STATE_OFFSET = DATA_OFFSET + 8 * FIELD_COUNT;
export const LAUNCH_STATE_CLEAR = 0;
export const LAUNCH_STATE_LAUNCHED = 1;

const TWO32 = 4294967296;
/** High words below this make a value below 2^53, exact as a double. */
const SAFE_HI = 0x200000;
const SAFE_BIG = 1n << 53n;

/** Width of each slot in bits: 16, 32, 64, or 0 for natural width. */
const SLOT_BITS = Int8Array.from(VMCS_FIELDS, (f) => (f.width === 'natural' ? 0 : Number(f.width)));
const READ_ONLY = Uint8Array.from(VMCS_FIELDS, (f) => (f.type === 'readonly' ? 1 : 0));
/**
 * Guest-state fields VM entry checks on every entry (entry-checks.ts, checkVolatileGuestState),
 * or that no check reads: every exit saves them anew, so they do not count as changes.
 */
const VOLATILE_GUEST: ReadonlySet<string> = new Set(['GUEST_RIP', 'GUEST_RSP', 'GUEST_RFLAGS', 'GUEST_ACTIVITY_STATE',
  'GUEST_INTERRUPTIBILITY_INFO', 'VMX_PREEMPTION_TIMER_VALUE']);
/** Which change counter a slot's changes bump: 1 controlVersion (control and host state, read by 27.2), 2 guestVersion, 0 none. */
const SLOT_CLASS = Uint8Array.from(VMCS_FIELDS, (f) => (f.type === 'control' || f.type === 'host' ? 1 : f.type === 'guest' && !VOLATILE_GUEST.has(f.name) ? 2 : 0));

const SLOT_OF_ENCODING = new Map<number, number>(VMCS_FIELDS.map((f, i) => [f.encoding, i]));

/** Word indices of the exit-information fields setExitInformation writes. */
const X_REASON = 2 * F.VM_EXIT_REASON, X_QUALIFICATION = 2 * F.EXIT_QUALIFICATION, X_LENGTH = 2 * F.VM_EXIT_INSTRUCTION_LEN,
  X_INSTRUCTION_INFO = 2 * F.VMX_INSTRUCTION_INFO, X_LINEAR = 2 * F.GUEST_LINEAR_ADDRESS, X_PHYSICAL = 2 * F.GUEST_PHYSICAL_ADDRESS,
  X_INTR_INFO = 2 * F.VM_EXIT_INTR_INFO, X_INTR_ERROR = 2 * F.VM_EXIT_INTR_ERROR_CODE,
  X_VECTORING_INFO = 2 * F.IDT_VECTORING_INFO_FIELD, X_VECTORING_ERROR = 2 * F.IDT_VECTORING_ERROR_CODE;
/** Word indices of the guest-state fields saveGuestWords writes. */
const G_CR0 = 2 * F.GUEST_CR0, G_CR4 = 2 * F.GUEST_CR4, G_GDTR_LIMIT = 2 * F.GUEST_GDTR_LIMIT, G_IDTR_LIMIT = 2 * F.GUEST_IDTR_LIMIT,
  G_PENDING_DBG = 2 * F.GUEST_PENDING_DBG_EXCEPTIONS, G_RSP = 2 * F.GUEST_RSP, G_RIP = 2 * F.GUEST_RIP, G_RFLAGS = 2 * F.GUEST_RFLAGS,
  G_INTERRUPTIBILITY = 2 * F.GUEST_INTERRUPTIBILITY_INFO, G_ACTIVITY = 2 * F.GUEST_ACTIVITY_STATE;
// saveGuestWords counts changes to the first five as guest-state changes and stores the others uncounted
for (const x of [G_CR0, G_CR4, G_GDTR_LIMIT, G_IDTR_LIMIT, G_PENDING_DBG]) {
  if (SLOT_CLASS[x / 2] !== 2) throw new Error(`VMCS slot ${x / 2} is not a counted guest-state field`);
}
for (const x of [G_RSP, G_RIP, G_RFLAGS, G_INTERRUPTIBILITY, G_ACTIVITY, X_REASON, X_QUALIFICATION, X_LENGTH, X_INSTRUCTION_INFO, X_LINEAR, X_PHYSICAL, X_INTR_INFO, X_INTR_ERROR, X_VECTORING_INFO, X_VECTORING_ERROR]) {
  // stored without counting changes: right only for fields no counter counts
  if (SLOT_CLASS[x / 2] !== 0) throw new Error(`VMCS slot ${x / 2} is counted by a change counter`);
}

/** Resolves an encoding to a slot; `high` when it names a 64-bit field's high half. */
export function slotOfEncoding(encoding: number): { slot: number; high: boolean } | undefined {
  const code = slotCodeOfEncoding(encoding);
  return code < 0 ? undefined : { slot: code >> 1, high: (code & 1) !== 0 };
}

/**
 * Slot code + 1 by encoding for every field and 64-bit high half (0: look it up): encodings are
 * 15-bit (Appendix B), and a table index is cheaper than a Map on the exit path.
 */
const CODE_BY_ENCODING = new Int16Array(0x8000);
VMCS_FIELDS.forEach((f, i) => {
  CODE_BY_ENCODING[f.encoding] = 2 * i + 1;
  if (f.width === '64') CODE_BY_ENCODING[f.encoding | 1] = 2 * i + 2;
});

/** slotOfEncoding without allocating (VMREAD/VMWRITE on the exit path): slot * 2 + 1 for a high half, -1 unsupported. */
export function slotCodeOfEncoding(encoding: number): number {
  if (encoding >= 0 && encoding < 0x8000) {
    const known = CODE_BY_ENCODING[encoding];
    if (known !== 0) return known - 1;
  }
  const exact = SLOT_OF_ENCODING.get(encoding);
  if (exact !== undefined) return exact * 2;
  const a = vmcsFieldByEncoding(encoding);
  if (a === undefined) return -1;
  const slot = SLOT_OF_ENCODING.get(a.field.encoding);
  return slot === undefined ? -1 : slot * 2 + (a.high ? 1 : 0);
}

export function slotIsReadOnly(slot: number): boolean {
  return READ_ONLY[slot] === 1;
}

/** The working copy of one VMCS: every field as a pair of 32-bit words. */
export class VmcsData {
  readonly w = new Int32Array(2 * FIELD_COUNT);
  launchState = LAUNCH_STATE_CLEAR;
  /**
   * Bumped whenever a control or host-state field changes (or the VMCS is reloaded), so VM
   * entry can skip re-checking an unchanged set (the checks are a pure function of them).
   */
  controlVersion = 0;
  /**
   * Bumped whenever a guest-state field changes that only the full guest-state checks read
   * (every guest field but those in VOLATILE_GUEST), or the VMCS is reloaded.
   */
  guestVersion = 0;

  /** Low 32 bits of a field (16- and 32-bit fields are all of it). */
  lo(slot: number): number {
    return this.w[2 * slot];
  }

  hi(slot: number): number {
    return this.w[2 * slot + 1];
  }

  set(slot: number, lo: number, hi = 0): void {
    const bits = SLOT_BITS[slot];
    const l = bits === 16 ? lo & 0xffff : lo | 0;
    const h = bits === 16 || bits === 32 ? 0 : hi | 0;
    const cls = SLOT_CLASS[slot];
    if (cls !== 0 && (this.w[2 * slot] !== l || this.w[2 * slot + 1] !== h)) {
      if (cls === 1) this.controlVersion++; else this.guestVersion++;
    }
    this.w[2 * slot] = l;
    this.w[2 * slot + 1] = h;
  }

  /**
   * `set` for a value the caller has already cut to the field's width (int32 words): small enough
   * to inline where VM exit saves the guest-state area field by field.
   */
  setWords(slot: number, lo: number, hi: number): void {
    const i = 2 * slot, w = this.w;
    if (w[i] === lo && w[i + 1] === hi) return;
    w[i] = lo;
    w[i + 1] = hi;
    const cls = SLOT_CLASS[slot];
    if (cls === 1) this.controlVersion++; else if (cls === 2) this.guestVersion++;
  }

  /**
   * The guest-state fields of 28.3 that VM exit saves from 32-bit processor values, in straight
   * stores: RSP, RIP, RFLAGS, interruptibility and activity state (fields VM entry checks every
   * time, counted by no counter) and CR0, CR4, the GDTR and IDTR limits and the pending debug
   * exceptions (cleared), which count as a guest-state change when they differ.
   */
  saveGuestWords(cr0: number, cr4: number, gdtrLimit: number, idtrLimit: number, rspLo: number, rspHi: number,
    ripLo: number, ripHi: number, rflags: number, interruptibility: number, activity: number): void {
    const w = this.w;
    if (w[G_CR0] !== cr0 || w[G_CR0 + 1] !== 0 || w[G_CR4] !== cr4 || w[G_CR4 + 1] !== 0 || w[G_GDTR_LIMIT] !== gdtrLimit ||
      w[G_IDTR_LIMIT] !== idtrLimit || w[G_PENDING_DBG] !== 0 || w[G_PENDING_DBG + 1] !== 0) {
      w[G_CR0] = cr0; w[G_CR0 + 1] = 0;
      w[G_CR4] = cr4; w[G_CR4 + 1] = 0;
      w[G_GDTR_LIMIT] = gdtrLimit;
      w[G_IDTR_LIMIT] = idtrLimit;
      w[G_PENDING_DBG] = 0; w[G_PENDING_DBG + 1] = 0;
      this.guestVersion++;
    }
    w[G_RSP] = rspLo; w[G_RSP + 1] = rspHi;
    w[G_RIP] = ripLo; w[G_RIP + 1] = ripHi;
    w[G_RFLAGS] = rflags; w[G_RFLAGS + 1] = 0;
    w[G_INTERRUPTIBILITY] = interruptibility; w[G_INTERRUPTIBILITY + 1] = 0;
    w[G_ACTIVITY] = activity; w[G_ACTIVITY + 1] = 0;
  }

  /**
   * The 32-bit exit-information fields a VM exit writes (28.2), with the high words of the
   * 64-bit qualification and addresses zeroed: straight stores, since no change counter counts
   * these read-only fields (the caller stores a 64-bit value given as a BigInt after).
   */
  setExitInformation(reason: number, qualification: number, length: number, instructionInfo: number,
    interruptionInfo: number, interruptionError: number, vectoringInfo: number, vectoringError: number): void {
    const w = this.w;
    w[X_REASON] = reason; w[X_REASON + 1] = 0;
    w[X_QUALIFICATION] = qualification; w[X_QUALIFICATION + 1] = 0;
    w[X_LENGTH] = length; w[X_LENGTH + 1] = 0;
    w[X_INSTRUCTION_INFO] = instructionInfo; w[X_INSTRUCTION_INFO + 1] = 0;
    w[X_LINEAR] = 0; w[X_LINEAR + 1] = 0;
    w[X_PHYSICAL] = 0; w[X_PHYSICAL + 1] = 0;
    w[X_INTR_INFO] = interruptionInfo; w[X_INTR_INFO + 1] = 0;
    w[X_INTR_ERROR] = interruptionError; w[X_INTR_ERROR + 1] = 0;
    w[X_VECTORING_INFO] = vectoringInfo; w[X_VECTORING_INFO + 1] = 0;
    w[X_VECTORING_ERROR] = vectoringError; w[X_VECTORING_ERROR + 1] = 0;
  }

  /**
   * The guest segment registers ES..TR as VM exit saves them (28.3.1): selector, base, limit and
   * access rights (already masked) of each, compared and stored word by word in one loop rather
   * than 32 calls of setWords (the same stores and the same guestVersion count).
   */
  saveGuestSegments(sel: Uint16Array, base: Int32Array, limit: Uint32Array, ar: Uint32Array, arMask: number): void {
    const w = this.w;
    let changed = false;
    for (let s = 0; s < 8; s++) {
      const is = 2 * (GUEST_ES_SELECTOR + s), ib = 2 * (GUEST_ES_BASE + s), il = 2 * (GUEST_ES_LIMIT + s), ia = 2 * (GUEST_ES_AR_BYTES + s);
      const vs = sel[s], bl = base[2 * s], bh = base[2 * s + 1], vl = limit[s] | 0, va = ar[s] & arMask;
      if (w[is] !== vs || w[ib] !== bl || w[ib + 1] !== bh || w[il] !== vl || w[ia] !== va) {
        changed = true;
        w[is] = vs; w[is + 1] = 0;
        w[ib] = bl; w[ib + 1] = bh;
        w[il] = vl; w[il + 1] = 0;
        w[ia] = va; w[ia + 1] = 0;
      }
    }
    if (changed) this.guestVersion++;
  }

  /** The guest segment registers ES..TR as VM entry loads them (27.3.2.2), in one loop over the words. */
  loadGuestSegments(sel: Uint16Array, base: Int32Array, limit: Uint32Array, ar: Uint32Array, arMask: number): void {
    const w = this.w;
    for (let s = 0; s < 8; s++) {
      sel[s] = w[2 * (GUEST_ES_SELECTOR + s)] & 0xffff;
      base[2 * s] = w[2 * (GUEST_ES_BASE + s)];
      base[2 * s + 1] = w[2 * (GUEST_ES_BASE + s) + 1];
      limit[s] = w[2 * (GUEST_ES_LIMIT + s)] >>> 0;
      ar[s] = w[2 * (GUEST_ES_AR_BYTES + s)] & arMask;
    }
  }

  /**
   * The BigInt last made for each slot and the words it was made from: every VM entry and exit
   * moves CR3, the descriptor-table bases and the SYSENTER MSRs between bigint processor state
   * and the VMCS, and they rarely change, so a field that still holds those words hands back
   * the same BigInt, and storing that BigInt again is a comparison (no allocation either way).
   */
  private readonly big: bigint[] = new Array<bigint>(FIELD_COUNT).fill(0n);
  private readonly bigWords = new Int32Array(2 * FIELD_COUNT);

  get(slot: number): bigint {
    const i = 2 * slot;
    if (this.w[i] === this.bigWords[i] && this.w[i + 1] === this.bigWords[i + 1]) return this.big[slot];
    return this.makeBig(slot);
  }

  /** get's slow path, kept apart so that the fast path stays small enough to inline. */
  private makeBig(slot: number): bigint {
    const lo = this.w[2 * slot], hi = this.w[2 * slot + 1];
    // one BigInt instead of four for the values that fit a double exactly (nearly all of them)
    const v = (hi >>> 0) < SAFE_HI ? BigInt((hi >>> 0) * TWO32 + (lo >>> 0)) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    this.remember(slot, v, lo, hi);
    return v;
  }

  private remember(slot: number, v: bigint, lo: number, hi: number): void {
    this.big[slot] = v;
    this.bigWords[2 * slot] = lo;
    this.bigWords[2 * slot + 1] = hi;
  }

  setBig(slot: number, v: bigint): void {
    const i = 2 * slot;
    if (this.w[i] === this.bigWords[i] && this.w[i + 1] === this.bigWords[i + 1] && v === this.big[slot]) return;
    this.storeBig(slot, v);
  }

  /** setBig's slow path (see makeBig). */
  private storeBig(slot: number, v: bigint): void {
    if (v >= 0n && v < SAFE_BIG) {
      // through a double: no intermediate BigInts
      const n = Number(v);
      this.set(slot, n % TWO32 | 0, Math.floor(n / TWO32) | 0);
      // remembered only when the field holds all of it (not cut to a 16- or 32-bit width)
      const sl = this.w[2 * slot], sh = this.w[2 * slot + 1];
      if ((sh >>> 0) * TWO32 + (sl >>> 0) === n) this.remember(slot, v, sl, sh);
      return;
    }
    this.set(slot, Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
  }

  /** Writes the cached copy back into its region (VMCLEAR, switching VMCS). */
  store(mem: PhysicalMemory, region: number): void {
    for (let s = 0; s < FIELD_COUNT; s++) {
      mem.write(region + DATA_OFFSET + 8 * s, 4, this.w[2 * s] >>> 0);
      mem.write(region + DATA_OFFSET + 8 * s + 4, 4, this.w[2 * s + 1] >>> 0);
    }
    mem.write(region + LAUNCH_STATE_OFFSET, 4, this.launchState);
  }

  /** Reads a region into the cache (VMPTRLD). */
  load(mem: PhysicalMemory, region: number): void {
    for (let s = 0; s < FIELD_COUNT; s++) {
      // each field keeps its width whatever the region holds (a 32-bit field reads back as 32 bits)
      const bits = SLOT_BITS[s];
      const lo = mem.read(region + DATA_OFFSET + 8 * s, 4) | 0;
      this.w[2 * s] = bits === 16 ? lo & 0xffff : lo;
      this.w[2 * s + 1] = bits === 16 || bits === 32 ? 0 : mem.read(region + DATA_OFFSET + 8 * s + 4, 4) | 0;
    }
    this.launchState = mem.read(region + LAUNCH_STATE_OFFSET, 4) === LAUNCH_STATE_LAUNCHED ? LAUNCH_STATE_LAUNCHED : LAUNCH_STATE_CLEAR;
    this.controlVersion++;
    this.guestVersion++;
  }
}

/** VMCLEAR on a VMCS that is not current: only its launch state in memory changes. */
export function clearRegionLaunchState(mem: PhysicalMemory, region: number): void {
  mem.write(region + LAUNCH_STATE_OFFSET, 4, LAUNCH_STATE_CLEAR);
}

export function slotBits(slot: number): number {
  return SLOT_BITS[slot];
}
