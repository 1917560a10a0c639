// Arguments of DAP requests as they arrive: JSON from a client that may be wrong. Each reader
// checks one argument and throws a RequestError naming it and what came, so that a malformed
// request is answered with an error that says what is wrong, and the adapter lives on.

/** A request that makes no sense now, names something that does not exist, or is malformed. */
export class RequestError extends Error {}

type Args = object | undefined | null;

function field(args: Args, name: string): unknown {
  return args === undefined || args === null ? undefined : (args as Record<string, unknown>)[name];
}

function shown(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
}

/** An integer argument in [min, max]; `fallback` when it is optional and absent. */
export function integerArg(args: Args, name: string, fallback?: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const v = field(args, name);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = min === Number.MIN_SAFE_INTEGER ? 'an integer' : max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new RequestError(`argument '${name}' must be ${range}, not ${shown(v)}`);
  }
  return v;
}

/** A variablesReference, frameId and the like: a positive integer. */
export function referenceArg(args: Args, name: string): number {
  return integerArg(args, name, undefined, 1);
}

export function stringArg(args: Args, name: string): string {
  const v = field(args, name);
  if (typeof v !== 'string') throw new RequestError(`argument '${name}' must be a string, not ${shown(v)}`);
  return v;
}

/** The threadId of a request about a thread: there is one, vCPU 0, whose id is `only`. */
export function threadArg(args: Args, only: number): void {
  const v = field(args, 'threadId');
  if (v !== only) throw new RequestError(`argument 'threadId' must be ${only} (the only thread, vCPU 0), not ${shown(v)}`);
}
