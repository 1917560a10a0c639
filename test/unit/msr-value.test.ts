// What VMX: Set MSR… accepts as a value, in plain Node: hex, binary and decimal up to 64 bits,
// and a reason for anything else; what the adapter is then sent.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { msrValueForAdapter, msrValueProblem } from '../../src/extension/msr-value';

test('hex, binary and decimal values up to 64 bits are accepted and sent as hex', () => {
  for (const [text, sent] of [
    ['0x0', '0x0'], ['0xFFFFFFFFFFFFFFFF', '0xffffffffffffffff'], ['0b101', '0x5'], ['42', '0x2a'], ['  0xd01 ', '0xd01'], ['0xffff_8000_0000_0000', '0xffff800000000000'],
  ]) {
    assert.equal(msrValueProblem(text), undefined, text);
    assert.equal(msrValueForAdapter(text), sent, text);
  }
});

test('anything else is refused with what a value must be', () => {
  for (const text of ['', 'twelve', '0x', '-1', '1.5', '0xfg', 'rax + 1', '0b102', '_1']) {
    assert.match(msrValueProblem(text) ?? '', /a number: 0x… hex, 0b… binary or decimal/, JSON.stringify(text));
  }
  assert.match(msrValueProblem('0x10000000000000000') ?? '', /at most 64 bits/);
  assert.match(msrValueProblem('18446744073709551616') ?? '', /at most 64 bits/);
  assert.equal(msrValueProblem('18446744073709551615'), undefined);
});
