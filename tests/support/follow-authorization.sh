#!/bin/sh
# $BROWSER for an MCP client on a machine without a desktop (docs/clients.md, "Headless"): runs
# follow-authorization.ts, which goes through the gateway's pages in headless Chromium, on a Node
# that can run it (scripts/with-node.sh). xdg-open runs `$BROWSER <url>` with one executable path.
here=$(dirname "$0")
exec sh "$here/../../scripts/with-node.sh" node "$here/follow-authorization.ts" "$@"
