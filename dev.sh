#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with Python 3.11+:
#   ./dev.sh demo          set everything up, then run the whole door on this machine
#   ./dev.sh test [ARGS]   set everything up, then run the whole test suite (ARGS go to pytest), one worker per core
#                          (pytest-xdist, a test file per worker: its module fixtures start once); `-n 0`: serially
# Idempotent: system packages and the virtualenv (.venv, or $TICKETGATE_VENV) are installed only when missing.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${TICKETGATE_VENV:-.venv}
APT_PACKAGES=(mosquitto mosquitto-clients libzbar0 libgl1 libegl1 libgles2 libmtdev1 libsdl2-2.0-0 python3-venv fonts-dejavu-core poppler-utils libgl1-mesa-dri iproute2 postgresql faketime)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

system_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  # --no-install-recommends: libzbar0 would otherwise pull in ImageMagick
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  local stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
  [ -f "$stamp" ] && return 0
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  rm -f "$VENV"/.installed-*; touch "$stamp"
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo) system_packages; python_env; exec "$VENV/bin/ticketgate" demo "$@" ;;
  test) system_packages; python_env; exec "$VENV/bin/python" -m pytest -n auto --dist loadfile "$@" ;;
  setup) system_packages; python_env ;;
  *) echo "usage: ./dev.sh demo | ./dev.sh test [pytest args] | ./dev.sh setup"; exit 2 ;;
esac
