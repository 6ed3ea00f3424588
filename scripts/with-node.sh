#!/bin/sh
# Runs a command with Node >= 22.18 first on PATH (the gateway runs TypeScript through Node's
# native type stripping). The system's Node is used when recent enough; otherwise Node 24 is
# installed once from the npm registry (the `node` package) into a cache outside the repo.
#   sh scripts/with-node.sh node auth/src/main.ts
set -eu

NODE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mcp-oauth-gateway/node24"

node_ok() {
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null
}

if ! command -v node >/dev/null 2>&1 || ! node_ok node; then
  cached="$NODE_CACHE/node_modules/.bin/node"
  if ! [ -x "$cached" ] || ! node_ok "$cached"; then
    command -v npm >/dev/null 2>&1 || {
      echo "with-node: neither Node >= 22.18 nor npm found; install Node.js 22 or newer" >&2
      exit 1
    }
    echo "with-node: Node $(node --version 2>/dev/null || echo 'is missing'), need >= 22.18: installing node@24 from the npm registry into $NODE_CACHE" >&2
    rm -rf "$NODE_CACHE"
    mkdir -p "$NODE_CACHE"
    npm install --prefix "$NODE_CACHE" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
    node_ok "$cached" || {
      echo "with-node: node@24 did not install a working $cached" >&2
      exit 1
    }
  fi
  PATH="$NODE_CACHE/node_modules/.bin:$PATH"
  export PATH
fi

exec "$@"
