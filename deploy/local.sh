#!/usr/bin/env bash
# A fleet on one machine, from Debian packages: N `hub serve` replicas behind HAProxy, sharing a Redis
# (apt-get install haproxy redis-server).
#
#   deploy/local.sh start DIR [N=3] [FRONT_PORT=8080]   # replicas on free ports, HAProxy on FRONT_PORT
#   deploy/local.sh stop DIR
#   deploy/local.sh redis stop|start DIR                # take the fleet's Redis away and bring it back
#
# DIR holds the state: servers.toml (the replicas' configuration, when present), one data directory per replica
# (data/1…), their logs, DIR/ports (one replica port per line), DIR/front (the balancer's port), DIR/redis (Redis's
# port), DIR/session.key and the pids. The replicas share HUB_SESSION_KEY (generated into DIR/session.key unless
# set), so a stateful MCP session may land on any of them, and Redis (HUB_REDIS; HUB_FLEET_REDIS=0: none), so rate
# limits are cluster-wide and list changes reach every replica's sessions.
# HUB names the binary (default: hub on PATH). The tests start their fleets with this script.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HUB=${HUB:-hub}

start() {
  local dir=$1 n=${2:-3} front=${3:-8080}
  command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
  mkdir -p "$dir"
  : >"$dir/ports"; : >"$dir/pids"
  if [ -z "${HUB_SESSION_KEY:-}" ]; then
    [ -s "$dir/session.key" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$dir/session.key")
    HUB_SESSION_KEY=$(cat "$dir/session.key")
  fi
  export HUB_SESSION_KEY
  if [ "${HUB_FLEET_REDIS:-1}" != 0 ] && [ -z "${HUB_REDIS:-}" ]; then
    command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$dir/redis"
    redis_up "$dir"
    export HUB_REDIS="redis://127.0.0.1:$(cat "$dir/redis")"
  fi
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
  echo "fleet: $n replicas ($(paste -sd, "$dir/ports")) behind http://127.0.0.1:$front${HUB_REDIS:+, Redis $HUB_REDIS}"
}

# Redis on DIR/redis's port, in the background, keeping nothing on disk; returns once it answers.
redis_up() {
  local dir=$1 port
  port=$(cat "$dir/redis")
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 1 200); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "redis did not start" >&2; cat "$dir/redis.log" >&2; exit 1
}

redis_down() {
  local dir=$1
  [ -f "$dir/redis" ] && redis-cli -p "$(cat "$dir/redis")" shutdown nosave >/dev/null 2>&1 || true
  rm -f "$dir/redis.pid"
}

stop() {
  local dir=$1
  [ -f "$dir/haproxy.pid" ] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
  [ -f "$dir/pids" ] && while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
  redis_down "$dir"
  rm -f "$dir/haproxy.pid" "$dir/pids"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  redis)
    case "${2:-}" in
      stop) redis_down "$3" ;;
      start) redis_up "$3" ;;
      *) echo "usage: $0 redis stop|start DIR" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: $0 start DIR [N] [FRONT_PORT] | stop DIR | redis stop|start DIR" >&2; exit 2 ;;
esac
