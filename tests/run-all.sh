#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it. Every stage runs even when an earlier
# one failed, so one CI run shows every problem; the exit code is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${VENV:-.venv}/bin
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
export ANSIBLE_COLLECTIONS_PATH=$PWD/tests/output/collections
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 NO_COLOR=1
export PATH="$BIN:$PATH"

declare -a names=() results=() times=()
stage() {
  local name=$1; shift
  echo
  echo "==================== $name ===================="
  local t0=$SECONDS
  "$@"
  local rc=$?
  names+=("$name"); results+=("$rc"); times+=("$((SECONDS - t0))")
  echo "---- $name: $([ $rc -eq 0 ] && echo ok || echo "FAILED (rc=$rc)") in $((SECONDS - t0))s"
}

build_and_doc() {
  local tmp rc=0
  tmp=$(mktemp -d /tmp/bgd-build.XXXXXX)
  "$BIN/ansible-galaxy" collection build --force --output-path "$tmp/dist" . >/dev/null || rc=1
  if [ $rc -eq 0 ]; then
    "$BIN/ansible-galaxy" collection install --force -p "$tmp/coll" "$tmp"/dist/badgateway-doctor-*.tar.gz >/dev/null || rc=1
  fi
  if [ $rc -eq 0 ]; then
    ANSIBLE_COLLECTIONS_PATH=$tmp/coll "$BIN/ansible-doc" -l badgateway.doctor | tee "$tmp/doc.txt" || rc=1
    for f in plugins/modules/*.py; do
      m=$(basename "$f" .py)
      grep -q "^badgateway.doctor.$m " "$tmp/doc.txt" || { echo "ansible-doc does not list badgateway.doctor.$m"; rc=1; }
      ANSIBLE_COLLECTIONS_PATH=$tmp/coll "$BIN/ansible-doc" "badgateway.doctor.$m" >/dev/null || { echo "ansible-doc badgateway.doctor.$m failed"; rc=1; }
    done
  fi
  rm -rf "$tmp"
  return $rc
}

stage unit "$BIN/python" -m pytest tests/unit -q -p no:cacheprovider
stage sanity env VENV="${BIN%/bin}" bash tests/sanity.sh
stage lint "$BIN/ansible-lint" --profile production
stage build-install-doc build_and_doc
stage compat-quick "$BIN/python" tests/compat/compat.py --quick
stage execution-env "$BIN/python" -m pytest tests/compat/test_execution_environment.py -q -p no:cacheprovider
stage docs-lint bash docs/build-site.sh --lint
stage galaxy-importer bash tests/compat/galaxy-importer.sh --no-lint
stage molecule "$BIN/molecule" test -s diagnose
stage molecule-app_service "$BIN/molecule" test -s app_service
stage molecule-app_unit "$BIN/molecule" test -s app_unit
stage molecule-socket_permissions "$BIN/molecule" test -s socket_permissions
stage molecule-nginx_proxy "$BIN/molecule" test -s nginx_proxy
stage molecule-nginx_reload "$BIN/molecule" test -s nginx_reload
stage integration "$BIN/python" -m pytest tests/integration -q -rs -p no:cacheprovider

echo
echo "==================== summary ===================="
passed=0; failed=0
for i in "${!names[@]}"; do
  printf '%-20s %-8s %5ss\n' "${names[$i]}" "$([ "${results[$i]}" -eq 0 ] && echo ok || echo FAILED)" "${times[$i]}"
  if [ "${results[$i]}" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
