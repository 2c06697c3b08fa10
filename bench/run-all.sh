#!/usr/bin/env bash
# `make bench`: every benchmark, one after another, each printing its ratios against the
# reference tool it is measured against in the same run. Results: bench/out/*.json.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${VENV:-.venv}/bin/python
rc=0
for b in bench_parser bench_listeners bench_logs bench_access_logs bench_gateway bench_diagnose bench_evaluate bench_many_findings; do
  echo "==================== $b ===================="
  "$PY" "bench/$b.py" || { echo "$b failed"; rc=1; }
done
echo "==================== bench_diagnose --scale 1,2,4,8,16 ===================="
"$PY" bench/bench_diagnose.py --scale 1,2,4,8,16 --runs 3 || { echo "bench_diagnose --scale failed"; rc=1; }
exit $rc
