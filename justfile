# MCP OAuth Gateway: the production stack (docker-compose.yml, Traefik) and a few shortcuts.
# `just` lists the recipes; docs/deployment.md walks through a deployment.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Node >= 22.18 for the scripts (fetched from the npm registry once when the system's is older).
node := "sh scripts/with-node.sh node"

# Every `docker compose` goes through scripts/compose.ts: it enables the profile of each MCP service
# enabled in .env (`--all`: every service) and gives Compose each service's edge secret, derived from
# EDGE_SECRET; docker-compose.yml refuses to start without them.
compose := node + " scripts/compose.ts"

# List the recipes
default:
    @{{ just_executable() }} --list

# Build and start Traefik, Redis, auth and every MCP service enabled in .env
up: _env
    {{ compose }} up -d --build --remove-orphans

# From now on Redis Sentinel instead of one Redis (COMPOSE_FILE in .env), then start as up does
up-sentinel: _env
    #!/usr/bin/env bash
    set -euo pipefail
    files=docker-compose.yml:docker-compose.sentinel.yml
    current="$(grep -E '^COMPOSE_FILE=' .env | tail -n 1 | cut -d= -f2- || true)"
    if [ -z "$current" ]; then
      printf '\n# Redis Sentinel (docs/operations.md): Compose reads both files for every recipe.\nCOMPOSE_FILE=%s\n' "$files" >> .env
      echo "Added to .env: COMPOSE_FILE=$files"
    elif [ "$current" != "$files" ]; then
      echo ".env has COMPOSE_FILE=$current: make it COMPOSE_FILE=$files (docs/operations.md)" >&2
      exit 1
    fi
    {{ compose }} up -d --build --remove-orphans

# Stop and remove the stack's containers (volumes are kept)
down: _env
    {{ compose }} --all down --remove-orphans

# Stop, then start again with the current .env
restart: down up

# Show logs, e.g. `just logs -f auth`
logs *args: _env
    {{ compose }} --all logs {{ args }}

# List the stack's containers and their health
ps: _env
    {{ compose }} --all ps

# Check the public endpoints: discovery, each enabled service's metadata and its 401 challenge
check-health: _env
    #!/usr/bin/env bash
    set -euo pipefail
    domain="$(grep -E '^BASE_DOMAIN=' .env | tail -n 1 | cut -d= -f2- | tr -d "\"' ")"
    [ -n "$domain" ] || { echo "BASE_DOMAIN is not set in .env" >&2; exit 1; }
    base="https://$domain"
    failed=0
    report() { if [ "$1" = "$2" ]; then echo "ok    $3"; else echo "FAIL  $3 (HTTP $1, expected $2)"; failed=1; fi; }
    status() { curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$@" || true; }
    # /health is not routed from outside: ask the auth service from inside its container.
    if {{ compose }} exec -T auth node -e "fetch('http://127.0.0.1:8080/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
      echo "ok    auth /health (inside the stack)"
    else
      echo "FAIL  auth /health (inside the stack)"; failed=1
    fi
    report "$(status "$base/.well-known/oauth-authorization-server")" 200 "$base/.well-known/oauth-authorization-server"
    services="$({{ compose }} --services)"
    for service in $services; do
      report "$(status "$base/.well-known/oauth-protected-resource/$service/mcp")" 200 "$base/.well-known/oauth-protected-resource/$service/mcp"
      # Without a token, ForwardAuth answers 401 with the WWW-Authenticate challenge.
      report "$(status -X POST "$base/$service/mcp")" 401 "$base/$service/mcp without a token"
    done
    exit "$failed"

# Lint, type-check and run every test
test:
    npm test

# Run the gateway locally (http://localhost:8000), no Docker
dev:
    npm start

# Regenerate docker-compose*.yml and traefik/dynamic from the code (routes, chain, catalogue)
generate-deploy:
    npm run generate:deploy

# SIGNING_KEY is not among the secrets generated: left empty, the signing key is generated on first start
# and kept in Redis, where keys-rotate rotates it (docs/keys.md).

# Fill the empty secrets of .env (created from .env.example if absent); never overwrites a value
generate-secrets:
    {{ node }} scripts/generate-secrets.ts .env

# List the registered clients
clients: _env
    {{ compose }} exec auth node auth/src/cli.ts clients list

# Show one registered client
client id: _env
    {{ compose }} exec auth node auth/src/cli.ts clients show {{ quote(id) }}

# Revoke a client and every token and grant it holds
revoke-client id: _env
    {{ compose }} exec auth node auth/src/cli.ts clients revoke {{ quote(id) }}

# A SIGNING_KEY set in .env is rotated by replacing it there instead (docs/keys.md).

# Make a new signing key current (the previous ones keep verifying until they retire)
keys-rotate: _env
    {{ compose }} exec auth node auth/src/cli.ts keys rotate

_env:
    @test -f .env || { echo ".env is missing: run 'just generate-secrets', then edit .env (docs/deployment.md)" >&2; exit 1; }
