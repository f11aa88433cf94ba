#!/usr/bin/env bash
# Prepare this machine to run the project: Debian packages (Docker engine,
# debootstrap, venv), a running dockerd, and the base images. Safe to run again:
# each step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  # systemd is not PID 1 on every machine this runs on: start the daemon directly.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    $SUDO sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/dockerd.log"; tail -n 20 /var/log/dockerd.log; exit 1; }
fi

# The shared .deb pool that test containers mount (see scripts/build-images.sh).
mkdir -p "${APT_CACHE_DIR:-$HOME/.cache/pyweb/apt}"

# --no-images: the caller builds them itself (make setup, beside the venvs).
if [ "${1:-}" = "--no-images" ]; then
  shift
else
  bash scripts/build-images.sh "$@"
fi
log "ready"
