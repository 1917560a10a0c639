// The VS Code side: starts the debug adapter and draws the views. The adapter and the views
// arrive with their issues; until then activation registers nothing.
import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {
  // nothing to register yet: the `vmx` debug adapter is built in debug-adapter/
}

export function deactivate(): void {
  // nothing to release
}
