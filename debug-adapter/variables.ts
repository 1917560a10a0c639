// The scopes a stopped guest shows — Registers, Segments & control, MSRs, VMCS, Last VM exit,
// Host stack frame — built
// from the engine's side-effect-free view as DAP variables. References are handed out per
// stop: `reset` forgets them when the guest runs again. A register whose bits have names
// (rflags, cr0, cr4, efer, MSRs with fields, VMCS control fields) has them as children, and
// the container of those children remembers whose fields they are, so that setVariable on a
// field writes its owner through the owner's own rules. Caller frames (found through the
// frame-pointer chain) have a Registers scope of their own with what the chain recovers.
// Integers are shown in hex (0x…) or, when the request asks for it (ValueFormat hex: false), in
// decimal; memory references stay hex.

import type { DebugProtocol } from '@vscode/debugprotocol';
import { decodeFields } from '../src/bitfields';
import type { BitField } from '../src/bitfields';
import { CR0_FIELDS, CR4_FIELDS } from '../src/control-registers';
import { hex, integer } from '../src/format';
import { Msr, MSR_GROUPS } from '../src/msr';
import { GPR_NAMES, RSP_INDEX } from '../src/regs';
import { RFLAGS_FIELDS } from '../src/rflags';
import type { DebugTarget } from '../src/vmm/debug-target';
import type { GuestFrame } from '../src/vmm/frame-chain';
import { CONTROLS_BY_VMCS_FIELD } from '../src/vmx/controls';
import { describeExitQualification } from '../src/vmx/exit-qualification';
import { addressOfField } from '../src/vmx/vmcs-address-fields';
import { memoryReference } from '../src/vmm/memory-spaces';
import type { VmcsFieldGroup } from '../src/vmx/vmcs-fields';

type Variable = DebugProtocol.Variable;

/** Registers in the order a debugger lists them. */
export const REGISTER_ORDER = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'];
const SEGMENT_ORDER = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'ldtr', 'tr'];
const VMCS_GROUPS: readonly VmcsFieldGroup[] = ['Guest state', 'Host state', 'Controls', 'Exit information'];

export const SCOPE_REGISTERS = 'Registers';
export const SCOPE_SEGMENTS = 'Segments & control';
export const SCOPE_MSRS = 'MSRs';
export const SCOPE_VMCS = 'VMCS';
export const SCOPE_LAST_EXIT = 'Last VM exit';
export const SCOPE_HOST_FRAME = 'Host stack frame';

/** Control registers whose bits are children in Segments & control (efer's are IA32_EFER's fields). */
const CONTROL_REGISTER_FIELDS: Readonly<Record<string, readonly BitField[] | undefined>> = {
  cr0: CR0_FIELDS, cr4: CR4_FIELDS, efer: Msr.IA32_EFER.fields,
};

const leaf = (name: string, value: string, extra: Partial<Variable> = {}): Variable => ({ name, value, variablesReference: 0, ...extra });

/** The variable a container of bit fields belongs to: `name` in `scope` (rflags in Registers, NXE's IA32_EFER in MSRs …). */
export interface FieldOwner {
  readonly scope: string;
  readonly name: string;
  readonly fields: readonly BitField[];
}

/** What a caller frame's Registers scope needs: its index in the chain, re-walked whenever asked (a change may move it). */
export interface CallerFrameSource {
  readonly index: number;
  readonly walk: () => readonly GuestFrame[];
}

interface Container {
  scope: string;
  children: () => Variable[];
  /** The children as computed once per stop and radix. */
  cachedHex?: Variable[];
  cachedDecimal?: Variable[];
  fieldsOf?: FieldOwner;
  /** The frame (index in the chain) a caller-frame Registers scope shows. */
  frame?: number;
}

export class VariableStore {
  /** Containers by reference; each computes its children once per stop (asking again costs nothing and allocates nothing). */
  private readonly containers = new Map<number, Container>();
  /** The scopes of each frame asked for, by frame index (0: the top frame). */
  private readonly scopeLists = new Map<number, DebugProtocol.Scope[]>();
  /** The radix of the children being computed (read by the `num` of each container's children). */
  private inHex = true;
  private readonly num = (value: bigint | number): string => integer(value, this.inHex);
  private next = 1;

  /** The guest ran: every reference is forgotten. */
  reset(): void {
    this.containers.clear();
    this.scopeLists.clear();
    this.next = 1;
  }

