#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian packages). Needs root; does nothing when all are present.
set -euo pipefail
# One package a line, so that additions merge cleanly.
packages=(
  tgt libiscsi-bin qemu-utils qemu-block-extra
  python3-cinderclient python3-openstackclient python3-openstacksdk
  keystone python3-keystone
  tempest cinder-tempest-plugin python3-subunit
  postgresql
  xfsprogs
  qemu-system-x86 debootstrap cpio e2fsprogs
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
