#!/usr/bin/env bash
# The extension's tests in a real VS Code: the VS Code server bundled in code-server 4.100.3
# (VS Code 1.100.3) with headless chromium, installed on first use by install-code-server.sh.
# run-tests.mjs runs the extension-host suite (test/vscode/suite/) through @vscode/test-electron's
# runTests() with vscode-stand-in.mjs as the "VS Code executable", then the UI tests
# (test/vscode/ui/*.ui.mjs, screenshots in .vscode-test/screenshots/). npm run test:vscode
# builds and packages first. Every wait is bounded; servers are stopped by their PIDs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bash "$ROOT/test/vscode/install-code-server.sh"
exec node "$ROOT/test/vscode/run-tests.mjs" "$@"
