// Reading the guest's state the way the Variables view does: the adapter's scopes of the
// focused frame and the variables below them. The adapter already groups and decodes (MSRs by
// group with their fields, VMCS fields by area with their named bits); the extension only
// asks and draws.
import type * as vscode from 'vscode';
import { focusedFrameId, StoppedSession } from './stop-watcher';

export interface AdapterVariable {
  readonly name: string;
  readonly value: string;
  /** Non-zero when the variable has children (fields, bits, the members of a group). */
  readonly variablesReference: number;
}

/** The adapter has no scope of that name (not a vmx adapter, or an older one). */
export class MissingScopeError extends Error {
  constructor(scope: string, found: readonly string[]) {
    super(`the debug adapter shows no '${scope}' scope (it has: ${found.join(', ') || 'none'})`);
    this.name = 'MissingScopeError';
  }
}

/** The reference of the scope named `scope` at the focused frame of a stopped session. */
export async function scopeReference(stopped: StoppedSession, scope: string): Promise<number> {
  const frameId = await focusedFrameId(stopped);
  const r = await stopped.session.customRequest('scopes', { frameId }) as { scopes: Array<{ name: string; variablesReference: number }> };
  const s = r.scopes.find((x) => x.name === scope);
  if (s === undefined) throw new MissingScopeError(scope, r.scopes.map((x) => x.name));
  return s.variablesReference;
}

export async function childVariables(session: vscode.DebugSession, variablesReference: number): Promise<AdapterVariable[]> {
  const r = await session.customRequest('variables', { variablesReference }) as { variables: AdapterVariable[] };
  return r.variables;
}

/** The message of an error a DAP request came back with (VS Code wraps the adapter's text). */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
