#!/usr/bin/env bash
# Build the systemd base images the Molecule scenarios and the local stack run on.
#
# No container registry is reachable, so images are made from Debian's packages:
# debootstrap a minimal root file system, add what the test platform needs
# (the machine's extra CA certificates, the -updates and -security suites, the
# shared .deb cache hooks), then `docker import` it. Like a cloud provider's
# image, it runs sshd: Ansible reaches the containers over SSH, with a key
# that the container's creator places in root's authorized_keys. An image
# that already exists is left alone when it was built by this version of the
# script (label pyweb.build); set FORCE=1 to rebuild anyway.
#
# Usage: scripts/build-images.sh [bookworm] [trixie]
set -euo pipefail

IMAGE_REPO="${IMAGE_REPO:-local/debian}"
SUITES=("$@")
[ "${#SUITES[@]}" -gt 0 ] || SUITES=(bookworm trixie)

declare -A TAG=([bookworm]=12 [trixie]=13)
# An image built by another version of this script is rebuilt.
BUILD_ID=$(sha256sum "$0" | cut -c1-16)

log() { printf '[build-images] %s\n' "$*"; }

# The Debian mirror this machine uses, so the images fetch from the same place.
mirror() {
  local url
  url=$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$url" ] || url=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${url:-http://deb.debian.org/debian}"
}

build() {
  local suite=$1 tag=${TAG[$1]:?unknown suite $1} name dir url
  name="${IMAGE_REPO}${tag}-systemd:latest"
  if [ -z "${FORCE:-}" ] && [ "$(docker image inspect -f '{{ index .Config.Labels "pyweb.build" }}' "$name" 2>/dev/null)" = "$BUILD_ID" ]; then
    log "$name exists, skipping"
    return 0
  fi
  url=$(mirror)
  dir=$(mktemp -d "/tmp/rootfs-${suite}.XXXXXX")
  trap 'rm -rf "$dir"' RETURN
  log "debootstrap $suite from $url"
  debootstrap --variant=minbase \
    --include=python3,systemd,systemd-sysv,ca-certificates,iproute2,procps,openssh-server \
    "$suite" "$dir" "$url" >"/tmp/debootstrap-${suite}.log" 2>&1 \
    || { tail -n 30 "/tmp/debootstrap-${suite}.log"; exit 1; }

  # A real Debian host has the security and updates suites.
  local sec_url=${url%/debian}/debian-security
  cat >"$dir/etc/apt/sources.list" <<SRC
deb $url $suite main
deb $url $suite-updates main
deb $sec_url $suite-security main
SRC

  # Trust the CA certificates this machine trusts (a re-signing proxy may sit
  # between the containers and PyPI).
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null 2>&1 || true
  fi

  # Test platform only: share downloaded .deb files between containers and
  # runs. The host's cache is mounted at /var/cache/apt-shared; after apt-get
  # update the pool is linked into the container's own archive directory, and
  # after dpkg runs the newly downloaded packages are copied back (write to a
  # temporary name, then rename, so no container ever sees half a file).
  # Each container keeps its own archive lock, so parallel installs never
  # fight over one.
  install -m 0755 /dev/stdin "$dir/usr/local/sbin/apt-shared-cache" <<'HOOK'
#!/bin/sh
# Managed by scripts/build-images.sh: test images only, not a role's file.
# link: offer every .deb of the shared pool to apt before it downloads.
# save: copy newly downloaded .deb files into the pool (temporary name, then
#       rename, so no other container ever sees half a file).
pool=/var/cache/apt-shared
archives=/var/cache/apt/archives
[ -d "$pool" ] || exit 0
case "$1" in
  link)
    for f in "$pool"/*.deb; do
      [ -e "$f" ] && [ ! -e "$archives/${f##*/}" ] && ln -s "$f" "$archives/"
    done ;;
  save)
    [ -w "$pool" ] || exit 0
    for f in "$archives"/*.deb; do
      [ -f "$f" ] && [ ! -L "$f" ] && [ ! -e "$pool/${f##*/}" ] || continue
      cp "$f" "$pool/.${f##*/}.$$" && mv -f "$pool/.${f##*/}.$$" "$pool/${f##*/}"
    done ;;
esac
exit 0
HOOK
  cat >"$dir/etc/apt/apt.conf.d/90shared-deb-cache" <<'APT'
// Managed by scripts/build-images.sh: test images only, not a role's file.
APT::Update::Post-Invoke { "/usr/local/sbin/apt-shared-cache link || true"; };
DPkg::Post-Invoke { "/usr/local/sbin/apt-shared-cache save || true"; };
APT

  # Containers have no console to get a login on; keep the boot quiet and fast.
  chroot "$dir" systemctl mask getty@tty1.service systemd-udevd.service \
    systemd-modules-load.service sys-kernel-config.mount >/dev/null 2>&1 || true
  rm -f "$dir/etc/machine-id" && touch "$dir/etc/machine-id"

  # Every server has host keys of its own: none in the image, each container
  # makes its own at first boot, before sshd starts (what cloud-init does).
  rm -f "$dir"/etc/ssh/ssh_host_*
  cat >"$dir/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
# Managed by scripts/build-images.sh: test images only, not a role's file.
[Unit]
Description=Generate this host's SSH host keys
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target ssh.service
UNIT
  chroot "$dir" systemctl enable ssh-host-keys.service ssh.service >/dev/null 2>&1
  chroot "$dir" apt-get clean

  log "importing $name"
  tar -C "$dir" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c "LABEL pyweb.build=$BUILD_ID" - "$name" >/dev/null
  log "$name ready"
}

# The suites side by side (each waits mostly on the mirror and the disk).
pids=()
for s in "${SUITES[@]}"; do build "$s" & pids+=("$!"); done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
exit "$rc"
