// The scopes a stopped guest shows — Registers, Segments & control, MSRs, VMCS, Last VM exit,
// Host stack frame — built
// from the engine's side-effect-free view as DAP variables. References are handed out per
// stop: `reset` forgets them when the guest runs again. Integers are shown in hex (0x…) or, when
// the request asks for it (ValueFormat hex: false), in decimal; memory references stay hex.

import type { DebugProtocol } from '@vscode/debugprotocol';
import { decodeFields } from '../src/bitfields';
import { hex, integer } from '../src/format';
import { MSR_GROUPS } from '../src/msr';
import { GPR_NAMES, RSP_INDEX } from '../src/regs';
import { RFLAGS_FIELDS } from '../src/rflags';
import type { DebugTarget } from '../src/vmm/debug-target';
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

const leaf = (name: string, value: string, extra: Partial<Variable> = {}): Variable => ({ name, value, variablesReference: 0, ...extra });

export class VariableStore {
  /** Containers by reference; each computes its children once per stop (asking again costs nothing and allocates nothing). */
  private readonly containers = new Map<number, { scope: string; children: () => Variable[]; cachedHex?: Variable[]; cachedDecimal?: Variable[] }>();
  /** The radix of the children being computed (read by the `num` of each container's children). */
  private inHex = true;
  private readonly num = (value: bigint | number): string => integer(value, this.inHex);
  private scopeList: DebugProtocol.Scope[] | undefined;
  private next = 1;

  /** The guest ran: every reference is forgotten. */
  reset(): void {
    this.containers.clear();
    this.scopeList = undefined;
    this.next = 1;
  }

  /** Values changed while stopped (setVariable): the scopes keep their references, everything below is computed again. */
  refresh(): void {
    const keep = new Set(this.scopeList?.map((s) => s.variablesReference));
    for (const [ref, c] of this.containers) {
      if (keep.has(ref)) { c.cachedHex = undefined; c.cachedDecimal = undefined; }
      else this.containers.delete(ref);
    }
    this.next = keep.size + 1;
  }

  private add(scope: string, children: () => Variable[]): number {
    const ref = this.next++;
    this.containers.set(ref, { scope, children });
    return ref;
  }

  /** Which scope a reference belongs to (setVariable needs to know what a name means). */
  scopeOf(ref: number): string | undefined {
    return this.containers.get(ref)?.scope;
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

  /** The four scopes of the stopped guest; the same references however often they are asked for. */
  scopes(target: DebugTarget): DebugProtocol.Scope[] {
    if (this.scopeList !== undefined) return this.scopeList;
    const scope = (name: string, children: () => Variable[], expensive = false): DebugProtocol.Scope =>
      ({ name, variablesReference: this.add(name, children), expensive, presentationHint: name === SCOPE_REGISTERS ? 'registers' : undefined });
    this.scopeList = [
      scope(SCOPE_REGISTERS, () => this.registers(target)),
      scope(SCOPE_SEGMENTS, () => this.segments(target)),
      scope(SCOPE_MSRS, () => this.msrs(target), true),
      scope(SCOPE_VMCS, () => this.vmcs(target), true),
      scope(SCOPE_LAST_EXIT, () => lastExit(target, this.num)),
      scope(SCOPE_HOST_FRAME, () => hostFrame(target, this.num)),
    ];
    return this.scopeList;
  }

  private registers(target: DebugTarget): Variable[] {
    const v = target.view;
    return REGISTER_ORDER.map((name) => {
      const value = v.register(name);
      if (name !== 'rflags') return leaf(name, this.num(value), { evaluateName: name, memoryReference: hex(value) });
      const flags = this.add(SCOPE_REGISTERS, () => decodeFields(value, RFLAGS_FIELDS).map((f) => leaf(f.field.name, this.num(f.value))));
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
    out.push(leaf('cr0', this.num(cr.cr0)), leaf('cr2', this.num(cr.cr2), { memoryReference: hex(cr.cr2) }),
      leaf('cr3', this.num(cr.cr3), root === undefined ? {} : { memoryReference: memoryReference(root.space, root.address) }),
      leaf('cr4', this.num(cr.cr4)), leaf('cr8', this.num(cr.cr8)), leaf('efer', this.num(cr.efer)));
    return out;
  }

  /** MSRs by group, each with its bit fields (src/msr.ts) as children where it has any. */
  private msrs(target: DebugTarget): Variable[] {
    const all = target.view.msrs();
    return MSR_GROUPS.filter((g) => all.some((m) => m.msr.group === g)).map((group) => {
      const ref = this.add(SCOPE_MSRS, () => all.filter((m) => m.msr.group === group).map(({ msr, value }) => {
        const extra = { evaluateName: `msr(${msr.name})` };
        if (msr.fields === undefined || msr.fields.length === 0) return leaf(msr.name, this.num(value), extra);
        const fields = this.add(SCOPE_MSRS, () => decodeFields(value, msr.fields ?? [])
          .map((d) => leaf(d.field.name, d.meaning === undefined ? this.num(d.value) : `${this.num(d.value)} (${d.meaning})`)));
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
        const children = this.add(SCOPE_VMCS, () => decoded.map((d) => leaf(d.field.name, this.num(d.value))));
        return { name: f.field.name, value: `${this.num(f.value)} [${on.join(', ')}]`, variablesReference: children, evaluateName: `vmcs.${f.field.name}` };
      }));
      return { name: group, value: '', variablesReference: ref };
    })];
  }
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
