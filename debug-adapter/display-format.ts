// The session's display radix: integers in Variables, evaluate and setVariable answers are shown
// in hex (0x…, the default) or decimal. A request's own DAP ValueFormat wins; without one the
// session default applies, which the launch attribute `hexDisplay` sets and the custom request
// `vmxSetDisplayFormat` { hex } changes while the session runs (the extension's toggle command).

import type { DebugProtocol } from '@vscode/debugprotocol';

/** The custom DAP request that sets the session default. */
export const SET_DISPLAY_FORMAT_REQUEST = 'vmxSetDisplayFormat';

/** vmxSetDisplayFormat's `hex` argument is missing or not a boolean. */
export class DisplayFormatError extends Error {
  constructor(hex: unknown) {
    super(`${SET_DISPLAY_FORMAT_REQUEST}: "hex" must be true or false, not ${JSON.stringify(hex) ?? 'missing'}`);
    this.name = 'DisplayFormatError';
  }
}

export class DisplayFormat {
  constructor(public hex = true) {}

  /** Whether integers of a request with this format are shown in hex. */
  inHex(format: DebugProtocol.ValueFormat | undefined): boolean {
    return typeof format?.hex === 'boolean' ? format.hex : this.hex;
  }

  /** Applies vmxSetDisplayFormat's arguments; true when the default changed. */
  set(args: unknown): boolean {
    const hex = (args as { hex?: unknown } | undefined)?.hex;
    if (typeof hex !== 'boolean') throw new DisplayFormatError(hex);
    const changed = hex !== this.hex;
    this.hex = hex;
    return changed;
  }
}
