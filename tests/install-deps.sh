#!/usr/bin/env bash
# Installs the Debian packages the tests and the lab need on the controller (idempotent).
set -euo pipefail
pkgs=(debootstrap systemd-container openssh-client iproute2 shellcheck chromium curl redis-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: the Debian packages ${missing[*]} are missing and installing them needs root." >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
