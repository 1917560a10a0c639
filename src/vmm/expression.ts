// The debugger's expression language, parsed here (never by JavaScript's eval): integers,
// names, C's operators with C's precedence on unsigned 64-bit values, memory reads `[expr]`
// with an optional size, and `msr(...)`. What a name means (a register, a flag, an exit field)
// is the environment's business, so the language knows nothing of the guest. A condition is
// parsed once and evaluated at every hit.

/** What is wrong with an expression, and where (1-based column; 0 when not tied to a place). */
export class ExpressionError extends Error {
  constructor(readonly detail: string, readonly column = 0) {
    super(column > 0 ? `column ${column}: ${detail}` : detail);
    this.name = 'ExpressionError';
  }
}

/** Width in bytes of a memory read. */
export type ReadSize = 1 | 2 | 4 | 8;

/** What names, memory and MSRs mean; each throws ExpressionError (no column) for what it cannot answer. */
export interface ExpressionEnvironment {
  name(name: string): bigint;
  memory(address: bigint, size: ReadSize): bigint;
  msr(nameOrAddress: string | bigint): bigint;
}

export type Expression =
  | { kind: 'number'; value: bigint; column: number }
  | { kind: 'name'; name: string; column: number }
  | { kind: 'unary'; op: string; arg: Expression; column: number }
  | { kind: 'binary'; op: string; left: Expression; right: Expression; column: number }
  | { kind: 'memory'; size: ReadSize; address: Expression; column: number }
  | { kind: 'msr'; arg: Expression; column: number };

const MASK64 = (1n << 64n) - 1n;

/** Binary operators by C precedence, loosest first (C11 6.5.5-6.5.14). */
const BINARY_LEVELS: readonly (readonly string[])[] = [
  ['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '<=', '>', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%'],
];
/** Longest first, so `<<` is not read as `<` `<`. */
const OPERATORS = ['<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '+', '-', '*', '/', '%', '&', '|', '^', '~', '!', '<', '>', '(', ')', '[', ']'];
const SIZES: Readonly<Record<string, ReadSize>> = { byte: 1, word: 2, dword: 4, qword: 8 };

interface Token { text: string; column: number; kind: 'number' | 'name' | 'op' | 'end' }

function tokenize(source: string): Token[] {
  const out: Token[] = [];
  let k = 0;
  while (k < source.length) {
    const c = source[k];
    if (/\s/.test(c)) { k++; continue; }
    const column = k + 1;
    const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(source.slice(k));
    const num = /^[0-9][A-Za-z0-9_]*/.exec(source.slice(k));
    if (num !== null) {
      out.push({ text: num[0], column, kind: 'number' });
      k += num[0].length;
    } else if (word !== null) {
      out.push({ text: word[0], column, kind: 'name' });
      k += word[0].length;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, k));
      if (op === undefined) throw new ExpressionError(`unexpected character '${c}'`, column);
      out.push({ text: op, column, kind: 'op' });
      k += op.length;
    }
  }
  out.push({ text: '', column: source.length + 1, kind: 'end' });
  return out;
}

function parseNumber(t: Token): bigint {
  const m = /^(?:0x([0-9a-f]+)|0b([01]+)|([0-9]+))$/i.exec(t.text.replace(/_/g, ''));
  if (m === null) throw new ExpressionError(`'${t.text}' is not a number (decimal, 0x… hex or 0b… binary)`, t.column);
  const v = BigInt(m[1] !== undefined ? `0x${m[1]}` : m[2] !== undefined ? `0b${m[2]}` : m[3]);
  if (v > MASK64) throw new ExpressionError(`${t.text} does not fit in 64 bits`, t.column);
  return v;
}

