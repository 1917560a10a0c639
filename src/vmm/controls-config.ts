// The `disableControls` launch attribute and `--disable-controls` option: a processor whose VMX
// capability MSRs (IA32_VMX_*_CTLS, SDM Vol. 3D, A.3-A.5) do not allow the named controls to be 1.
// Names as in `vmx-debug tables controls`, "field:name" where a name is in several fields.

import { controlMasksByName } from '../vmx/controls';
import { defaultVmxCapabilities, VmxCapabilities, withoutControls } from '../hardware/vmx/capabilities';
import { MachineConfigError } from './config-error';

/** The default capabilities without the named controls. */
export function capabilitiesWithout(names: readonly string[]): VmxCapabilities {
  let caps = defaultVmxCapabilities();
  for (const name of names.filter((w) => w.trim() !== '')) {
    try {
      caps = withoutControls(caps, controlMasksByName([name]));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // withoutControls refuses a default1 control the non-TRUE capability MSR requires (SDM A.2)
      throw new MachineConfigError(e.message.startsWith('no VMX control') || e.message.includes('several fields') ? e.message : `'${name.trim()}': ${e.message}`);
    }
  }
  return caps;
}

/** The launch attribute: a list of control names. */
export function parseDisabledControls(raw: unknown): VmxCapabilities | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.some((n) => typeof n !== 'string')) {
    throw new MachineConfigError(`expected a list of VMX control names, like ["RDTSC exiting", "secondary:enable VPID"], not ${JSON.stringify(raw)}`);
  }
  return capabilitiesWithout(raw as string[]);
}
