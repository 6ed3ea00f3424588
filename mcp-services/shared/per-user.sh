#!/bin/sh
# Gives each user a directory of their own for a wrapped stdio server: $MCP_DATA_DIR/<user>
# (made on first use; the user from MCP_USER_ID, which the stdio proxy sets per session from
# the gateway's X-User-Id). The wrapped command sees it as $MCP_USER_DIR and wherever one of
# its arguments says {user_dir}. Users never share files, memories or state.
#   per-user.sh mcp-server-filesystem {user_dir}
#   per-user.sh env MEMORY_FILE_PATH={user_dir}/memory.jsonl mcp-server-memory
set -eu
[ -n "${MCP_USER_ID:-}" ] || { echo "per-user.sh: MCP_USER_ID is not set (run it through the stdio proxy)" >&2; exit 64; }
base="${MCP_DATA_DIR:-/data}"
user=$(printf %s "$MCP_USER_ID" | tr -c 'A-Za-z0-9_-' '_')
MCP_USER_DIR="$base/$user"
mkdir -p "$MCP_USER_DIR"
export MCP_USER_DIR
for arg do
  shift
  case $arg in
  *'{user_dir}'*) arg=$(printf '%s\n' "$arg" | sed "s|{user_dir}|$MCP_USER_DIR|g") ;;
  esac
  set -- "$@" "$arg"
done
exec "$@"
