#!/usr/bin/env bash
# .ci/conformance_client.sh URL — hub as the client under test of `conformance client --command …`: the runner
# starts a throw-away MCP server per scenario and runs this script with its URL as the last argument and the
# scenario in MCP_CONFORMANCE_SCENARIO. hub gets a one-server config pointing at the URL and does what the
# scenario expects: initialize (list the server's tools), tools_call (call add_numbers), sse-retry (call
# test_reconnection; rmcp reconnects the SSE stream after the server's retry), auth/* (conformance_auth.sh: log
# in, then call). HUB: the hub binary.
set -u
URL="${@: -1}"
CFG=$(mktemp "${TMPDIR:-/tmp}/hub-conf.XXXXXX.toml"); trap 'rm -f "$CFG"' EXIT
printf '[servers.t]\nurl = "%s"\n' "$URL" > "$CFG"
case "${MCP_CONFORMANCE_SCENARIO:-initialize}" in
  auth/*) exec bash "$(dirname "$0")/conformance_auth.sh" "$URL" ;;
  initialize) exec "$HUB" --config "$CFG" tools --json ;;
  tools_call) exec "$HUB" --config "$CFG" call t__add_numbers '{"a": 2, "b": 40}' ;;
  sse-retry)  exec "$HUB" --config "$CFG" call t__test_reconnection ;;
  *) echo "conformance_client.sh: scenario $MCP_CONFORMANCE_SCENARIO does not apply to hub" >&2; exit 2 ;;
esac
