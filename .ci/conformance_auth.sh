#!/usr/bin/env bash
# .ci/conformance_auth.sh URL — an auth/* client scenario of the conformance suite with hub as the client: a
# one-server config (with the client settings the scenario's MCP_CONFORMANCE_CONTEXT names: a pre-registered
# client id and secret) in a fresh state directory. It calls the scenario server's tool; when hub says to log in
# (with the scope the server's challenge names, for step-up), it runs `hub auth login t --no-browser [--scope S]`,
# plays the browser with one GET of the printed URL (the suite's authorization server redirects at once to hub's
# loopback callback) and calls again — at most three logins (the retry limit).
set -u
URL=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hub-auth.XXXXXX"); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
export XDG_STATE_HOME=$WORK/state HUB_DATA_DIR=$WORK/data
CTX=${MCP_CONFORMANCE_CONTEXT:-{\}}
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(v if isinstance(v,str) else "")' "$CTX" "$1"; }
{
  printf '[servers.t]\nurl = "%s"\n' "$URL"
  id=$(field client_id); secret=$(field client_secret)
  if [ -n "$id" ]; then
    printf 'oauth = { client_id = "%s"%s }\n' "$id" "${secret:+, client_secret = \"$secret\"}"
  fi
} > "$WORK/servers.toml"
hub() { "$HUB" --config "$WORK/servers.toml" "$@"; }

login() { # plays the browser for one `hub auth login t`; its exit code
  hub auth login t --no-browser --timeout 30 "$@" 2>"$WORK/login.err" >"$WORK/login.out" &
  local pid=$! url=""
  for _ in $(seq 300); do
    url=$(grep -o 'http[^ ]*/authorize?[^ ]*' "$WORK/login.err" | head -1)
    [ -n "$url" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$url" ] && curl -s -L -o /dev/null "$url"
  wait $pid; local rc=$?
  cat "$WORK/login.out" "$WORK/login.err" >&2
  return $rc
}

# Call; when hub says to log in (with a scope, for step-up), do that and call again — at most three logins.
for attempt in 1 2 3 4; do
  out=$(hub call t__test-tool 2>&1); rc=$?
  echo "$out"
  [ $rc -eq 0 ] && exit 0
  hint=$(grep -o 'hub auth login t[^`]*' <<<"$out" | head -1)
  [ -z "$hint" ] || [ $attempt -eq 4 ] && exit $rc
  scope=$(sed -n 's/.*--scope "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' <<<"$hint")
  if [ -n "$scope" ]; then login --scope "$scope" || exit 1; else login || exit 1; fi
done
