#!/usr/bin/env bash
# The extension's tests in a real VS Code: the VS Code server bundled in code-server 4.100.3
# (VS Code 1.100.3) runs the extension as packaged (the .vsix of `npm run package`, unpacked, as
# extensionDevelopmentPath) and the suite out/test/vscode/suite/index.js (extensionTestsPath) in
# its Node extension host; headless chromium opens the workbench, which reads both from the URL
# payload and reports the suite's result through window.codeAutomationExit. npm run test:vscode
# packages first. Every wait is bounded; the server is stopped by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${VMX_VSCODE_DIR:-$ROOT/.vscode-test}
bash "$ROOT/test/vscode/install-code-server.sh"
export XDG_CONFIG_HOME="$DIR/xdg/config" XDG_DATA_HOME="$DIR/xdg/data"

VSIX=${VSIX:-$ROOT/$(node -p "const p=require('$ROOT/package.json'); p.name+'-'+p.version").vsix}
for f in "$ROOT/out/test/vscode/suite/index.js" "$VSIX"; do
  [ -f "$f" ] || { echo "$f is missing: run npm run test:vscode (it builds and packages first)" >&2; exit 2; }
done

# A workspace of its own (the suite changes settings there): the samples, copied.
R="$DIR/run"; rm -rf "$R"; mkdir -p "$R/ws" "$R/server/data/User"
cp -r "$ROOT/samples" "$R/ws/samples"
unzip -q "$VSIX" -d "$R/vsix"   # the extension exactly as it would be installed: extension/ in the zip
cat > "$R/server/data/User/settings.json" <<'JSON'
{ "workbench.startupEditor": "none", "workbench.tips.enabled": false, "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off", "update.mode": "none", "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false, "workbench.enableExperiments": false, "chat.disableAIFeatures": true }
JSON

PORT=${PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
# --enable-smoke-test-driver: without it a built product ignores the URL payload (code-server's
# own CLI rejects the flag, so the plain server inside the package is started).
node "$DIR/cs/node_modules/code-server/lib/vscode/out/server-main.js" --host 127.0.0.1 --port "$PORT" \
  --without-connection-token --accept-server-license-terms --enable-smoke-test-driver --telemetry-level off \
  --disable-workspace-trust --server-data-dir "$R/server" --user-data-dir "$R/server/data" --extensions-dir "$R/server/exts" \
  > "$R/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$R/server.log"; echo "VS Code server died" >&2; exit 1; }
  sleep 0.5
done

set +e
NODE_PATH="$DIR/tools/node_modules" SERVER_URL="http://127.0.0.1:$PORT" WORKSPACE="$R/ws" EXT_DEV="$R/vsix/extension" \
  EXT_TESTS="$ROOT/out/test/vscode/suite/index.js" timeout 300 node "$ROOT/test/vscode/drive-workbench.mjs"
rc=$?
set -e
kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true; trap - EXIT
[ $rc = 0 ] || echo "server log: $R/server.log" >&2
exit $rc
