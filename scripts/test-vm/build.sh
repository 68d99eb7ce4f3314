#!/usr/bin/env bash
# Builds (once) the Linux test VM for test/interop/kernel-initiator.test.ts from Debian packages only:
#   - Debian's kernel (linux-image-amd64, taken apart with apt-get download + dpkg -x, never installed here),
#   - a root filesystem made with debootstrap holding open-iscsi and python3-os-brick, as an ext4 image
#     written from a directory with mkfs.ext4 -d (no mount, no loop device),
#   - a small initramfs (busybox-static) that loads virtio and ext4, puts init.sh (as /embervol-init) and
#     agent.py into the root filesystem and switches to it; init.sh starts udev, iscsid and the agent on the
#     second serial port.
# The result lives in ${EMBERVOL_TEST_VM_CACHE:-/var/cache/embervol-test-vm}/<key>, where the key covers the
# package versions and this script, so only a fresh machine (or a new package version) pays for the build.
# init.sh and agent.py live only in the initramfs (initrd.img), which is remade in a second when they change.
# Prints the directory on its last line. Needs root (debootstrap). Timings: docs/initiators.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${EMBERVOL_TEST_VM_CACHE:-/var/cache/embervol-test-vm}"
suite=bookworm
guest_packages=(open-iscsi python3-os-brick lsscsi udev sudo kmod iproute2 e2fsprogs util-linux procps)

log() { echo "[build-test-vm $(date -u +%H:%M:%S)] $*" >&2; }

need=()
for tool in debootstrap mkfs.ext4 cpio qemu-system-x86_64; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then echo "missing tools: ${need[*]} (run scripts/install-peers.sh)" >&2; exit 1; fi

kernel_pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
[ -n "$kernel_pkg" ] || { echo "cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
versions="$(apt-cache policy "$kernel_pkg" busybox-static "${guest_packages[@]}" \
  | awk '/^[^ ]/ { sub(":$", "", $1); p = $1 } /Candidate:/ { printf "%s%s=%s", sep, p, $2; sep = " " }')"
scripts_hash="$(cat "$here/build.sh" | sha256sum | cut -c1-12)"
guest_hash="$(cat "$here/initramfs-init.sh" "$here/init.sh" "$here/agent.py" | sha256sum | cut -c1-12)"
key="$(printf '%s %s %s' "$suite" "$versions" "$scripts_hash" | sha256sum | cut -c1-16)"
out="$cache_root/$key"

# The initramfs: the base tree made once below, plus the guest scripts as they are now.
make_initrd() {
  [ "$(cat "$out/initrd.hash" 2>/dev/null)" = "$guest_hash" ] && return 0
  local t
  t="$(mktemp -d "$cache_root/initrd.XXXXXX")"
  cp -a "$out/initramfs/." "$t/"
  install -m 0755 "$here/initramfs-init.sh" "$t/init"
  install -m 0755 "$here/init.sh" "$t/embervol-init"
  install -m 0755 "$here/agent.py" "$t/embervol-agent"
  (cd "$t" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img.new"
  rm -rf "$t"
  mv "$out/initrd.img.new" "$out/initrd.img"
  echo "$guest_hash" >"$out/initrd.hash"
}

if [ -f "$out/ready" ]; then
  exec 9>"$cache_root/.lock"
  flock 9
  make_initrd
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [ -f "$out/ready" ]; then make_initrd; echo "$out"; exit 0; fi
work="$(mktemp -d "$cache_root/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "building $out ($versions)"
start=$(date +%s)

mirror="$(grep -rhoE '^(deb|URIs:) +\[?[^ ]*' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^ ]*/debian/?$' | head -1 || true)"
mirror="${EMBERVOL_TEST_VM_MIRROR:-${mirror:-http://deb.debian.org/debian}}"

# 1. kernel and modules, busybox for the initramfs
(cd "$work" && apt-get download -q "$kernel_pkg" busybox-static >/dev/null 2>&1)
mkdir "$work/kernel" "$work/busybox"
dpkg -x "$work/$kernel_pkg"_*.deb "$work/kernel"
dpkg -x "$work"/busybox-static_*.deb "$work/busybox"
kver="$(ls "$work/kernel/lib/modules")"
t1=$(date +%s); log "kernel $kver extracted ($((t1 - start)) s)"

# 2. root filesystem
# minbase first, then apt-get inside it: apt orders the configuration of python3-os-brick's many
# dependencies, which debootstrap --include does not (it fails configuring python3-pycparser).
debootstrap --variant=minbase "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -40 "$work/debootstrap.log" >&2; exit 1; }
t2=$(date +%s); log "debootstrap done ($((t2 - t1)) s)"
printf '#!/bin/sh\nexit 101\n' >"$work/root/usr/sbin/policy-rc.d"
chmod 0755 "$work/root/usr/sbin/policy-rc.d"
echo "deb $mirror $suite main" >"$work/root/etc/apt/sources.list"
mount -t proc proc "$work/root/proc"
trap 'umount "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
chroot "$work/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${guest_packages[*]}" >"$work/apt.log" 2>&1 \
  || { tail -40 "$work/apt.log" >&2; exit 1; }
umount "$work/root/proc"
rm -f "$work/root/usr/sbin/policy-rc.d"
t2b=$(date +%s); log "guest packages installed ($((t2b - t2)) s)"
t2=$t2b
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
mkdir -p "$work/root/lib/modules"
cp -a "$work/kernel/lib/modules/$kver" "$work/root/lib/modules/"
chroot "$work/root" /sbin/depmod "$kver"
echo embervol-test-vm >"$work/root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 embervol-test-vm\n' >"$work/root/etc/hosts"
rm -f "$work/root/etc/iscsi/initiatorname.iscsi"   # made fresh at each boot by /embervol-init
size_mb=$(( $(du -sm "$work/root" | cut -f1) * 13 / 10 + 256 ))
mkfs.ext4 -q -F -L embervol-vm -d "$work/root" "$work/rootfs.img" "${size_mb}M"
t3=$(date +%s); log "rootfs.img ${size_mb} MiB written ($((t3 - t2)) s)"

# 3. initramfs: busybox + what mounting /dev/vda needs
ird="$work/initramfs"
mkdir -p "$ird/bin" "$ird/modules" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot"
cp "$work/busybox/bin/busybox" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
chroot "$work/root" /sbin/modprobe -S "$kver" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 \
  | awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' >"$work/modlist"
: >"$ird/modules/order"
while read -r m; do
  cp "$work/root$m" "$ird/modules/"
  basename "$m" >>"$ird/modules/order"
done <"$work/modlist"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"

mkdir -p "$out"
mv "$work/vmlinuz" "$work/rootfs.img" "$ird" "$out/"
make_initrd
printf 'key=%s\nkernel=%s\nversions=%s\nbuilt=%s\nseconds=%s\n' "$key" "$kver" "$versions" "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" >"$out/ready"
log "done in $(( $(date +%s) - start )) s"
echo "$out"
