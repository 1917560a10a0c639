// Stop conditions in plain Node (src/vmm/stop-condition.ts): which hits of a breakpoint stop,
// for each hit-condition operator, counted over the hits whose condition holds; what a
// logpoint prints; and mistakes reported when the breakpoint is set. The names are a counter
// the test advances, so the expected hits follow from the rule and the inputs chosen here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ExpressionEnvironment, ExpressionError } from '../../src/vmm/expression';
import { StopCondition, StopConditionError } from '../../src/vmm/stop-condition';

/** `n` is the number of the hit (1, 2, 3 …); nothing else has a value. */
function counter(): { env: ExpressionEnvironment; next: () => void } {
  let n = 0n;
  return {
    env: {
      name: (x) => { if (x === 'n') return n; throw new ExpressionError(`unknown name '${x}'`); },
      memory: () => { throw new ExpressionError('no memory'); },
      msr: () => { throw new ExpressionError('no MSRs'); },
    },
    next: () => { n++; },
  };
}

/** The hits (1-based) out of `hits` at which the condition stops. */
function stopsAt(spec: { condition?: string; hitCondition?: string }, hits = 12): number[] {
  const c = StopCondition.compile(spec);
  const { env, next } = counter();
  const out: number[] = [];
  for (let k = 1; k <= hits; k++) {
    next();
    if (c.judge(env).stop) out.push(k);
  }
  return out;
}

test('hit conditions: N and == N the Nth hit, >= > < <= by count, % N every Nth', () => {
  const all = Array.from({ length: 12 }, (_, k) => k + 1);
  assert.deepEqual(stopsAt({}), all);
  assert.deepEqual(stopsAt({ hitCondition: '4' }), [4]);
  assert.deepEqual(stopsAt({ hitCondition: '== 4' }), [4]);
  assert.deepEqual(stopsAt({ hitCondition: '>=10' }), all.filter((k) => k >= 10));
  assert.deepEqual(stopsAt({ hitCondition: '> 10' }), all.filter((k) => k > 10));
  assert.deepEqual(stopsAt({ hitCondition: '< 3' }), [1, 2]);
  assert.deepEqual(stopsAt({ hitCondition: '<= 3' }), [1, 2, 3]);
  assert.deepEqual(stopsAt({ hitCondition: '% 5' }), [5, 10]);
  // counted over the hits whose condition holds: the odd hits are 1, 3, 5, 7 …; the 3rd of them is hit 5
  assert.deepEqual(stopsAt({ condition: 'n % 2', hitCondition: '3' }), [5]);
  assert.deepEqual(stopsAt({ condition: 'n % 2 == 0', hitCondition: '% 2' }), [4, 8, 12]);
  assert.deepEqual(stopsAt({ condition: '  ', hitCondition: '' }), all, 'blank means none');
});

test('a logpoint prints instead of stopping; a failing condition stops with the reason', () => {
  const c = StopCondition.compile({ logMessage: 'hit {n} of {{n}}: {n * 16} {bogus}', hitCondition: '>= 2' });
  const { env, next } = counter();
  next();
  assert.deepEqual(c.judge(env), { stop: false });
  next();
  assert.deepEqual(c.judge(env), { stop: false, log: 'hit 0x2 of {n}: 0x20 <column 1: unknown name \'bogus\'>' });
  const bad = StopCondition.compile({ condition: 'n == missing' });
  assert.deepEqual(bad.judge(env), { stop: true, error: 'condition: column 6: unknown name \'missing\'' });
});

test('mistakes are reported when the breakpoint is set, naming the part and the column', () => {
  const cases: Array<[Parameters<typeof StopCondition.compile>[0], RegExp]> = [
    [{ condition: 'n ==' }, /^condition: column 5: the expression ends where a value is expected$/],
    [{ hitCondition: '>= x' }, /^hit condition '>= x': expected a count/],
    [{ hitCondition: '% 0' }, /% 0 would divide by zero/],
    [{ logMessage: 'a {n' }, /^log message: the '\{' at column 3 is not closed$/],
    [{ logMessage: 'a } b' }, /^log message: unmatched '\}' at column 3/],
    [{ logMessage: 'x {n +} y' }, /^log message: in \{…\} at column 3: column 4: the expression ends/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => StopCondition.compile(spec), (e: unknown) => e instanceof StopConditionError && message.test(e.message), JSON.stringify(spec));
  }
});
