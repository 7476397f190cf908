#!/usr/bin/env bash
# A fleet on one machine, from Debian packages: N `hub serve` replicas behind HAProxy, sharing a Redis
# (apt-get install haproxy redis-server).
#
#   deploy/local.sh start DIR [N=3] [FRONT_PORT=8080]   # replicas on free ports, HAProxy on FRONT_PORT
#                                                       # (0: a free port, written to DIR/front)
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
  # A start that fails part-way stops what it started (a global: the trap runs outside this function).
  STARTING=$dir
  trap 'rc=$?; [ "$rc" = 0 ] || stop "$STARTING"; exit "$rc"' EXIT
  if [ -z "${HUB_SESSION_KEY:-}" ]; then
    [ -s "$dir/session.key" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$dir/session.key")
    HUB_SESSION_KEY=$(cat "$dir/session.key")
  fi
  export HUB_SESSION_KEY
  if [ "${HUB_FLEET_REDIS:-1}" != 0 ] && [ -z "${HUB_REDIS:-}" ]; then
    command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
    for try in 1 2 3 4 5; do
      free_port >"$dir/redis"
      redis_up "$dir" "$try" && break
    done
    export HUB_REDIS="redis://127.0.0.1:$(cat "$dir/redis")"
  fi
  local servers=""
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/data/$i"
    : >"$dir/hub$i.log" # before the replica starts: the loop below reads it at once
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
  # An asked-for port is taken as given; 0 picks a free one, another one if someone binds it first.
  local tries=1 port=$front
  [ "$front" = 0 ] && tries=5
  for try in $(seq 1 "$tries"); do
    [ "$front" = 0 ] && port=$(free_port)
    sed -e "s|@FRONT_PORT@|$port|" -e "/@SERVERS@/{
r /dev/stdin
d
}" "$HERE/haproxy.cfg" <<<"$servers" >"$dir/haproxy.cfg"
    haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" >"$dir/haproxy.log" 2>&1 && break
    [ "$try" = "$tries" ] && { echo "haproxy did not start:" >&2; cat "$dir/haproxy.log" >&2; exit 1; }
  done
  front=$port
  echo "$front" >"$dir/front"
  echo "fleet: $n replicas ($(paste -sd, "$dir/ports")) behind http://127.0.0.1:$front${HUB_REDIS:+, Redis $HUB_REDIS}"
}

# A port free now, below the kernel's ephemeral range (which `bind 0` and outgoing connections draw from, so a
# replica or a client cannot be handed it while the caller starts what will listen on it).
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    port = random.randrange(10000, max(low, 10001))
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
PY
}

# Redis on DIR/redis's port, in the background, keeping nothing on disk; returns once it answers (1 when it does
# not; with a second argument below 5, quietly — the caller tries another port).
redis_up() {
  local dir=$1 quiet=${2:-5} port
  port=$(cat "$dir/redis")
  : >"$dir/redis.log"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 1 200); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    grep -q "Address already in use\|Could not create server TCP" "$dir/redis.log" 2>/dev/null && break
    sleep 0.05
  done
  [ "$quiet" -lt 5 ] && return 1
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
