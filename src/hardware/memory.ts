// Guest physical memory: a sparse array of 64 KiB chunks so that a 4 GiB machine costs host
// memory only for what the guest touches, plus MMIO regions that devices register on.
// Addresses are JS numbers (exact up to 2^53; physical addresses are at most 52 bits).

/** A device window in the physical address space. Accesses are 1, 2, 4 or 8 bytes. */
export interface MmioHandler {
  read(offset: number, size: number): bigint;
  write(offset: number, size: number, value: bigint): void;
}

export interface MmioRegion {
  readonly base: number;
  readonly size: number;
  readonly name: string;
  readonly handler: MmioHandler;
}

export const CHUNK_SHIFT = 16;
export const CHUNK_SIZE = 1 << CHUNK_SHIFT;
export const CHUNK_MASK = CHUNK_SIZE - 1;
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Thrown for an access outside RAM and outside every MMIO region. */
export class PhysicalAccessError extends Error {
  constructor(readonly address: number, readonly size: number, readonly write: boolean) {
    super(`${write ? 'write' : 'read'} of ${size} byte(s) at physical 0x${address.toString(16)} hits no RAM or device`);
  }
}

/**
 * Guest RAM from 0 to `size`, less the MMIO holes. Reads of RAM never written return zero.
 * Hot paths use `chunkFor`/`chunkView` to reach the backing bytes directly.
 */
