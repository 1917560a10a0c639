// A stand-in for the `vscode` module, only for loading the bundled extension in plain Node to
// prove it needs nothing but `vscode` from outside: it records registrations. Used by
// test/unit/vsix.test.ts as `node vscode-stub.mjs EXTENSION_DIR`; prints one JSON line.
import Module, { createRequire } from 'node:module';
import * as path from 'node:path';

const calls = [];
const disposable = () => ({ dispose() {} });
const stub = {
  DebugConfigurationProviderTriggerKind: { Initial: 1, Dynamic: 2 },
  DebugAdapterInlineImplementation: class { constructor(adapter) { this.adapter = adapter; } },
  DebugAdapterExecutable: class { constructor(command, args) { this.command = command; this.args = args; } },
  EventEmitter: class { event = () => disposable(); fire() {} dispose() {} },
  Disposable: class { static from() { return disposable(); } },
  TreeItem: class { constructor(label) { this.label = label; } },
  TreeItemCheckboxState: { Unchecked: 0, Checked: 1 },
  ThemeIcon: class { constructor(id) { this.id = id; } },
  workspace: { getConfiguration: () => ({ get: (_key, fallback) => fallback }), workspaceFolders: undefined },
  window: { activeTextEditor: undefined },
  debug: {
    activeDebugSession: undefined, onDidChangeActiveDebugSession: disposable, onDidTerminateDebugSession: disposable,
    onDidReceiveDebugSessionCustomEvent: disposable,
  },
  commands: {},
};
// every registration is recorded as [function, first argument (type, id, scheme), trigger]
const record = (name) => (type, impl, trigger) => { calls.push({ name, type, impl, trigger }); return disposable(); };
for (const name of ['registerDebugAdapterDescriptorFactory', 'registerDebugConfigurationProvider', 'registerDebugAdapterTrackerFactory']) stub.debug[name] = record(name);
stub.commands.registerCommand = record('registerCommand');
stub.workspace.registerTextDocumentContentProvider = record('registerTextDocumentContentProvider');
stub.window.createTreeView = (id) => {
  calls.push({ name: 'createTreeView', type: id });
  return { visible: false, message: undefined, onDidChangeVisibility: disposable, onDidChangeCheckboxState: disposable, dispose() {} };
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? stub : load.call(this, request, ...rest);
};

const dir = process.argv[2];
const extension = createRequire(import.meta.url)(path.join(dir, 'dist/extension.js'));
const context = { subscriptions: [], asAbsolutePath: (p) => path.join(dir, p) };
extension.activate(context);
const factory = calls.find((c) => c.name === 'registerDebugAdapterDescriptorFactory');
const descriptor = factory.impl.createDebugAdapterDescriptor();
// the inline adapter answers an initialize request as DAP says
descriptor.adapter.onDidSendMessage((m) => {
  console.log(JSON.stringify({
    registrations: calls.map((c) => [c.name, c.type, c.trigger ?? null]),
    subscriptions: context.subscriptions.length,
    descriptor: descriptor.constructor.name,
    initialize: { command: m.command, success: m.success, filters: (m.body?.exceptionBreakpointFilters ?? []).map((f) => f.filter) },
  }));
  process.exit(0);
});
descriptor.adapter.handleMessage({ seq: 1, type: 'request', command: 'initialize', arguments: { adapterID: 'vmx', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' } });
