#!/usr/bin/env bash
# Make sure a Redis server answers on HOST:PORT: start redis-server if none does,
# installing it with apt-get if it is missing. Used by `make test` and `make bench`.
set -euo pipefail
HOST=${1:-127.0.0.1}
PORT=${2:-6379}

ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null | grep -q PONG
  else
    # no client: speak RESP over bash's /dev/tcp
    (exec 3<>"/dev/tcp/$HOST/$PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null
  fi
}

if ping; then
  echo "redis: answering on $HOST:$PORT"
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: redis-server not found; installing it with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
echo "redis: starting redis-server on $HOST:$PORT"
redis-server --daemonize yes --bind "$HOST" --port "$PORT" --save "" --appendonly no \
  --dir /tmp --logfile "/tmp/formicr-redis-$PORT.log"
for _ in $(seq 1 50); do
  ping && { echo "redis: answering on $HOST:$PORT"; exit 0; }
  sleep 0.1
done
echo "redis: could not start redis-server on $HOST:$PORT (see /tmp/formicr-redis-$PORT.log)" >&2
exit 1