export class PhysicalMemory {
  readonly size: number;
  private readonly chunks: Array<Uint8Array | undefined>;
  private readonly views: Array<DataView | undefined>;
  private readonly regions: MmioRegion[] = [];
  /** One byte per 4 KiB page: 1 where an MMIO region lies, so RAM fast paths can skip it. */
  readonly mmioPages: Uint8Array;
  /** Called with the page number after any write to a page that has its bit set here. */
  readonly watchedPages: Uint8Array;
  onWatchedWrite: ((page: number) => void) | undefined;
  /** Pages holding a data watchpoint: writes there take the slow path and call `onDataWrite`. */
  readonly dataWatchPages: Uint8Array;
  onDataWrite: ((address: number, size: number) => void) | undefined;

  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`memory size must be a positive multiple of 4 KiB, got ${sizeBytes}`);
    }
    if (sizeBytes > 2 ** 40) throw new RangeError('memory size above 1 TiB is not supported');
    this.size = sizeBytes;
    const nChunks = Math.ceil(sizeBytes / CHUNK_SIZE);
    this.chunks = new Array<Uint8Array | undefined>(nChunks).fill(undefined);
    this.views = new Array<DataView | undefined>(nChunks).fill(undefined);
    this.mmioPages = new Uint8Array(sizeBytes / PAGE_SIZE);
    this.watchedPages = new Uint8Array(sizeBytes / PAGE_SIZE);
    this.dataWatchPages = new Uint8Array(sizeBytes / PAGE_SIZE);
  }

  /** Host bytes actually allocated for guest RAM. */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c !== undefined) n += c.length;
    return n;
  }

  addMmio(base: number, size: number, name: string, handler: MmioHandler): void {
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size <= 0) {
      throw new RangeError(`MMIO region ${name} must be page-aligned and page-sized`);
    }
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new RangeError(`MMIO region ${name} overlaps ${r.name}`);
      }
    }
    this.regions.push({ base, size, name, handler });
    for (let p = base / PAGE_SIZE; p < (base + size) / PAGE_SIZE && p < this.mmioPages.length; p++) this.mmioPages[p] = 1;
  }

  mmioAt(address: number): MmioRegion | undefined {
    for (const r of this.regions) if (address >= r.base && address < r.base + r.size) return r;
    return undefined;
  }

  /** The backing chunk of a RAM address, allocated on first touch. */
  chunkFor(address: number): Uint8Array {
    const i = Math.floor(address / CHUNK_SIZE);
    let c = this.chunks[i];
    if (c === undefined) {
      if (address < 0 || address >= this.size) throw new PhysicalAccessError(address, 1, false);
      c = new Uint8Array(CHUNK_SIZE);
      this.chunks[i] = c;
      this.views[i] = new DataView(c.buffer);
    }
    return c;
  }

  chunkView(address: number): DataView {
    const i = Math.floor(address / CHUNK_SIZE);
    const v = this.views[i];
    if (v !== undefined) return v;
    this.chunkFor(address);
    return this.views[i] as DataView;
  }

  private isRam(address: number, size: number): boolean {
    return address >= 0 && address + size <= this.size && this.mmioPages[Math.floor(address / PAGE_SIZE)] === 0 &&
      this.mmioPages[Math.floor((address + size - 1) / PAGE_SIZE)] === 0;
  }

  read8(address: number): number {
    if (this.isRam(address, 1)) {
      const c = this.chunks[Math.floor(address / CHUNK_SIZE)];
      return c === undefined ? 0 : c[address & CHUNK_MASK];
    }
    return Number(this.readDevice(address, 1));
  }

  write8(address: number, value: number): void {
    if (this.isRam(address, 1)) {
      this.chunkFor(address)[address & CHUNK_MASK] = value;
      this.noteWrite(address, 1);
      return;
    }
    this.writeDevice(address, 1, BigInt(value & 0xff));
  }

  /** Little-endian read of 1, 2 or 4 bytes as an unsigned number. */
  read(address: number, size: 1 | 2 | 4): number {
    const off = address & CHUNK_MASK;
    if (off + size <= CHUNK_SIZE && this.isRam(address, size)) {
      const i = Math.floor(address / CHUNK_SIZE);
      const v = this.views[i];
      if (v === undefined) return 0;
      return size === 1 ? v.getUint8(off) : size === 2 ? v.getUint16(off, true) : v.getUint32(off, true);
    }
    if (this.isRam(address, size)) {
      let r = 0;
      for (let k = size - 1; k >= 0; k--) r = r * 256 + this.read8(address + k);
      return r;
    }
    return Number(this.readDevice(address, size));
  }

  /** Little-endian write of 1, 2 or 4 bytes. */
  write(address: number, size: 1 | 2 | 4, value: number): void {
    const off = address & CHUNK_MASK;
    if (off + size <= CHUNK_SIZE && this.isRam(address, size)) {
      const v = this.chunkView(address);
      if (size === 1) v.setUint8(off, value);
      else if (size === 2) v.setUint16(off, value, true);
      else v.setUint32(off, value >>> 0, true);
      this.noteWrite(address, size);
      return;
    }
    if (this.isRam(address, size)) {
      for (let k = 0; k < size; k++) this.write8(address + k, (value >>> (8 * k)) & 0xff);
      return;
    }
    this.writeDevice(address, size, BigInt(value >>> 0));
  }

  read64(address: number): bigint {
    if (this.isRam(address, 8)) {
      return (BigInt(this.read(address + 4, 4)) << 32n) | BigInt(this.read(address, 4));
    }
    return this.readDevice(address, 8);
  }

  write64(address: number, value: bigint): void {
    if (this.isRam(address, 8)) {
      this.write(address, 4, Number(value & 0xffffffffn));
      this.write(address + 4, 4, Number((value >> 32n) & 0xffffffffn));
      return;
    }
    this.writeDevice(address, 8, value);
  }

  /** Copies bytes out of guest memory (RAM or devices). */
  readBytes(address: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let k = 0; k < length; k++) out[k] = this.read8(address + k);
    return out;
  }

  /** Copies bytes into guest memory, as a loader or the debugger does. */
  writeBytes(address: number, bytes: Uint8Array): void {
    for (let k = 0; k < bytes.length; k++) this.write8(address + k, bytes[k]);
  }

  /** Marks where a write landed, for caches of decoded code and for data watchpoints. */
  noteWrite(address: number, size: number): void {
    const first = Math.floor(address / PAGE_SIZE);
    const last = Math.floor((address + size - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      if (this.watchedPages[p] !== 0 && this.onWatchedWrite !== undefined) this.onWatchedWrite(p);
      if (this.dataWatchPages[p] !== 0 && this.onDataWrite !== undefined) this.onDataWrite(address, size);
    }
  }

  private readDevice(address: number, size: number): bigint {
    const r = this.mmioAt(address);
    if (r === undefined || address + size > r.base + r.size) throw new PhysicalAccessError(address, size, false);
    return r.handler.read(address - r.base, size);
  }

  private writeDevice(address: number, size: number, value: bigint): void {
    const r = this.mmioAt(address);
    if (r === undefined || address + size > r.base + r.size) throw new PhysicalAccessError(address, size, true);
    r.handler.write(address - r.base, size, value);
  }
}
