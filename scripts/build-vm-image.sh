#!/usr/bin/env bash
# Build Debian 12 and 13 virtual machines (a disk and a kernel each) for the scenarios
# that a container cannot host: a container shares the machine's kernel, so
# the kernel's audit (auditd), its settings and its modules can only be
# tested on a kernel of the test's own. The VM is made from the container
# image of scripts/build-images.sh, plus Debian's cloud kernel, udev, sudo (a
# cloud provider's Debian image has it) and systemd-networkd; it boots under
# qemu and Ansible reaches it over SSH on a port of 127.0.0.1, like any server.
#
# Like a cloud image, it has no key of its own: at boot a unit reads the
# controller's public key from qemu's firmware configuration
# (opt/pyweb/authorized_keys), as cloud-init reads a provider's metadata.
#
# Output: $PYWEB_VM_DIR (default ~/.cache/pyweb/vm)/debian{12,13}/{disk.raw,vmlinuz,initrd.img}.
# A VM is skipped when it exists and was built by this version of the script
# from the same container image; FORCE=1 rebuilds.
#
# Usage: scripts/build-vm-image.sh [bookworm] [trixie]
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=("$@")
[ "${#SUITES[@]}" -gt 0 ] || SUITES=(bookworm trixie)
declare -A TAG=([bookworm]=12 [trixie]=13)
log() { printf '[build-vm-image] %s\n' "$*"; }

# qemu and mkfs.ext4 -d, installed here (only the tests need them, not make up).
export PATH="$PATH:/usr/sbin:/sbin"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
  log "installing qemu-system-x86, qemu-utils and e2fsprogs"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils e2fsprogs >/dev/null
fi

build() {
  local suite=$1 tag=${TAG[$1]:?unknown suite $1}
  local IMAGE="local/debian${tag}-systemd:latest"
  local OUT="${PYWEB_VM_DIR:-$HOME/.cache/pyweb/vm}/debian${tag}"
  docker image inspect "$IMAGE" >/dev/null 2>&1 || bash scripts/build-images.sh "$suite"

  local build_id work builder root
  # The script read from stdin: `sha256sum FILE` also prints the path, which
  # differs between `make images` and the audit scenario's create.yml, and
  # each then rebuilt both VMs the other had built (about 80 s each time).
  build_id=$( { sha256sum < "$0"; docker image inspect -f '{{ .Id }}' "$IMAGE"; } | sha256sum | cut -c1-16)
  if [ -z "${FORCE:-}" ] && [ "$(cat "$OUT/build-id" 2>/dev/null)" = "$build_id" ]; then
    log "$OUT exists, skipping"
    return 0
  fi

  mkdir -p "$OUT"
  work=$(mktemp -d /tmp/pyweb-vm.XXXXXX)
  builder="pyweb-vm-build-$$"
  trap 'docker rm -f "${builder:-}" >/dev/null 2>&1 || true; rm -rf "${work:-}"' RETURN EXIT

  # Debian 13's VM comes with auditd, as a hardened provider image may: the
  # audit scenario then runs the role's install on Debian 12 and its
  # "already there" path on Debian 13. Installed here, at native speed, it
  # spares one of the two emulated installs (about three minutes of CPU).
  local preinstalled=""
  [ "$suite" = trixie ] && preinstalled=auditd

  # python3-apt: the apt module's bindings, which site.yml's preflight installs
  # before any role (playbooks/tasks/apt_bindings.yml); the audit scenario
  # applies its roles on their own, and at native speed here they cost the
  # emulated CPUs nothing.
  log "installing the kernel${preinstalled:+ and $preinstalled} in a container of $IMAGE"
  docker run --name "$builder" --entrypoint /bin/bash "$IMAGE" -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    extra=$(apt-cache show systemd-networkd >/dev/null 2>&1 && echo systemd-networkd || true)
    apt-get install -y -q --no-install-recommends linux-image-cloud-amd64 initramfs-tools udev kmod sudo python3-apt $extra '"$preinstalled"' >/dev/null
    apt-get clean' >"$work/install.log" 2>&1 || { tail -n 30 "$work/install.log"; exit 1; }

  log "unpacking the root file system"
  mkdir "$work/root"
  docker export "$builder" | tar -C "$work/root" -x
  root="$work/root"
  cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)" "$work/vmlinuz"
  cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)" "$work/initrd.img"

  # A VM has a kernel, devices and a console of its own: undo the container
  # image's masks, and drop docker's mark (systemd-detect-virt would call the
  # VM a container).
  rm -f "$root/.dockerenv"
  rm -f "$root"/etc/systemd/system/{systemd-udevd,systemd-modules-load,sys-kernel-config,getty@tty1}.service \
        "$root"/etc/systemd/system/sys-kernel-config.mount
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
  echo "pyweb-vm-debian${tag}" >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 pyweb-vm-debian%s\n' "$tag" >"$root/etc/hosts"
  # qemu's user network: DHCP and a DNS forwarder at 10.0.2.3.
  printf 'nameserver 10.0.2.3\n' >"$root/etc/resolv.conf"
  cat >"$root/etc/systemd/network/10-pyweb-vm.network" <<'NET'
# Managed by scripts/build-vm-image.sh: test VM only, not a role's file.
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
  cat >"$root/etc/systemd/system/pyweb-vm-key.service" <<'UNIT'
# Managed by scripts/build-vm-image.sh: test VM only, not a role's file.
# The controller's key from qemu's firmware configuration (what a cloud
# provider's metadata gives cloud-init).
[Unit]
Description=Install the controller's SSH key from the VM's metadata
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'modprobe qemu_fw_cfg; f=/sys/firmware/qemu_fw_cfg/by_name/opt/pyweb/authorized_keys/raw; [ -r "$f" ] || exit 0; install -d -m 0700 /root/.ssh; cat "$f" >/root/.ssh/authorized_keys; chmod 0600 /root/.ssh/authorized_keys'

[Install]
WantedBy=multi-user.target
UNIT
  chroot "$root" systemctl enable systemd-networkd.service pyweb-vm-key.service >/dev/null 2>&1

  # An emulated CPU boots slowly (about a minute): what the first boot would
  # do at its cost is done here, at native speed, or not at all. The host
  # keys: ed25519 and ECDSA, each the VM's own at first boot; an RSA key
  # took 14 s of an emulated boot. The caches that first boot would rebuild
  # (ldconfig, the hardware database) are built and marked current. No
  # console logins (nobody types at the VM's console).
  mkdir -p "$root/etc/systemd/system/ssh-host-keys.service.d"
  cat >"$root/etc/systemd/system/ssh-host-keys.service.d/vm.conf" <<'UNIT'
# Managed by scripts/build-vm-image.sh: test VM only, not a role's file.
[Service]
ExecStart=
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
UNIT
  chroot "$root" ldconfig
  chroot "$root" systemd-hwdb update >/dev/null 2>&1 || true
  touch "$root/etc/.updated" "$root/var/.updated"
  chroot "$root" systemctl mask getty-static.service serial-getty@ttyS0.service >/dev/null 2>&1

  log "making the disk"
  mkfs.ext4 -q -F -L root -d "$root" "$work/disk.raw" 4G
  mv "$work/disk.raw" "$work/vmlinuz" "$work/initrd.img" "$OUT/"
  echo "$build_id" >"$OUT/build-id"
  log "$OUT ready"
}

# One after the other: each is mostly disk work.
for s in "${SUITES[@]}"; do build "$s"; done