  /**
   * Values changed while stopped (setVariable): the scopes keep their references, everything
   * below is computed again, numbered on from the highest scope reference (so the numbers stay
   * as small as before, and never land on a scope's; the client refetches below the scopes on
   * the `invalidated` event).
   */
  refresh(): void {
    const keep = new Set<number>();
    for (const list of this.scopeLists.values()) for (const s of list) keep.add(s.variablesReference);
    for (const [ref, c] of this.containers) {
      if (keep.has(ref)) { c.cachedHex = undefined; c.cachedDecimal = undefined; }
      else this.containers.delete(ref);
    }
    this.next = Math.max(0, ...keep) + 1;
  }

  private add(scope: string, children: () => Variable[], fieldsOf?: FieldOwner): number {
    const ref = this.next++;
    this.containers.set(ref, fieldsOf === undefined ? { scope, children } : { scope, children, fieldsOf });
    return ref;
  }

  /** Which scope a reference belongs to (setVariable needs to know what a name means). */
  scopeOf(ref: number): string | undefined {
    return this.containers.get(ref)?.scope;
  }

  /** When a reference holds the bit fields of a register, MSR or control field: whose. */
  fieldOwner(ref: number): FieldOwner | undefined {
    return this.containers.get(ref)?.fieldsOf;
  }

  /** The index in the frame chain of a caller frame's Registers scope; undefined for every other reference. */
  callerFrameOf(ref: number): number | undefined {
    return this.containers.get(ref)?.frame;
  }

  /** The children of a value with named bits, decoded from `value`, remembered as `owner`'s fields. */
  private fieldChildren(owner: FieldOwner, value: bigint): number {
    return this.add(owner.scope, () => decodeFields(value, owner.fields)
      .map((d) => leaf(d.field.name, d.meaning === undefined ? this.num(d.value) : `${this.num(d.value)} (${d.meaning})`)), owner);
  }

  /** The children of `ref`, integers in hex or decimal (each computed once per stop and radix). */
  variables(ref: number, inHex = true): Variable[] | undefined {
    const c = this.containers.get(ref);
    if (c === undefined) return undefined;
    this.inHex = inHex;
    if (inHex) c.cachedHex ??= c.children();
    else c.cachedDecimal ??= c.children();
    return inHex ? c.cachedHex : c.cachedDecimal;
  }

  /** The six scopes of the stopped guest's top frame; the same references however often they are asked for. */
  scopes(target: DebugTarget): DebugProtocol.Scope[] {
    const known = this.scopeLists.get(0);
    if (known !== undefined) return known;
    const list = [
      this.scope(SCOPE_REGISTERS, () => this.registers(target)),
      this.scope(SCOPE_SEGMENTS, () => this.segments(target)),
      this.scope(SCOPE_MSRS, () => this.msrs(target), true),
      this.scope(SCOPE_VMCS, () => this.vmcs(target), true),
      this.scope(SCOPE_LAST_EXIT, () => lastExit(target, this.num)),
      this.scope(SCOPE_HOST_FRAME, () => hostFrame(target, this.num)),
    ];
    this.scopeLists.set(0, list);
    return list;
  }

  /**
   * A caller frame's scopes: its own Registers (what the frame-pointer chain recovers), then the
   * processor-wide Segments & control, MSRs and VMCS, under the top frame's references (the
   * processor has one of each, whichever frame is looked at). Last VM exit and Host stack frame
   * are left out: they tell how the guest got to where it stopped, which is the top frame's story.
   */
  callerScopes(target: DebugTarget, frame: CallerFrameSource): DebugProtocol.Scope[] {
    const known = this.scopeLists.get(frame.index);
    if (known !== undefined) return known;
    const machineWide = this.scopes(target).filter((s) => s.name === SCOPE_SEGMENTS || s.name === SCOPE_MSRS || s.name === SCOPE_VMCS);
    const registers = this.scope(SCOPE_REGISTERS, () => callerRegisters(frame));
    (this.containers.get(registers.variablesReference) as Container).frame = frame.index;
    const list = [registers, ...machineWide];
    this.scopeLists.set(frame.index, list);
    return list;
  }

  private scope(name: string, children: () => Variable[], expensive = false): DebugProtocol.Scope {
    return { name, variablesReference: this.add(name, children), expensive, presentationHint: name === SCOPE_REGISTERS ? 'registers' : undefined };
  }

