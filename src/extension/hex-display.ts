// "VMX: Toggle Hex Display": switches the active vmx session between hex (0x…) and decimal
// integers through the adapter's custom request vmxSetDisplayFormat (the adapter then sends
// `invalidated`, so Variables, Watch and hovers are fetched again), and remembers the choice for
// the sessions started after it: in this workspace's state, over the setting vmx-debug.hexDisplay.
import * as vscode from 'vscode';
import { SET_DISPLAY_FORMAT_REQUEST } from '../../debug-adapter/display-format';
import { DEBUG_TYPE } from './configuration-provider';

export const TOGGLE_HEX_COMMAND = 'vmx-debug.toggleHex';
/** The setting (section `vmx-debug`) that gives the radix when no choice is remembered. */
const SETTING = 'hexDisplay';
/** Workspace-state key of the last choice the command made. */
const STATE_KEY = 'vmx-debug.hexDisplay';

/** Registers the command and the launch-configuration step that passes the remembered radix on. */
export function registerHexDisplay(context: vscode.ExtensionContext): void {
  const display = new HexDisplay(context.workspaceState);
  context.subscriptions.push(
    vscode.commands.registerCommand(TOGGLE_HEX_COMMAND, () => display.toggle()),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, display),
    vscode.debug.onDidTerminateDebugSession((s) => display.forget(s)),
  );
}

class HexDisplay implements vscode.DebugConfigurationProvider {
  /** The radix each running session shows now, where the command changed it. */
  private readonly bySession = new Map<string, boolean>();

  constructor(private readonly state: vscode.Memento) {}

  /** Hex or not for a new session: the last choice in this workspace, else the setting. */
  private remembered(): boolean {
    const chosen = this.state.get<boolean>(STATE_KEY);
    return typeof chosen === 'boolean' ? chosen : vscode.workspace.getConfiguration('vmx-debug').get<boolean>(SETTING, true);
  }

  /** After every other resolution step (the main provider may replace an empty configuration). */
  resolveDebugConfigurationWithSubstitutedVariables(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.DebugConfiguration {
    if (config.hexDisplay === undefined) config.hexDisplay = this.remembered();
    return config;
  }

  /** Flips the active vmx session's radix (or, with none, the one new sessions get); returns the new one. */
  async toggle(): Promise<boolean> {
    const session = vscode.debug.activeDebugSession;
    const vmx = session?.type === DEBUG_TYPE ? session : undefined;
    const current = vmx === undefined ? this.remembered() : this.bySession.get(vmx.id) ?? this.sessionStart(vmx);
    const next = !current;
    if (vmx !== undefined) {
      await vmx.customRequest(SET_DISPLAY_FORMAT_REQUEST, { hex: next });
      this.bySession.set(vmx.id, next);
    }
    await this.state.update(STATE_KEY, next);
    vscode.window.setStatusBarMessage(`VMX: values in ${next ? 'hex' : 'decimal'}`, 3000);
    return next;
  }

  forget(session: vscode.DebugSession): void {
    this.bySession.delete(session.id);
  }

  /** The radix a session was launched with (its resolved configuration). */
  private sessionStart(session: vscode.DebugSession): boolean {
    const v: unknown = session.configuration.hexDisplay;
    return typeof v === 'boolean' ? v : true;
  }
}
