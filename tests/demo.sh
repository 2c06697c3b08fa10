#!/usr/bin/env bash
# `make demo`: boot the built-in lab, inject a real fault, show what users see, run the
# diagnose playbook against the lab and print its diagnosis, then the remediate playbook, and
# show that nginx answers 200 again. The lab is always torn down.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${VENV:-.venv}/bin
fault=${1:-socket_dir_permission}
name=${BGD_DEMO_LAB:-bgd-demo}
reports=${BGD_DEMO_REPORTS:-$PWD/badgateway-report}
export ANSIBLE_COLLECTIONS_PATH=$PWD/tests/output/collections

lab() { "$BIN/python" tests/lab/labctl.py "$@"; }
trap 'echo "== tearing the lab down"; lab down --name "$name" >/dev/null' EXIT
trap 'exit 130' INT TERM

echo "== booting the lab ($name)"
lab up --name "$name" || exit 1
inv=$(lab inventory --name "$name")
expect=$(lab fault list | awk -v f="$fault" '$1 == f {print $5}')
[ -n "$expect" ] || { echo "demo: no fault named $fault (see: $BIN/python tests/lab/labctl.py fault list)" >&2; exit 2; }

echo "== injecting the fault '$fault' and sending a request through nginx"
lab fault inject "$fault" --name "$name" || echo "(the lab did not observe the expected symptom, see above)"

echo "== ansible-playbook -i $inv badgateway.doctor.diagnose"
"$BIN/ansible-playbook" -i "$inv" badgateway.doctor.diagnose -e "badgateway_report_dir=$reports"
rc=$?
echo "== the play's exit code: $rc (non-zero because a finding reached badgateway_fail_on: this is what gates CI)"
echo "== reports: $reports/report.html  findings.json  junit.xml  report.md"
"$BIN/python" - "$reports/findings.json" "$expect" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
for host, h in data["hosts"].items():
    first = (h.get("findings") or [{}])[0]
    print(f"{host}: status {h['status']}, root cause {first.get('code')} (the lab expects {sys.argv[2]})")
    sys.exit(0 if first.get("code") == sys.argv[2] else 1)
PY

echo "== ansible-playbook -i $inv badgateway.doctor.remediate   (fix the root cause, prove the 502 is gone)"
"$BIN/ansible-playbook" -i "$inv" badgateway.doctor.remediate -e "badgateway_report_dir=$reports/remediation"
rc=$?
echo "== the play's exit code: $rc; reports: $reports/remediation/report.html (what changed, probes before/after, the new diagnosis)"
path=$(lab fault list | awk -v f="$fault" '$1 == f {print $4}')
addr=$(awk '/ansible_host=/ {sub(/.*ansible_host=/, ""); print $1; exit}' "$inv")
status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 70 "http://$addr$path")
echo "== GET http://$addr$path through nginx after the remediation: $status"
[ "$rc" -eq 0 ] && [ "$status" = 200 ]
