#!/usr/bin/env bash
# galaxy-importer (what Galaxy / Automation Hub run on an upload) on the built tarball (`make importer`).
#
#   tests/compat/galaxy-importer.sh             every check that runs on this machine
#   tests/compat/galaxy-importer.sh --no-lint   without the importer's own ansible-lint run (make test:
#                                               its lint stage already runs ansible-lint --profile production)
#
# What runs: the collection's metadata (galaxy.yml, MANIFEST/FILES), meta/runtime.yml, the changelog,
# every module's and role's docs through ansible-doc, the role READMEs and metadata, ansible-lint
# offline. What cannot run here: the importer's ansible-test, which only runs in a container
# (podman/docker or OpenShift) and no engine runs on this machine — `make test`'s sanity stage runs
# `ansible-test sanity` on the same files instead. flake8 is off as in the importer's defaults.
# Clean means: exit 0 and no ERROR/WARNING line in the importer's log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=$(bash "$repo/tests/compat/toolvenv.sh" galaxy-importer "$repo/tests/compat/requirements-importer.txt")
work=$(mktemp -d /tmp/bgd-importer.XXXXXX)
trap 'rm -rf "$work"' EXIT
lint=True
[ "${1:-}" = "--no-lint" ] && lint=False
cat > "$work/galaxy-importer.cfg" <<CFG
[galaxy-importer]
RUN_ANSIBLE_DOC = True
RUN_ANSIBLE_LINT = $lint
OFFLINE_ANSIBLE_LINT = True
RUN_ANSIBLE_TEST = False
RUN_FLAKE8 = False
CHECK_CHANGELOG = True
LOG_LEVEL_MAIN = INFO
TMP_ROOT_DIR = $work
CFG
"$venv/bin/ansible-galaxy" collection build --force --output-path "$work/dist" "$repo" >/dev/null
tarball=$(ls "$work"/dist/*.tar.gz)
rc=0
(cd "$work" && env PATH="$venv/bin:$PATH" GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg" ANSIBLE_NOCOLOR=1 \
  ANSIBLE_LOCAL_TEMP="$work/tmp" "$venv/bin/python" -m galaxy_importer.main "$tarball") > "$work/importer.log" 2>&1 || rc=$?
problems=$(grep -E '^(WARNING|ERROR)|Traceback' "$work/importer.log" || true)
if [ $rc -ne 0 ] || [ -n "$problems" ]; then
  cat "$work/importer.log"
  echo "galaxy-importer: NOT clean (rc=$rc) on $(basename "$tarball")"
  exit 1
fi
grep -E 'Importer processing completed' "$work/importer.log"
echo "galaxy-importer: clean on $(basename "$tarball") (ansible-lint inside the importer: $lint; ansible-test: not run, needs a container engine)"
