// The I/O-port address space (64 Ki ports): devices claim port ranges; unclaimed ports read
// as all ones and swallow writes, as on a PC with nothing on the bus.

export interface IoDevice {
  /** `size` is 1, 2 or 4; returns the value read (masked by the caller). */
  read(port: number, size: number): number;
  write(port: number, size: number, value: number): void;
}

interface Claim { first: number; last: number; name: string; device: IoDevice }

export class IoBus {
  private readonly byPort: Array<Claim | undefined> = new Array<Claim | undefined>(0x10000).fill(undefined);

  register(first: number, count: number, name: string, device: IoDevice): void {
    const last = first + count - 1;
    if (first < 0 || last > 0xffff || count <= 0) throw new RangeError(`I/O range of ${name} is outside 0-0xffff`);
    for (let p = first; p <= last; p++) {
      const other = this.byPort[p];
      if (other !== undefined) throw new RangeError(`I/O port 0x${p.toString(16)} of ${name} is already claimed by ${other.name}`);
    }
    const claim = { first, last, name, device };
    for (let p = first; p <= last; p++) this.byPort[p] = claim;
  }

  deviceAt(port: number): string | undefined {
    return this.byPort[port & 0xffff]?.name;
  }

  read(port: number, size: number): number {
    const claim = this.byPort[port & 0xffff];
    const mask = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    if (claim === undefined) return mask >>> 0;
    return (claim.device.read(port & 0xffff, size) & mask) >>> 0;
  }

  write(port: number, size: number, value: number): void {
    const claim = this.byPort[port & 0xffff];
    if (claim !== undefined) claim.device.write(port & 0xffff, size, value);
  }
}
