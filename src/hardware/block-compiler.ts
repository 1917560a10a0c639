// Hot decoded blocks become one JavaScript function each: a straight-line sequence of calls to
// the block's own handlers. The point is the call sites: in the run loop one call site sees
// every handler (megamorphic, never inlined), while each call site here only ever sees one
// handler, so V8 inlines it and optimises the block as a whole.
//
// The generated text is made only of fixed templates, identifiers and instruction indices
// (no guest bytes, nothing read from outside), and it keeps the run loop's contract: it runs
// the whole block (the run loop only calls it when the budget covers it), stops after an
// instruction that sets `stopBlock` (only handlers that can are followed by the test) and
// returns how many instructions completed, and on an exception records the index of the
// instruction that raised it in `cpu.faultIndex` before rethrowing.

import type { Cpu } from './cpu';
import { Handler, Insn } from './insn';
import { REGISTER_ONLY } from './exec-fast';

/** Runs a whole block; returns the number of instructions that completed. */
export type CompiledBlock = (cpu: Cpu) => number;

/** Executions of a block (through the run loop) before it is compiled. */
export const COMPILE_THRESHOLD = 64;

/**
 * The block as one function, or undefined where the host forbids generating code from text
 * (e.g. node --disallow-code-generation-from-strings): the block then keeps running through
 * the run loop, which is slower but the same.
 */
export function compileBlock(insns: readonly Insn[]): CompiledBlock | undefined {
  const params: string[] = [];
  const args: Array<Handler | Insn> = [];
  const body: string[] = [];
  insns.forEach((insn, k) => {
    params.push(`h${k}`, `i${k}`);
    args.push(insn.exec, insn);
    const check = REGISTER_ONLY.has(insn.exec) ? '' : ` if (c.stopBlock) return ${k + 1};`;
    body.push(`k = ${k}; h${k}(c, i${k});${check}`);
  });
  const source = [
    '"use strict";',
    'return function compiledBlock(c) {',
    '  let k = 0;',
    '  try {',
    ...body.map((line) => `    ${line}`),
    `    return ${insns.length};`,
    '  } catch (e) {',
    '    c.faultIndex = k;',
    '    throw e;',
    '  }',
    '};',
  ].join('\n');
  // Function, not eval: the text sees only the parameters passed here, never the caller's scope
  let factory: (...a: Array<Handler | Insn>) => CompiledBlock;
  try {
    factory = new Function(...params, source) as typeof factory;
  } catch (e) {
    if (e instanceof EvalError) return undefined;
    throw e;
  }
  return factory(...args);
}
