# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis of the same facts is the same in every run: evaluated in two interpreters with different string
hash seeds (set iteration order), every fixture gives identical findings, their order and their folding."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from facts_fixtures import every_fixture
from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules
out = {}
for name, hosts in every_fixture():
    res = rules.evaluate(hosts, now=1796200000.0)
    out[name] = {h: [(f["code"], f["route"], f["summary"], [(c["code"], c["route"]) for c in f["consequences"]])
                     for f in v["findings"]] for h, v in res["hosts"].items()}
print(json.dumps(out, sort_keys=True))
"""


def _run(seed):
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(HERE)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_findings_do_not_depend_on_the_hash_seed():
    a, b = _run(1), _run(2)
    if a != b:
        import json  # pylint: disable=import-outside-toplevel
        da, db = json.loads(a), json.loads(b)
        differ = sorted(k for k in da if da[k] != db.get(k))
        raise AssertionError(f"findings differ between hash seeds in: {differ}")
