// Launch configurations for `vmx`: one offered when there is no launch.json (the ELF in the
// active editor, else the bundled sample), and every configuration's program path resolved
// against the workspace before the adapter sees it.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { isElfHeader, resolveProgramPath, sampleProgramIn, SAMPLE_PROGRAM } from './launch-paths';

export const DEBUG_TYPE = 'vmx';

/** True when the file starts with the ELF magic (reads 4 bytes; false for anything unreadable). */
function fileIsElf(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4);
    return fs.readSync(fd, head, 0, 4, 0) === 4 && isElfHeader(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The program to debug when the user gave none: the active editor's ELF, else the sample. */
function defaultProgram(folder: vscode.WorkspaceFolder | undefined): string {
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && fileIsElf(active.fsPath)) return active.fsPath;
  return folder === undefined ? SAMPLE_PROGRAM : sampleProgramIn(folder.uri.fsPath);
}

export class VmxConfigurationProvider implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): vscode.DebugConfiguration[] {
    return [{ type: DEBUG_TYPE, request: 'launch', name: 'Debug VMX guest', program: defaultProgram(folder), stopOnEntry: true }];
  }

  resolveDebugConfiguration(folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.DebugConfiguration {
    // F5 with no launch.json arrives as an empty configuration: fill in the default one.
    if (config.type === undefined && config.request === undefined && config.name === undefined) {
      return this.provideDebugConfigurations(folder)[0];
    }
    const resolved: vscode.DebugConfiguration = { ...config, type: config.type ?? DEBUG_TYPE, request: config.request ?? 'launch', name: config.name ?? 'Debug VMX guest' };
    const program: unknown = resolved.program;
    if (program === undefined || program === '') {
      resolved.program = defaultProgram(folder);
    } else if (typeof program === 'string') {
      resolved.program = resolveProgramPath(program, folder?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
    }
    // anything else (a number, a list) goes on as given: the adapter names the bad attribute
    return resolved;
  }
}
