#!/usr/bin/env bash
# Captures the tool-search catalog (tests/fixtures/catalog/*.json): `tools/list` of real third-party MCP servers,
# installed from npm and PyPI, dumped by the official Python SDK client (../shared/interop/mcp_probe.py). The servers
# are started with placeholder credentials: listing tools needs none, and nothing here calls a tool.
#
#   benches/catalog/capture.sh [WORKDIR]     # installs into WORKDIR (default /tmp/hub-catalog), rewrites the fixtures
#
# Needs node/npm, python3 and the interop venv (../shared/interop/setup.sh). The fixture is committed; this script
# is how it was made and how to refresh it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../../tests/fixtures/catalog
WORK=${1:-/tmp/hub-catalog}
PROBE=$HERE/../../../shared/interop/mcp_probe.py
PY=${INTEROP_HOME:-$HOME/.cache/hub-interop}/venv-mcp/bin/python
NPM_PKGS=(@modelcontextprotocol/server-github @modelcontextprotocol/server-gitlab @modelcontextprotocol/server-slack
  @modelcontextprotocol/server-google-maps @modelcontextprotocol/server-puppeteer @modelcontextprotocol/server-brave-search
  @modelcontextprotocol/server-redis @modelcontextprotocol/server-filesystem @modelcontextprotocol/server-memory
  @modelcontextprotocol/server-everything @playwright/mcp chrome-devtools-mcp @notionhq/notion-mcp-server
  mongodb-mcp-server @wonderwhy-er/desktop-commander mcp-server-kubernetes)
# In a directory of their own: their MCP SDK versions clash with the others'.
# (Tried and left out: @stripe/mcp and @supabase/mcp-server-supabase list their tools from their own hosts;
# @heroku/mcp-server imports an SDK path its pinned SDK no longer has.)
NPM_EXTRA=(firecrawl-mcp @circleci/mcp-server-circleci @hubspot/mcp-server)
PY_PKGS=(mcp-server-git mcp-server-fetch mcp-server-time)
PY_EXTRA=(mcp-atlassian) # a venv of its own: it pins an older MCP SDK

mkdir -p "$WORK" "$OUT"
cd "$WORK"
[ -f package.json ] || npm init -y >/dev/null
PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-fund --no-audit --loglevel=error "${NPM_PKGS[@]}"
mkdir -p extra && (cd extra && { [ -f package.json ] || npm init -y >/dev/null; } &&
  npm install --no-fund --no-audit --loglevel=error "${NPM_EXTRA[@]}")
[ -d venv ] || python3 -m venv venv
venv/bin/pip install -q "${PY_PKGS[@]}"
[ -d venv-atl ] || python3 -m venv venv-atl
venv-atl/bin/pip install -q "${PY_EXTRA[@]}"
BIN=$WORK/node_modules/.bin
EXTRA=$WORK/extra/node_modules/.bin
mkdir -p "$WORK/files"; git init -q "$WORK/repo" 2>/dev/null || true

# name | package (for the record) | command...
capture() {
  local name=$1 pkg=$2; shift 2
  local version
  local d
  for d in "$WORK" "$WORK/extra"; do
    [ -d "$d/node_modules/$pkg" ] && version=$(node -p "require('$d/node_modules/$pkg/package.json').version")
  done
  [ -n "${version:-}" ] || version=$( (venv/bin/pip show "$pkg"; venv-atl/bin/pip show "$pkg") 2>/dev/null |
    sed -n 's/^Version: //p' | head -1)
  # The SDK client hands a stdio server only a minimal environment: the placeholders go through env(1).
  if ! timeout 120 "$PY" "$PROBE" --mode legacy --stdio -- env "${PLACEHOLDERS[@]}" "$@" >"$WORK/$name.raw" \
    2>"$WORK/$name.err"; then
    echo "capture: $name failed (see $WORK/$name.err)" >&2; return 0
  fi
  python3 - "$name" "$pkg@$version" "$WORK/$name.raw" >"$OUT/$name.json" <<'PY'
import json, sys
name, package, raw = sys.argv[1:4]
tools = json.load(open(raw))["tools"]
json.dump({"server": name, "package": package, "tools": tools}, sys.stdout, indent=1, sort_keys=True)
print()
PY
  echo "capture: $name ($pkg@$version) $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['tools']))" "$OUT/$name.json") tools"
}

