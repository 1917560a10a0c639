// When a breakpoint or an exit filter that has been reached really stops the guest: its
// condition (an expression, true when not 0), its hit condition (counted over the hits whose
// condition held) and, for a logpoint, the message to print instead of stopping. Compiled once
// when the breakpoint is set, so a mistake is reported then, and judged at every hit.

import { evaluateExpression, Expression, ExpressionEnvironment, ExpressionError, parseExpression } from './expression';

export interface StopConditionSpec {
  condition?: string;
  /** `5` or `== 5` (the 5th hit), `>= 5`, `> 5`, `< 5`, `<= 5`, `% 5` (every 5th hit). */
  hitCondition?: string;
  /** A logpoint: text with `{expression}` parts, printed instead of stopping. */
  logMessage?: string;
}

/** A mistake in a condition, hit condition or log message, named by which of them it is in. */
export class StopConditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StopConditionError';
  }
}

/** What a hit does: stop (maybe because the condition could not be evaluated), or go on, maybe printing a line. */
export type Verdict = { stop: true; error?: string } | { stop: false; log?: string };

type HitTest = (hits: number) => boolean;
type MessagePart = string | { expression: Expression };

const HIT_TESTS: Readonly<Record<string, (hits: number, n: number) => boolean>> = {
  '==': (h, n) => h === n, '>=': (h, n) => h >= n, '>': (h, n) => h > n, '<': (h, n) => h < n, '<=': (h, n) => h <= n, '%': (h, n) => h % n === 0,
};

export class StopCondition {
  private hits = 0;

  private constructor(
    private readonly condition: Expression | undefined,
    private readonly hitTest: HitTest | undefined,
    private readonly message: MessagePart[] | undefined,
  ) {}

  /** Throws StopConditionError naming the part at fault and the column. */
  static compile(spec: StopConditionSpec): StopCondition {
    const condition = blank(spec.condition) ? undefined : parsePart('condition', spec.condition as string);
    const hitTest = blank(spec.hitCondition) ? undefined : parseHitCondition(spec.hitCondition as string);
    const message = spec.logMessage === undefined || spec.logMessage === '' ? undefined : parseMessage(spec.logMessage);
    return new StopCondition(condition, hitTest, message);
  }

  /** True when there is nothing to judge: every hit stops. */
  get unconditional(): boolean {
    return this.condition === undefined && this.hitTest === undefined && this.message === undefined;
  }

  /** The guest starts again (a restart): no hits counted yet. */
  resetHits(): void {
    this.hits = 0;
  }

  /** A hit: counts it when the condition holds, and says what to do. */
  judge(env: ExpressionEnvironment): Verdict {
    if (this.condition !== undefined) {
      try {
        if (evaluateExpression(this.condition, env) === 0n) return { stop: false };
      } catch (e) {
        if (e instanceof ExpressionError) return { stop: true, error: `condition: ${e.message}` };
        throw e;
      }
    }
    this.hits++;
    if (this.hitTest !== undefined && !this.hitTest(this.hits)) return { stop: false };
    if (this.message !== undefined) return { stop: false, log: interpolate(this.message, env) };
    return { stop: true };
  }
}

function blank(s: string | undefined): boolean {
  return s === undefined || s.trim() === '';
}

function parsePart(what: string, source: string): Expression {
  try {
    return parseExpression(source);
  } catch (e) {
    if (e instanceof ExpressionError) throw new StopConditionError(`${what}: ${e.message}`);
    throw e;
  }
}

function parseHitCondition(text: string): HitTest {
  const m = /^\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$/.exec(text);
  if (m === null) throw new StopConditionError(`hit condition '${text}': expected a count with an optional operator (5, == 5, >= 5, > 5, < 5, <= 5, % 5)`);
  const n = Number(m[2]);
  const op = m[1] ?? '==';
  if (op === '%' && n === 0) throw new StopConditionError(`hit condition '${text}': % 0 would divide by zero`);
  const test = HIT_TESTS[op];
  return (hits) => test(hits, n);
}

/** `rax = {rax}` → text and expressions; `{{` and `}}` are literal braces. */
function parseMessage(text: string): MessagePart[] {
  const parts: MessagePart[] = [];
  let literal = '';
  for (let k = 0; k < text.length; k++) {
    const c = text[k];
    if ((c === '{' || c === '}') && text[k + 1] === c) { literal += c; k++; continue; }
    if (c === '}') throw new StopConditionError(`log message: unmatched '}' at column ${k + 1} (write '}}' for a brace)`);
    if (c !== '{') { literal += c; continue; }
    const end = text.indexOf('}', k);
    if (end < 0) throw new StopConditionError(`log message: the '{' at column ${k + 1} is not closed`);
    try {
      parts.push(literal, { expression: parseExpression(text.slice(k + 1, end)) });
    } catch (e) {
      if (e instanceof ExpressionError) throw new StopConditionError(`log message: in {…} at column ${k + 1}: ${e.message}`);
      throw e;
    }
    literal = '';
    k = end;
  }
  parts.push(literal);
  return parts;
}

function interpolate(parts: readonly MessagePart[], env: ExpressionEnvironment): string {
  return parts.map((p) => {
    if (typeof p === 'string') return p;
    try {
      return `0x${evaluateExpression(p.expression, env).toString(16)}`;
    } catch (e) {
      if (e instanceof ExpressionError) return `<${e.message}>`;
      throw e;
    }
  }).join('');
}
