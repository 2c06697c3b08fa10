# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one command runner, with real commands: locale, missing binary, timeouts that kill what
the command started, output caps, both pipes drained at once."""
from __future__ import annotations

import os
import sys
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _runner
from ansible_collections.badgateway.doctor.plugins.module_utils._runner import CommandResult, run, start


def test_ok_and_unpacks_as_the_contract_tuple():
    res = run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    rc, out, err, error = res
    assert (rc, out, err, error) == (3, "out\n", "err", None)
    assert not res.ok and not res.truncated and not res.timed_out
    assert run(["true"]).ok


def test_c_locale_and_no_pager(monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_MESSAGES", "de_DE.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    out = run(["sh", "-c", "echo ${LC_ALL}/${LANG-unset}/${LC_MESSAGES-unset}/${LANGUAGE-unset}/${SYSTEMD_PAGER-unset}/$SYSTEMD_COLORS"]).stdout
    assert out == "C/unset/unset/unset//0\n"
    assert run(["sh", "-c", "echo $X"], env={"X": "y"}).stdout == "y\n"


def test_missing_binary_is_an_error_not_an_exception():
    res = run(["/nonexistent/journalctl", "-u", "x"])
    assert res.rc is None and res.stdout == "" and res.error == "/nonexistent/journalctl not found"
    assert run(["no-such-binary-bgd"]).error == "no-such-binary-bgd not found"
    assert run([]).error == "no command given"


def test_not_executable(tmp_path):
    p = tmp_path / "tool"
    p.write_text("#!/bin/sh\necho hi\n")
    os.chmod(str(p), 0o644)
    assert run([str(p)]).error == "cannot run %s: permission denied" % p


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    t0 = time.monotonic()
    res = run(["sh", "-c", "sleep 30 & echo $! > %s; echo started; wait" % marker], timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert res.rc is None and res.timed_out
    assert res.error.startswith("sh -c sleep 30 & echo") and res.error.endswith("did not finish within 0.5 seconds")
    assert res.stdout == "started\n"  # what it said before the timeout is kept
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the command's child %d survived the timeout" % child)


def test_background_child_holding_stdout_does_not_hang():
    t0 = time.monotonic()
    res = run(["sh", "-c", "sleep 30 & echo done"], timeout=1)
    assert time.monotonic() - t0 < 5
    assert res.stdout == "done\n" and res.timed_out


def test_max_bytes_stops_the_command():
    t0 = time.monotonic()
    res = run(["yes"], max_bytes=10000, timeout=10)
    assert time.monotonic() - t0 < 5
    assert res.truncated and res.rc is None and res.error is None
    assert len(res.stdout) == 10000


def test_both_pipes_drained_no_deadlock():
    code = "import sys; sys.stderr.write('e' * 300000); sys.stdout.write('o' * 300000)"
    res = run([sys.executable, "-c", code], timeout=20)
    assert res.rc == 0 and len(res.stdout) == 300000
    assert len(res.stderr) == _runner.MAX_STDERR


def test_bytes_mode():
    res = run(["printf", "\\377ok"], text=False)
    assert res.stdout == b"\xffok"
    assert run(["printf", "\\377ok"]).stdout == "\ufffdok"


def test_start_then_collect_and_cancel():
    cmd = start(["sh", "-c", "sleep 0.2; echo late"])
    assert cmd.pid
    assert cmd.result().stdout == "late\n"
    assert cmd.result() is cmd.result()  # collected once
    slow = start(["sleep", "30"])
    t0 = time.monotonic()
    slow.cancel()
    assert time.monotonic() - t0 < 5
    assert slow.result().error == "sleep 30 was cancelled"
    assert start(["no-such-binary-bgd"]).result().error == "no-such-binary-bgd not found"


def test_hostile_timeouts_fall_back_to_the_default():
    for value in (float("nan"), -1, 0, "x", None):
        assert _runner.Command(["true"], timeout=value).timeout == _runner.DEFAULT_TIMEOUT
    assert _runner.Command(["true"], timeout=float("inf")).timeout == 7 * 86400.0


def test_result_repr_is_short():
    assert "stdout=3 chars" in repr(CommandResult(0, "abc", ""))
