#!/usr/bin/env bash
# A fleet on one machine, from Debian packages: N `hub serve` replicas behind HAProxy (apt-get install haproxy).
#
#   deploy/local.sh start DIR [N=3] [FRONT_PORT=8080]   # replicas on free ports, HAProxy on FRONT_PORT
#   deploy/local.sh stop DIR
#
# DIR holds the state: servers.toml (the replicas' configuration, when present), one data directory per replica
# (data/1…), their logs, DIR/ports (one replica port per line), DIR/front (the balancer's port) and the pids.
# HUB names the binary (default: hub on PATH). The tests start their fleets with this script.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HUB=${HUB:-hub}

start() {
  local dir=$1 n=${2:-3} front=${3:-8080}
  command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
  mkdir -p "$dir"
  : >"$dir/ports"; : >"$dir/pids"
  local servers=""
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/data/$i"
    (cd "$dir" && HUB_DATA_DIR="$dir/data/$i" exec "$HUB" serve --http 127.0.0.1:0 --no-socket) \
      >"$dir/hub$i.log" 2>&1 &
    echo $! >>"$dir/pids"
    local port=""
    for _ in $(seq 1 600); do
      port=$(sed -n 's|^hub serve: http://127.0.0.1:\([0-9]*\) .*|\1|p' "$dir/hub$i.log" | head -1)
      [ -n "$port" ] && break
      kill -0 "$(tail -1 "$dir/pids")" 2>/dev/null || { cat "$dir/hub$i.log" >&2; exit 1; }
      sleep 0.05
    done
    [ -n "$port" ] || { echo "replica $i did not start" >&2; cat "$dir/hub$i.log" >&2; exit 1; }
    echo "$port" >>"$dir/ports"
    servers+="    server hub$i 127.0.0.1:$port check"$'\n'
  done
  sed -e "s|@FRONT_PORT@|$front|" -e "/@SERVERS@/{
r /dev/stdin
d
}" "$HERE/haproxy.cfg" <<<"$servers" >"$dir/haproxy.cfg"
  haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" >"$dir/haproxy.log" 2>&1
  echo "$front" >"$dir/front"
  echo "fleet: $n replicas ($(paste -sd, "$dir/ports")) behind http://127.0.0.1:$front"
}

stop() {
  local dir=$1
  [ -f "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
  [ -f "$dir/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
  rm -f "$dir/haproxy.pid" "$dir/pids"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start DIR [N] [FRONT_PORT] | stop DIR" >&2; exit 2 ;;
esac
