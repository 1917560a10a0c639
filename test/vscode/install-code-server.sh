#!/usr/bin/env bash
# Installs what the tests in a real VS Code need, pinned, into $VMX_VSCODE_DIR (default:
# .vscode-test/ in the repository, which git ignores): code-server (its bundled VS Code server
# and extension host; the desktop build cannot be downloaded here) and playwright-core (drives
# Debian's chromium). Skips what is already there at the right version. Run as root on Debian;
# INSTALL_APT=1 also installs the Debian packages (chromium; libkrb5-dev and ripgrep, which
# code-server's native modules and its ripgrep postinstall need offline).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${VMX_VSCODE_DIR:-$ROOT/.vscode-test}
CS_VERSION=4.100.3          # = VS Code 1.100.3; the last code-server whose engines.node is 20
PLAYWRIGHT_VERSION=1.65.1
mkdir -p "$DIR"
export XDG_CONFIG_HOME="$DIR/xdg/config" XDG_DATA_HOME="$DIR/xdg/data"   # code-server writes there even for --version

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v krb5-config >/dev/null || missing+=(libkrb5-dev)
command -v rg >/dev/null || missing+=(ripgrep)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${INSTALL_APT:-0}" = 1 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing Debian packages: ${missing[*]} (apt-get install them, or set INSTALL_APT=1)" >&2; exit 2
  fi
fi

CS="$DIR/cs"
SERVER="$CS/node_modules/code-server/lib/vscode/out/server-main.js"
if [ -f "$SERVER" ] && [ "$(node -p "require('$CS/node_modules/code-server/package.json').version")" = "$CS_VERSION" ]; then
  echo "code-server $CS_VERSION present"
else
  echo "installing code-server $CS_VERSION into $CS (about a minute)"
  rm -rf "$CS" && mkdir -p "$CS/tmp" && cd "$CS"
  echo '{"name":"vmx-debug-code-server","private":true}' > package.json
  npm pack "code-server@$CS_VERSION" --silent >/dev/null
  # @vscode/ripgrep's postinstall downloads rg from GitHub: seed its download cache with Debian's rg.
  tar xzf "code-server-$CS_VERSION.tgz" package/lib/vscode/npm-shrinkwrap.json
  RG_PKG=$(node -p "(require('./package/lib/vscode/npm-shrinkwrap.json').packages['node_modules/@vscode/ripgrep']||{}).version||''")
  export TMPDIR="$CS/tmp"   # the cache lives in os.tmpdir()
  if [ -n "$RG_PKG" ]; then
    npm pack "@vscode/ripgrep@$RG_PKG" --silent >/dev/null
    RG_REL=$(tar xzf "vscode-ripgrep-$RG_PKG.tgz" package/lib/postinstall.js -O | sed -n "s/^const VERSION = '\(.*\)';/\1/p")
    RG_CACHE="$TMPDIR/vscode-ripgrep-cache-$RG_PKG"
    mkdir -p "$RG_CACHE/x" && cp "$(command -v rg)" "$RG_CACHE/x/rg"
    tar czf "$RG_CACHE/ripgrep-$RG_REL-x86_64-unknown-linux-musl.tar.gz" -C "$RG_CACHE/x" rg
    rm -f "vscode-ripgrep-$RG_PKG.tgz"
  fi
  # unsafe_perm: the postinstall refuses root without it; yes: node-pty's postinstall runs npx
  npm_config_unsafe_perm=true npm_config_yes=true \
    npm install --no-audit --no-fund --foreground-scripts "./code-server-$CS_VERSION.tgz" > "$CS/install.log" 2>&1 \
    || { tail -40 "$CS/install.log"; echo "code-server install failed (log: $CS/install.log)" >&2; exit 1; }
  unset TMPDIR
  rm -rf package "code-server-$CS_VERSION.tgz"
fi

TOOLS="$DIR/tools"
if [ "$(node -p "try{require('$TOOLS/node_modules/playwright-core/package.json').version}catch{''}")" != "$PLAYWRIGHT_VERSION" ]; then
  mkdir -p "$TOOLS" && cd "$TOOLS"
  echo '{"name":"vmx-debug-vscode-tools","private":true}' > package.json
  npm install --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" > install.log 2>&1 || { tail -20 install.log; exit 1; }
fi
echo "playwright-core $PLAYWRIGHT_VERSION present"