PLACEHOLDERS=(GITHUB_PERSONAL_ACCESS_TOKEN=placeholder GITLAB_PERSONAL_ACCESS_TOKEN=placeholder
  GITLAB_API_URL=https://gitlab.invalid/api/v4 SLACK_BOT_TOKEN=xoxb-placeholder SLACK_TEAM_ID=T0000
  GOOGLE_MAPS_API_KEY=placeholder BRAVE_API_KEY=placeholder HEROKU_API_KEY=placeholder NOTION_TOKEN=placeholder
  FIRECRAWL_API_KEY=fc-placeholder CIRCLECI_TOKEN=placeholder PRIVATE_APP_ACCESS_TOKEN=placeholder
  SUPABASE_ACCESS_TOKEN=sbp_placeholder JIRA_URL=https://jira.invalid JIRA_USERNAME=a@b.invalid
  JIRA_API_TOKEN=placeholder CONFLUENCE_URL=https://confluence.invalid/wiki CONFLUENCE_USERNAME=a@b.invalid
  CONFLUENCE_API_TOKEN=placeholder "PATH=$PATH" "HOME=$HOME")
# server-redis connects at start: a throwaway Redis for it.
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes --pidfile "$WORK/redis.pid" >/dev/null
trap 'kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true' EXIT
capture github @modelcontextprotocol/server-github "$BIN/mcp-server-github"
capture gitlab @modelcontextprotocol/server-gitlab "$BIN/mcp-server-gitlab"
capture slack @modelcontextprotocol/server-slack "$BIN/mcp-server-slack"
capture maps @modelcontextprotocol/server-google-maps "$BIN/mcp-server-google-maps"
capture puppeteer @modelcontextprotocol/server-puppeteer "$BIN/mcp-server-puppeteer"
capture brave @modelcontextprotocol/server-brave-search "$BIN/mcp-server-brave-search"
capture redis @modelcontextprotocol/server-redis "$BIN/mcp-server-redis" "redis://127.0.0.1:$REDIS_PORT"
capture filesystem @modelcontextprotocol/server-filesystem "$BIN/mcp-server-filesystem" "$WORK/files"
capture memory @modelcontextprotocol/server-memory "$BIN/mcp-server-memory"
capture everything @modelcontextprotocol/server-everything "$BIN/mcp-server-everything" stdio
capture playwright @playwright/mcp "$BIN/playwright-mcp"
capture devtools chrome-devtools-mcp "$BIN/chrome-devtools-mcp"
capture notion @notionhq/notion-mcp-server "$BIN/notion-mcp-server"
capture mongodb mongodb-mcp-server "$BIN/mongodb-mcp-server"
capture desktop @wonderwhy-er/desktop-commander "$BIN/desktop-commander"
capture kubernetes mcp-server-kubernetes "$BIN/mcp-server-kubernetes"
capture firecrawl firecrawl-mcp "$EXTRA/firecrawl-mcp"
capture circleci @circleci/mcp-server-circleci "$EXTRA/mcp-server-circleci"
capture hubspot @hubspot/mcp-server "$EXTRA/mcp-hubspot"
capture atlassian mcp-atlassian venv-atl/bin/mcp-atlassian
capture git mcp-server-git venv/bin/mcp-server-git --repository "$WORK/repo"
capture fetch mcp-server-fetch venv/bin/mcp-server-fetch
capture time mcp-server-time venv/bin/mcp-server-time --local-timezone UTC
