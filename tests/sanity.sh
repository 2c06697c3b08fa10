#!/usr/bin/env bash
# Runs `ansible-test sanity` on the collection.
#
# ansible-test only works inside ansible_collections/<namespace>/<name>/, so this copies the
# files git would ship (tracked + untracked-but-not-ignored) into such a tree under a temp dir
# and runs there. --local uses this venv's Python with the sanity requirements installed by
# `--requirements` (from the package index; no --docker engine and no --venv bootstrap here).
set -euo pipefail
# ansible-test keeps its sanity venvs under ~/.ansible/test: two runs at once would race on them.
if [ -z "${BGD_SANITY_LOCKED:-}" ]; then
  exec env BGD_SANITY_LOCKED=1 flock /tmp/bgd-sanity.lock "$0" "$@"
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
work=$(mktemp -d /tmp/bgd-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/badgateway/doctor
mkdir -p "$dest"
# (files deleted in the work tree but still in the index are skipped)
(cd "$repo" && git ls-files -co --exclude-standard -z \
  | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
  | xargs -0 cp --parents -P -t "$dest"/)
# ansible-test bootstraps pip in the venvs it makes from a downloaded get-pip script; that
# host is not reachable here. A stand-in with the same interface: ensurepip, then pip install.
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
for ver in 24_2 25_0 25_1 25_2 25_3; do
  cat > "$cache/get_pip_$ver.py" <<'PY'
"""Offline stand-in for get-pip.py (written by tests/sanity.sh)."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel", "--disable-pip-version-check")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
PY
done
cd "$dest"
git init -q
git add -A >/dev/null 2>&1
export PATH="$venv/bin:$PATH"
pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$venv/bin/ansible-test" sanity --local --python "$pyver" --requirements --color no "$@"
