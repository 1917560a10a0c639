// How many guest instructions one slice of a `continue` runs. A fixed count takes very different
// times: a tight loop runs a million instructions in milliseconds, a guest that exits every few
// instructions needs over a second for them (every exit is a full VM exit and entry). The
// budget follows the measured time of the last slice toward TARGET_MS, so `pause` is answered
// and the VM exits view refreshed within a fraction of a second whatever the guest does.

/** The wall time one slice aims at. */
export const SLICE_TARGET_MS = 20;
export const MIN_SLICE = 1_000;
export const MAX_SLICE = 1_000_000;

export class SliceBudget {
  private size = MIN_SLICE * 50;
  private startedAt = 0;

  /** The instructions for the next slice; call done() after it. */
  start(): number {
    this.startedAt = performance.now();
    return this.size;
  }

  /** The slice is over: scale the next one by how far its time was from the target. */
  done(): void {
    const took = Math.max(performance.now() - this.startedAt, 0.1);
    const scaled = Math.round(this.size * Math.min(4, SLICE_TARGET_MS / took));
    this.size = Math.min(MAX_SLICE, Math.max(MIN_SLICE, scaled));
  }
}
