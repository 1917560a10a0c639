// Cached translations tagged by VPID and EPTP (SDM Vol. 3C, 29.4.1-29.4.3): with "enable VPID"
// set, VM entries and exits switch between the host's mappings (VPID 0000H) and the guest's
// instead of invalidating either (29.4.3.1 invalidates VPID 0000H's only when the control is 0).
// One Tlb per VPID holds what is cached for it; combined mappings are tagged by the EPTP as well,
// so a VPID's Tlb is emptied when it is next used under a different EPTP (or with EPT off after
// on), which invalidates no less than hardware does. INVEPT, INVVPID and the emulator's own
// reasons (code pages turning read-only, watchpoints) reach every Tlb through `each`.

import { Tlb } from './tlb';

/** The EPTP tag of linear mappings (EPT not in use); no valid EPTP has every bit set. */
export const NO_EPT = -1;

interface Tagged {
  vpid: number;
  tlb: Tlb;
  eptLo: number;
  eptHi: number;
}

export class TlbTags {
  private readonly byVpid = new Map<number, Tagged>();
  /** The last one `select` returned, looked at first: a vCPU enters with the same tags every time. */
  private last: Tagged;
  readonly host: Tlb;

  /** `host`: the Tlb of VPID 0000H, the host's and every guest's that runs without "enable VPID". */
  constructor(host: Tlb) {
    this.host = host;
    this.last = { vpid: 0, tlb: host, eptLo: NO_EPT, eptHi: NO_EPT };
    this.byVpid.set(0, this.last);
  }

  /** The Tlb for `vpid` under EPTP `eptLo`/`eptHi` (NO_EPT, NO_EPT: EPT off), emptied if it last held another EPTP's. */
  select(vpid: number, eptLo: number, eptHi: number): Tlb {
    let t = this.last.vpid === vpid ? this.last : this.byVpid.get(vpid);
    if (t === undefined) {
      t = { vpid, tlb: new Tlb(), eptLo, eptHi };
      this.byVpid.set(vpid, t);
    } else if (t.eptLo !== eptLo || t.eptHi !== eptHi) {
      t.tlb.flushAll();
      t.eptLo = eptLo;
      t.eptHi = eptHi;
    }
    this.last = t;
    return t.tlb;
  }

  /** Calls `f` on every Tlb. */
  each(f: (t: Tlb) => void): void {
    for (const t of this.byVpid.values()) f(t.tlb);
  }
}
