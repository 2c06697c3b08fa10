#!/bin/sh
# Install what the badgateway.doctor lab needs on the controller (Debian/Ubuntu, as root).
# Idempotent: prints nothing and exits 0 when everything is already installed.
set -eu
PKGS="debootstrap systemd-container openssh-client iproute2 util-linux mount"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: needs root to install:$missing" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: no apt-get on this machine; install by hand:$missing" >&2
  exit 1
fi
echo "install-deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
