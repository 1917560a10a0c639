// The debug adapter as a process: DAP over stdin/stdout, or with --server=PORT over TCP (one
// session per connection), as package.json's debugger contribution starts it.

import { DebugSession } from '@vscode/debugadapter';
import { VmxDebugSession } from './session';

DebugSession.run(VmxDebugSession);
