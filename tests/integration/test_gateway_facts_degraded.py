# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gateway_facts on real hosts that lack something: partial facts plus ``errors``, never a traceback.

* a host without systemd as PID 1 and without nginx: the machine the tests run on (when it is one);
* a lab host whose nginx and journalctl binaries are moved away for the test;
* a non-root connection: the lab's ``auditor`` user.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from facts_form import expand_facts

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"), ANSIBLE_NOCOLOR="1")


def run_gateway_facts(args: list) -> tuple:
    """Run gateway_facts ad hoc; return (rc, output text, the host's result from ``host | STATUS => {...}``)."""
    ansible = str(BIN / "ansible") if (BIN / "ansible").exists() else "ansible"
    proc = subprocess.run([ansible] + args + ["-m", "badgateway.doctor.gateway_facts"], env=ENV,
                          capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    marker = proc.stdout.find(" => {")
    assert marker >= 0, f"no result in the output (rc={proc.returncode}):\n{out[-3000:]}"
    result, _end = json.JSONDecoder().raw_decode(proc.stdout[marker + 4:])
    return proc.returncode, out, result


def assert_partial(out: str, result: dict) -> dict:
    assert "Traceback" not in out, out[-3000:]
    assert not result.get("failed"), result.get("msg")
    facts = result["ansible_facts"]["badgateway"]
    for section in ("system", "nginx", "listeners", "apps", "sockets", "logs", "probes"):
        assert section in facts, f"section {section} missing"
    return expand_facts(facts)


@pytest.mark.skipif(Path("/run/systemd/system").exists(), reason="this machine runs systemd as PID 1")
def test_host_without_systemd(tmp_path):
    rc, out, result = run_gateway_facts(["-i", "localhost,", "localhost", "-c", "local",
                                         "-e", f"ansible_python_interpreter={sys.executable}"])
    facts = assert_partial(out, result)
    assert rc == 0
    assert facts["system"]["systemd"] is False
    messages = " ".join(e["message"] for e in facts["errors"])
    assert "systemd" in messages.lower(), facts["errors"]
    if not any(Path(d, "nginx").exists() for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin")):
        assert facts["nginx"]["present"] is False


def test_host_without_nginx_and_journalctl(lab):
    host = lab.hosts[0]
    moved = "mv /usr/sbin/nginx /usr/sbin/nginx.bgd-off && mv /usr/bin/journalctl /usr/bin/journalctl.bgd-off"
    back = ("if [ -e /usr/sbin/nginx.bgd-off ]; then mv /usr/sbin/nginx.bgd-off /usr/sbin/nginx; fi; "
            "if [ -e /usr/bin/journalctl.bgd-off ]; then mv /usr/bin/journalctl.bgd-off /usr/bin/journalctl; fi")
    lab.run(host, moved)
    try:
        rc, out, result = run_gateway_facts(["-i", str(lab.inventory_path), host])
        facts = assert_partial(out, result)
        assert rc == 0
        assert facts["nginx"]["present"] is False
        sources = {(e["section"], e["source"]) for e in facts["errors"]}
        assert any(sec == "logs" for sec, _src in sources), facts["errors"]
        assert "journalctl" in " ".join(e["message"] for e in facts["errors"])
        # what does not need those binaries is still there
        assert any(a.get("kind") == "gunicorn" for a in facts["apps"]["servers"])
        assert any(t["port"] == 80 for t in facts["listeners"]["tcp"])
    finally:
        lab.run(host, back)


def test_non_root_connection(lab):
    host = lab.hosts[0]
    rc, out, result = run_gateway_facts(["-i", str(lab.inventory_path), host, "-e", "ansible_user=auditor"])
    facts = assert_partial(out, result)
    assert rc == 0
    assert facts["system"]["is_root"] is False
    assert facts["errors"], "a non-root connection must say what it could not read"
    assert facts["nginx"]["present"] is True and facts["nginx"]["routes"]
