# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""service_log_facts run as Ansible runs it (in-process)."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.badgateway.doctor.plugins.modules import service_log_facts

PLANTED = "planted-DO-NOT-LEAK-5e1d"


def _log(tmp_path):
    path = tmp_path / "error.log"
    now = time.time()
    path.write_text("".join(
        "%s [crit] 9#9: *%d connect() to unix:/run/gunicorn/gunicorn.sock failed (2: No such file or directory) while connecting "
        "to upstream, client: 10.0.0.1, server: _, request: \"GET /?token=%s HTTP/1.1\", upstream: \"http://unix:/run/gunicorn/gunicorn.sock:/\"\n"
        % (time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now - age)), i, PLANTED) for i, age in enumerate((7000, 1500, 60))))
    return path


def test_service_log_facts(tmp_path, run_module):
    path = _log(tmp_path)
    out = run_module(service_log_facts, {"nginx_error_logs": [str(path)], "units": [], "kernel": False, "since": "30m"})
    logs = out["ansible_facts"]["badgateway"]["logs"]
    assert set(logs) == {"window", "sources", "events", "errors"}
    (ev,) = logs["events"]
    assert ev["class"] == "no_such_file" and ev["count"] == 2 and ev["targets"] == ["unix:/run/gunicorn/gunicorn.sock:/"]
    assert logs["window"]["since"] == pytest.approx(time.time() - 1800, abs=30)
    assert PLANTED not in json.dumps(out)
    out = run_module(service_log_facts, {"nginx_error_logs": [str(path)], "units": [], "kernel": False, "since": 7200, "samples": 1})
    (ev,) = out["ansible_facts"]["badgateway"]["logs"]["events"]
    assert ev["count"] == 3 and len(ev["samples"]) == 1


@pytest.mark.parametrize("args,msg", [
    ({"since": "soon"}, "Option since must be a duration (seconds, or units such as 30m, 1h, 2d) up to 100 years: use a number "
                        "of seconds or units such as 30m, 1h, 2d, got 'soon'."),
    ({"since": "inf"}, "Option since must be a duration"),
    ({"since": float("nan")}, "Option since must be a duration"),
    ({"samples": 4}, "Option samples must be between 0 and 3, got 4."),
    ({"max_bytes": 10}, "Option max_bytes must be between 4096 and 268435456, got 10."),
    ({"max_bytes": 2 ** 40}, "Option max_bytes must be between 4096 and 268435456, got 1099511627776."),
    ({"units": ["gunicorn.service", "a\nb"]}, "Option units item 1 ('a\\nb') must be a systemd unit name"),
])
def test_service_log_facts_bad_options(args, msg, run_module):
    out = run_module(service_log_facts, dict({"units": [], "kernel": False, "nginx_error_logs": []}, **args))
    assert out["failed"] is True and out["msg"].startswith(msg)


def test_service_log_facts_fifo_and_device_logs(tmp_path, run_module, in_child):
    """Issue 8, as a user would meet it: a FIFO as error log used to block the module forever."""
    fifo = tmp_path / "error.log"
    os.mkfifo(str(fifo))
    args = {"nginx_error_logs": [str(fifo), "/dev/zero"], "files": [str(tmp_path)], "units": [], "kernel": False}
    out = in_child(run_module, service_log_facts, args)
    assert not out.get("failed") and out["ansible_facts"]["badgateway"]["logs"]["events"] == []
    assert [e["message"] for e in out["ansible_facts"]["badgateway"]["logs"]["errors"]] == [
        "Log file: %s is a FIFO, not a regular file." % fifo,
        "Log file: /dev/zero is a character device, not a regular file.",
        "Log file: %s is a directory, not a regular file." % tmp_path]