  private registers(target: DebugTarget): Variable[] {
    const v = target.view;
    return REGISTER_ORDER.map((name) => {
      const value = v.register(name);
      if (name !== 'rflags') return leaf(name, this.num(value), { evaluateName: name, memoryReference: hex(value) });
      const flags = this.fieldChildren({ scope: SCOPE_REGISTERS, name, fields: RFLAGS_FIELDS }, value);
      const set = decodeFields(value, RFLAGS_FIELDS).filter((f) => f.value !== 0n && f.field.width === 1).map((f) => f.field.name);
      return { name, value: `${this.num(value)} [${set.join(' ')}]`, variablesReference: flags, evaluateName: name };
    });
  }

  private segments(target: DebugTarget): Variable[] {
    const v = target.view;
    const segs = v.segments();
    const out: Variable[] = SEGMENT_ORDER.map((name) => {
      const s = segs.find((x) => x.name === name);
      if (s === undefined) return leaf(name, 'unknown');
      const ref = this.add(SCOPE_SEGMENTS, () => [
        leaf('selector', this.num(s.selector)), leaf('base', this.num(s.base)), leaf('limit', this.num(s.limit)), leaf('attributes', this.num(s.attributes)),
      ]);
      return { name, value: `${this.num(s.selector)} (base ${this.num(s.base)}, limit ${this.num(s.limit)}, attributes ${this.num(s.attributes)})`, variablesReference: ref };
    });
    const tables = v.descriptorTables();
    for (const [name, t] of [['gdtr', tables.gdtr], ['idtr', tables.idtr]] as const) {
      // the tables' bases are guest-linear addresses
      const at = { memoryReference: hex(t.base) };
      const ref = this.add(SCOPE_SEGMENTS, () => [leaf('base', this.num(t.base), at), leaf('limit', this.num(t.limit))]);
      out.push({ name, value: `base ${this.num(t.base)}, limit ${this.num(t.limit)}`, variablesReference: ref, ...at });
    }
    const cr = v.controlRegisters();
    // CR3 holds the guest-physical address of the paging structures; CR2 a guest-linear one
    const root = addressOfField('GUEST_CR3', cr.cr3);
    const references: Partial<Record<string, Partial<Variable>>> = {
      cr2: { memoryReference: hex(cr.cr2) },
      cr3: root === undefined ? {} : { memoryReference: memoryReference(root.space, root.address) },
    };
    for (const name of ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'] as const) {
      const fields = CONTROL_REGISTER_FIELDS[name];
      const value = cr[name];
      const extra = { evaluateName: name, ...references[name] };
      out.push(fields === undefined
        ? leaf(name, this.num(value), extra)
        : { name, value: this.num(value), ...extra, variablesReference: this.fieldChildren({ scope: SCOPE_SEGMENTS, name, fields }, value) });
    }
    return out;
  }

  /** MSRs by group, each with its bit fields (src/msr.ts) as children where it has any. */
  private msrs(target: DebugTarget): Variable[] {
    const all = target.view.msrs();
    return MSR_GROUPS.filter((g) => all.some((m) => m.msr.group === g)).map((group) => {
      const ref = this.add(SCOPE_MSRS, () => all.filter((m) => m.msr.group === group).map(({ msr, value }) => {
        const extra = { evaluateName: `msr(${msr.name})` };
        if (msr.fields === undefined || msr.fields.length === 0) return leaf(msr.name, this.num(value), extra);
        const fields = this.fieldChildren({ scope: SCOPE_MSRS, name: msr.name, fields: msr.fields }, value);
        return { name: msr.name, value: this.num(value), variablesReference: fields, ...extra };
      }));
      return { name: group, value: '', variablesReference: ref };
    });
  }

