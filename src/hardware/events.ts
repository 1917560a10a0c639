// External interrupts and NMIs arriving at the processor, taken between instructions
// (SDM Vol. 3A, 6.7-6.9): an NMI unless NMIs are blocked, then INTR when RFLAGS.IF is set,
// neither in the shadow of STI or MOV SS. A halted processor wakes for either.

import type { Cpu, RunOutcome } from './cpu';
import { Intercept, STOP_BEFORE, Vector } from './cpu';
import { Flag } from './cpu-state';
import { deliverEvent, EventType } from './exceptions';

/**
 * What drives the INTR pin: an interrupt controller (the 8259 pair, a local APIC model).
 * `acknowledge` is the INTA cycle: it returns the vector and moves the request to in-service.
 */
export interface InterruptController {
  hasInterrupt(): boolean;
  acknowledge(): number;
}

/** Whether anything could be taken now; checked once per block, so it stays cheap. */
export function eventsMayBePending(cpu: Cpu): boolean {
  return cpu.nmiPending || cpu.eventWatch || cpu.icount >= cpu.eventDeadline ||
    (cpu.interruptController !== undefined && ((cpu.flagsOther & Flag.IF) !== 0 || (cpu.interceptMask & Intercept.INTERRUPT) !== 0));
}

/**
 * Takes a pending NMI or external interrupt if one can be taken at this instruction boundary.
 * The VMX layer sees each first through `hooks.event` (NMI exiting, external-interrupt
 * exiting, interrupt- and NMI-window exiting) and may stop the run instead.
 * Returns an outcome when the run must stop.
 */
export function takePendingEvent(cpu: Cpu): RunOutcome | undefined {
  const hooks = cpu.hooks;
  if ((cpu.eventWatch || cpu.icount >= cpu.eventDeadline) && hooks?.event?.(cpu, Intercept.EVENT_WINDOW) === true) {
    return { kind: 'intercept', intercept: Intercept.EVENT_WINDOW };
  }
  if (cpu.interruptShadow !== 0) return undefined;
  if (cpu.nmiPending && !cpu.nmiBlocked) {
    if ((cpu.interceptMask & Intercept.NMI) !== 0 && hooks?.event?.(cpu, Intercept.NMI) === true) {
      return { kind: 'intercept', intercept: Intercept.NMI };
    }
    cpu.nmiPending = false;
    cpu.nmiBlocked = true;
    return deliver(cpu, Vector.NMI, EventType.NMI);
  }
  const pic = cpu.interruptController;
  if (pic !== undefined && pic.hasInterrupt()) {
    // external-interrupt exiting takes the interrupt whatever RFLAGS.IF says (SDM Vol. 3C, 26.2);
    // the VMX layer decides whether to acknowledge it
    if ((cpu.interceptMask & Intercept.INTERRUPT) !== 0 && hooks?.event?.(cpu, Intercept.INTERRUPT) === true) {
      return { kind: 'intercept', intercept: Intercept.INTERRUPT };
    }
    if ((cpu.flagsOther & Flag.IF) !== 0) return deliver(cpu, pic.acknowledge() & 0xff, EventType.EXTERNAL_INTERRUPT);
  }
  return undefined;
}

function deliver(cpu: Cpu, vector: number, type: EventType): RunOutcome | undefined {
  // RIP already points at the next instruction to run; an event is neither fault nor software
  try {
    return deliverEvent(cpu, vector, -1, false, undefined, type) === 'triple-fault' ? { kind: 'triple-fault', vector } : undefined;
  } catch (e) {
    // a VM exit during delivery (exception bitmap, EPT): the VMX layer performs it
    if (e === STOP_BEFORE) return { kind: 'intercept', intercept: Intercept.EXCEPTION };
    throw e;
  }
}
