#!/usr/bin/env bash
# The gateway's CPU per call (BENCHMARKS.md, issues 19 and 20): starts `hub serve` with one testkit server, loads
# POST /call kit__echo with wrk (-t1 -c16, 5 s after a 1 s warm-up) and reads the gateway's own CPU and context
# switches from `perf stat -p`. Needs wrk and perf (apt-get install wrk linux-perf). Environment passes through
# (e.g. TOKIO_WORKER_THREADS=1, OTEL_EXPORTER_OTLP_ENDPOINT=…).
# usage: benches/gateway-cpu.sh [path/to/hub]   (default: target/release/hub)
set -euo pipefail
BIN=$(realpath "${1:-target/release/hub}")
D=$(mktemp -d); PORT=$((20000 + RANDOM % 20000))
trap 'kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
printf '[servers.kit]\ncommand = "%s"\nargs = ["server", "testkit"]\n' "$BIN" > "$D/servers.toml"
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
  "'{\"tool\":\"kit__echo\",\"arguments\":{\"text\":\"hi\"}}'" > "$D/call.lua"
(cd "$D" && exec "$BIN" --config "$D/servers.toml" serve --http "127.0.0.1:$PORT" --no-socket > "$D/out" 2> "$D/err") &
PID=$!
for _ in $(seq 100); do curl -s "127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
wrk -t1 -c16 -d1s -s "$D/call.lua" "http://127.0.0.1:$PORT/call" > /dev/null
perf stat -e task-clock,context-switches -p "$PID" -o "$D/perf" 2> /dev/null & PERF=$!
sleep 0.2
wrk -t1 -c16 -d5s -s "$D/call.lua" "http://127.0.0.1:$PORT/call" > "$D/wrk"
kill -INT $PERF; wait $PERF 2> /dev/null || true
python3 - "$D/wrk" "$D/perf" <<'PY'
import re, sys
wrk, perf = open(sys.argv[1]).read(), open(sys.argv[2]).read()
calls = int(re.search(r"(\d+) requests in", wrk).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
ms = float(re.search(r"([\d.,]+) msec task-clock", perf).group(1).replace(",", ""))
cs = int(re.search(r"([\d,]+)\s+context-switches", perf).group(1).replace(",", ""))
print(f"{rate:.0f} calls/s, gateway CPU {ms * 1000 / calls:.1f} µs per call, {cs / calls:.2f} context switches per call")
PY