  private vmcs(target: DebugTarget): Variable[] {
    const fields = target.view.vmcsFields();
    const note = target.view.onProcessor
      ? [leaf('note', 'the guest is on the processor: guest-state fields hold the values of the last VM exit')]
      : [];
    // the processor's VMX pointers (VMXON, VMPTRST), in host-physical memory
    const pointers = target.view.vmxPointers();
    const pointer = (name: string, p: bigint | undefined): Variable =>
      (p === undefined ? leaf(name, 'none') : leaf(name, this.num(p), { memoryReference: memoryReference('host', p) }));
    return [...note, pointer('VMXON region', pointers.vmxon), pointer('current VMCS', pointers.vmcs), ...VMCS_GROUPS.map((group) => {
      const ref = this.add(SCOPE_VMCS, () => fields.filter((f) => f.field.group === group).map((f) => {
        const bits = CONTROLS_BY_VMCS_FIELD[f.field.name];
        const points = addressOfField(f.field.name, f.value);
        const extra: Partial<Variable> = { evaluateName: `vmcs.${f.field.name}` };
        if (points !== undefined) extra.memoryReference = memoryReference(points.space, points.address);
        if (bits === undefined) return leaf(f.field.name, this.num(f.value), extra);
        // a control field: its named bits as children, the ones set listed in the value
        const decoded = decodeFields(f.value, bits);
        const on = decoded.filter((d) => d.value !== 0n).map((d) => d.field.name);
        const children = this.fieldChildren({ scope: SCOPE_VMCS, name: f.field.name, fields: bits }, f.value);
        return { name: f.field.name, value: `${this.num(f.value)} [${on.join(', ')}]`, variablesReference: children, evaluateName: `vmcs.${f.field.name}` };
      }));
      return { name: group, value: '', variablesReference: ref };
    })];
  }
}

/**
 * A caller frame's registers: rip (the return address), rsp (the CFA: where the caller's stack
 * pointer is once the call has returned) and rbp (the value its callee saved). The other
 * registers are left out: without unwind tables nothing says where a callee kept them.
 */
function callerRegisters(source: CallerFrameSource): Variable[] {
  const frame = source.walk()[source.index];
  const r = frame?.caller;
  if (r === undefined) return [leaf('note', 'this frame is no longer on the frame-pointer chain')];
  return [
    leaf('rip', hex(frame.pc), { evaluateName: `qword [${hex(r.returnSlot)}]`, memoryReference: hex(frame.pc) }),
    leaf('rsp', hex(r.cfa), { evaluateName: hex(r.cfa), memoryReference: hex(r.cfa) }),
    leaf('rbp', hex(r.rbp), { evaluateName: `qword [${hex(r.rbpSlot)}]`, memoryReference: hex(r.rbp) }),
    leaf('note', `recovered through the frame-pointer chain: rip is the return address at ${hex(r.returnSlot)}, rbp the value saved at ${hex(r.rbpSlot)}; the other registers are not known in a caller frame`),
  ];
}

/** The GeneralRegisters image the exit path saved at HOST_RSP - 128, slot by slot (slot 4, RSP's, is unused). */
function hostFrame(target: DebugTarget, num: (v: bigint | number) => string): Variable[] {
  const image = target.view.hostRegisterImage();
  if (image === undefined) return [leaf('image', 'none: the VMCS has no HOST_RSP yet')];
  // on the host's stack: host-physical memory (the host maps it one to one), not the guest's
  const out = [leaf('address', `${num(image.address)} (HOST_RSP - 128)`, { memoryReference: memoryReference('host', image.address) })];
  if (target.view.onProcessor) out.push(leaf('note', 'the guest is on the processor: the image holds its registers of the last VM exit'));
  GPR_NAMES.forEach((name, k) => {
    out.push(k === RSP_INDEX
      ? leaf(`(slot ${k})`, 'unused: guest RSP is in GUEST_RSP')
      : leaf(name, num(image.registers.getRegOfIndex(k))));
  });
  return out;
}

function lastExit(target: DebugTarget, num: (v: bigint | number) => string): Variable[] {
  const e = target.lastExit;
  if (e === undefined) return [leaf('reason', 'none yet')];
  return [
    leaf('reason', e.name),
    leaf('number', String(e.reason)),
    leaf('qualification', num(e.qualification)),
    leaf('decoded', describeExitQualification(e.reason, e.qualification, e.interruptionInfo, e.guestLinear)),
    leaf('instruction length', String(e.instructionLength)),
    leaf('guest RIP', num(e.guestRip)),
    leaf('guest-physical address', num(e.guestPhysical)),
    leaf('guest-linear address', num(e.guestLinear)),
    leaf('interruption information', num(e.interruptionInfo >>> 0)),
    leaf('handled', target.heldExit === e ? 'no: the VMM answers it when the guest continues' : 'yes'),
  ];
}
