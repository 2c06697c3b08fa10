#!/usr/bin/env bash
# toolvenv.sh NAME REQUIREMENTS_FILE — prints the path of a venv with those (pinned) requirements,
# made on the first call and reused while the file and the interpreter stay the same. The venvs live
# under tests/output/tools/ (git-ignored); they keep these tools out of the shared .venv, whose pins
# (ansible-lint, molecule) they would fight.
set -euo pipefail
name=$1 reqs=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${BGD_TOOL_PYTHON:-$(command -v python3.11 || command -v python3)}
venv=$repo/tests/output/tools/$name
stamp="$(sha256sum "$reqs" | cut -c1-16) $("$py" -c 'import sys; print(sys.version.split()[0])')"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.bgd-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$venv"
  exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
t0=$SECONDS
"$py" -m venv "$venv" >&2
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$reqs" > "$venv/pip.log" 2>&1; then
  grep -v "^WARNING: Location" "$venv/pip.log" >&2
  rm -rf "$venv"
  exit 1
fi
echo "$stamp" > "$venv/.bgd-stamp"
echo "toolvenv: $name made in $((SECONDS - t0)) s" >&2
echo "$venv"
