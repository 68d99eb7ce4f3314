#!/usr/bin/env bash
# Installs what test/support/keystone.ts needs: Debian's keystone (its WSGI app, python3-keystone and the
# oslo/sqlalchemy stack it pulls in). The fixture runs it with /usr/bin/python3's wsgiref; no web server,
# no systemd unit, no MySQL. Needs root; does nothing when everything is present. Safe to run repeatedly.
set -euo pipefail
packages=(keystone python3-keystone)
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
# The package's postinst tries to start its own service; policy-rc.d in containers refuses that, which is fine:
# the fixture runs its own process on loopback.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
/usr/bin/python3 -c 'import keystone.server.wsgi' || { echo "keystone installed but not importable by /usr/bin/python3" >&2; exit 1; }