/** Parses an expression; throws ExpressionError naming the first problem and its column. */
export function parseExpression(source: string): Expression {
  const tokens = tokenize(source);
  let at = 0;
  const peek = (): Token => tokens[at];
  const take = (): Token => tokens[at++];
  const expect = (text: string, what: string): void => {
    const t = peek();
    if (t.text !== text || t.kind !== 'op') throw new ExpressionError(`expected '${text}' ${what}, found ${describe(t)}`, t.column);
    at++;
  };

  const binary = (level: number): Expression => {
    if (level === BINARY_LEVELS.length) return unary();
    let left = binary(level + 1);
    for (;;) {
      const t = peek();
      if (t.kind !== 'op' || !BINARY_LEVELS[level].includes(t.text)) return left;
      at++;
      left = { kind: 'binary', op: t.text, left, right: binary(level + 1), column: t.column };
    }
  };

  const unary = (): Expression => {
    const t = peek();
    if (t.kind === 'op' && ['!', '~', '-', '+'].includes(t.text)) {
      at++;
      return { kind: 'unary', op: t.text, arg: unary(), column: t.column };
    }
    return primary();
  };

  const primary = (): Expression => {
    const t = take();
    if (t.kind === 'number') return { kind: 'number', value: parseNumber(t), column: t.column };
    if (t.kind === 'op' && t.text === '(') {
      const e = binary(0);
      expect(')', `to close the '(' at column ${t.column}`);
      return e;
    }
    if (t.kind === 'op' && t.text === '[') return memory(8, t);
    if (t.kind === 'name') {
      const lower = t.text.toLowerCase();
      const size = SIZES[lower];
      if (size !== undefined) {
        if (peek().kind === 'name' && peek().text.toLowerCase() === 'ptr') at++;
        const open = take();
        if (open.text !== '[' || open.kind !== 'op') throw new ExpressionError(`expected '[' after '${t.text}', found ${describe(open)}`, open.column);
        return memory(size, t);
      }
      if (lower === 'msr' && peek().text === '(' && peek().kind === 'op') {
        const open = take();
        const arg = binary(0);
        expect(')', `to close msr( at column ${open.column}`);
        return { kind: 'msr', arg, column: t.column };
      }
      return { kind: 'name', name: t.text, column: t.column };
    }
    throw new ExpressionError(t.kind === 'end' ? 'the expression ends where a value is expected' : `expected a value, found ${describe(t)}`, t.column);
  };

  const memory = (size: ReadSize, start: Token): Expression => {
    const address = binary(0);
    expect(']', `to close the memory reference at column ${start.column}`);
    return { kind: 'memory', size, address, column: start.column };
  };

  const e = binary(0);
  const rest = peek();
  if (rest.kind !== 'end') throw new ExpressionError(`unexpected ${describe(rest)} after a complete expression`, rest.column);
  return e;
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end' : `'${t.text}'`;
}

/** The value of a parsed expression: an unsigned 64-bit integer (comparisons and logic give 0 or 1). */
export function evaluateExpression(e: Expression, env: ExpressionEnvironment): bigint {
  const at = <T>(column: number, work: () => T): T => {
    try {
      return work();
    } catch (err) {
      if (err instanceof ExpressionError && err.column === 0) throw new ExpressionError(err.detail, column);
      throw err;
    }
  };
  const ev = (x: Expression): bigint => evaluateExpression(x, env);
  switch (e.kind) {
    case 'number': return e.value;
    case 'name': return at(e.column, () => env.name(e.name)) & MASK64;
    case 'memory': {
      const address = ev(e.address);
      return at(e.column, () => env.memory(address, e.size));
    }
    case 'msr': {
      // msr(IA32_EFER) names the MSR; anything else is its address
      const arg = e.arg.kind === 'name' ? e.arg.name : ev(e.arg);
      return at(e.column, () => env.msr(arg)) & MASK64;
    }
    case 'unary': {
      const v = ev(e.arg);
      switch (e.op) {
        case '!': return v === 0n ? 1n : 0n;
        case '~': return ~v & MASK64;
        case '-': return -v & MASK64;
        default: return v;
      }
    }
    case 'binary': {
      // && and || do not evaluate their right side when the left decides (C11 6.5.13-14)
      if (e.op === '&&') return ev(e.left) !== 0n && ev(e.right) !== 0n ? 1n : 0n;
      if (e.op === '||') return ev(e.left) !== 0n || ev(e.right) !== 0n ? 1n : 0n;
      const a = ev(e.left), b = ev(e.right);
      switch (e.op) {
        case '+': return (a + b) & MASK64;
        case '-': return (a - b) & MASK64;
        case '*': return (a * b) & MASK64;
        case '/': case '%':
          if (b === 0n) throw new ExpressionError('division by zero', e.column);
          return e.op === '/' ? a / b : a % b;
        case '<<': return b >= 64n ? 0n : (a << b) & MASK64;
        case '>>': return b >= 64n ? 0n : a >> b;
        case '&': return a & b;
        case '|': return a | b;
        case '^': return a ^ b;
        case '==': return a === b ? 1n : 0n;
        case '!=': return a !== b ? 1n : 0n;
        case '<': return a < b ? 1n : 0n;
        case '<=': return a <= b ? 1n : 0n;
        case '>': return a > b ? 1n : 0n;
        default: return a >= b ? 1n : 0n;
      }
    }
  }
}

/** Parses and evaluates in one go (watch, hover, the Debug Console). */
export function evaluate(source: string, env: ExpressionEnvironment): bigint {
  return evaluateExpression(parseExpression(source), env);
}
