// External interrupts and NMIs taken by real guest code (SDM Vol. 3A, 6.7-6.9): IF gating,
// the one-instruction shadow of STI and MOV SS, HLT wake-up, NMI blocking until IRET.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { InterruptController } from '../../src/hardware/events';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { gate64, IDT_ADDRESS, longModeMachine } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';

/** An INTR line with a queue of vectors; counts INTA cycles. */
class QueueController implements InterruptController {
  readonly queue: number[] = [];
  acks = 0;
  hasInterrupt(): boolean { return this.queue.length > 0; }
  acknowledge(): number { this.acks++; return this.queue.shift() as number; }
}

const BASE = 0x100000;
/** The handler stores RAX and RBX at entry into [0x8000] and [0x8008], counts into [0x8010]. */
const HANDLER = ['.org 0x200', 'mov [0x8000], rax', 'mov [0x8008], rbx', 'inc qword ptr [0x8010]', 'iretq'];

function machine(program: string[], vector: number) {
  const { mem, cpu } = longModeMachine();
  mem.writeBytes(BASE, assembleIntel([...program, ...HANDLER]));
  gate64(mem, IDT_ADDRESS, vector, BASE + 0x200);
  cpu.rip = BigInt(BASE);
  const pic = new QueueController();
  cpu.interruptController = pic;
  const count = () => mem.read64(0x8010);
  return { mem, cpu, pic, count };
}

test('a pending interrupt waits while IF is clear and is taken after the instruction in the STI shadow', { skip }, () => {
  const { mem, cpu, pic, count } = machine(
    ['mov rsp, 0x9000', 'cli', 'xor eax, eax', 'xor ebx, ebx', 'nop', 'nop', 'sti', 'mov eax, 1', 'mov ebx, 2', 'hlt'], 0x30);
  pic.queue.push(0x30);
  assert.equal(cpu.run(5).kind, 'budget');
  assert.equal(pic.acks, 0, 'IF = 0: the interrupt is not acknowledged');
  const out = cpu.run(100);
  assert.equal(out.kind, 'halt');
  assert.equal(count(), 1n, 'the handler ran once');
  assert.equal(mem.read64(0x8000), 1n, 'the instruction after STI ran before the interrupt');
  assert.equal(mem.read64(0x8008), 0n, 'the second one did not');
  assert.equal(cpu.getReg(3), 2n, 'execution resumed after the interrupt');
});

test('MOV SS blocks interrupts for exactly one instruction', { skip }, () => {
  const { mem, cpu, pic } = machine(
    ['mov rsp, 0x9000', 'xor eax, eax', 'xor ebx, ebx', 'mov cx, ss', 'mov ss, cx', 'mov eax, 7', 'mov ebx, 8', 'hlt'], 0x31);
  assert.equal(cpu.run(5).kind, 'budget'); // up to and including MOV SS
  assert.equal(cpu.interruptShadow, 2, 'blocking by MOV SS');
  cpu.flagsOther |= 0x200;
  pic.queue.push(0x31); // arrives in the shadow
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(pic.acks, 1);
  assert.equal(mem.read64(0x8000), 7n, 'the instruction after MOV SS completed first');
  assert.equal(mem.read64(0x8008), 0n);
});

test('HLT with IF set wakes for an interrupt and resumes after the HLT; with IF clear it stays halted', { skip }, () => {
  const { cpu, pic, count } = machine(['mov rsp, 0x9000', 'sti', 'hlt', 'mov r15, 0x51', 'cli', 'hlt'], 0x40);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.getReg(15), 0n);
  assert.equal(cpu.run(100).kind, 'halt', 'no interrupt: still halted');
  pic.queue.push(0x40);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(count(), 1n);
  assert.equal(cpu.getReg(15), 0x51n, 'resumed after HLT');
  pic.queue.push(0x40);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(pic.acks, 1, 'IF = 0 after CLI: the second request is not taken');
});

test('an NMI is taken with IF clear, and a second one waits until the handler IRETs', { skip }, () => {
  const { mem, cpu, count } = longModeMachine_withNmi();
  assert.equal(cpu.run(2).kind, 'budget'); // the stack is set up
  cpu.raiseNmi();
  assert.equal(cpu.run(3).kind, 'budget'); // NMI delivered, then the handler's first two instructions
  cpu.raiseNmi();
  assert.equal(cpu.run(1).kind, 'budget'); // still inside the handler: blocked
  assert.equal(count(), 1n, 'one handler entry so far');
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(count(), 2n, 'the second NMI was taken after IRETQ');
  assert.equal(mem.read64(0x8000), 0n);

  function longModeMachine_withNmi() {
    const m = machine(['mov rsp, 0x9000', 'cli', 'nop', 'nop', 'nop', 'nop', 'hlt'], 2);
    m.cpu.interruptController = undefined;
    return m;
  }
});

test('an interrupt raised while the CPU runs is taken at the next block boundary and the vector selects the gate', { skip }, () => {
  const { mem, cpu, pic, count } = machine(['mov rsp, 0x9000', 'sti', 'mov ecx, 1000', '2:', 'dec ecx', 'jnz 2b', 'hlt'], 0x22);
  gate64(mem, IDT_ADDRESS, 0x23, BASE + 0x300);
  mem.writeBytes(BASE + 0x300, assembleIntel(['mov r14, 0x23', 'iretq']));
  assert.equal(cpu.run(50).kind, 'budget');
  pic.queue.push(0x23);
  assert.equal(cpu.run(5000).kind, 'halt');
  assert.equal(count(), 0n, 'vector 0x22 was not used');
  assert.equal(cpu.getReg(14), 0x23n, 'the gate for vector 0x23 ran');
  assert.equal(cpu.getReg(1), 0n, 'the loop finished after the interrupt');
});
