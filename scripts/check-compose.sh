#!/usr/bin/env bash
# Validate docker-compose.yml with Debian's docker-compose (v1); no Docker engine needed.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "compose: docker-compose not found; installing Debian's package"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1; }
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "compose: WARNING: docker-compose could not be installed; docker-compose.yml NOT validated" >&2
  exit 0
fi
REDIS_PASSWORD=ci docker-compose -f docker-compose.yml config -q && echo "compose: docker-compose.yml is valid"
