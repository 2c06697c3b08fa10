# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx as a service: the state systemd reports, and why the last start failed (journal)."""
from __future__ import annotations

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _log_patterns as lp
from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_service as S
from ansible_collections.badgateway.doctor.plugins.module_utils import _runner
from ansible_collections.badgateway.doctor.plugins.module_utils._runner import CommandResult


@pytest.mark.parametrize("line,cause,target", [
    ("nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)", "address_in_use", "0.0.0.0:80"),
    ("nginx: [emerg] bind() to [::]:80 failed (98: Address already in use)", "address_in_use", "[::]:80"),
    ("nginx: [emerg] still could not bind()", "address_in_use", None),
    ("nginx: [emerg] bind() to 10.9.9.9:80 failed (99: Cannot assign requested address)", "address_unavailable",
     "10.9.9.9:80"),
    ('nginx: [emerg] open() "/var/log/nginx/error.log" failed (13: Permission denied)', "permission_denied",
     "/var/log/nginx/error.log"),
    ('nginx: [emerg] open() "/run/nginx.pid" failed (2: No such file or directory)', "missing_path", "/run/nginx.pid"),
    ('2026/12/02 06:00:00 [emerg] 1#1: mkdir() "/var/lib/nginx/body" failed (13: Permission denied)',
     "permission_denied", "/var/lib/nginx/body"),
    ('nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/sites-enabled/app:12', "config_error",
     "/etc/nginx/sites-enabled/app:12"),
    ('nginx: [emerg] host not found in upstream "db.internal" in /etc/nginx/conf.d/x.conf:3', "config_error",
     "/etc/nginx/conf.d/x.conf:3"),
    ("nginx: configuration file /etc/nginx/nginx.conf test failed", "config_error", None),
    ('nginx: [emerg] cannot load certificate "/etc/ssl/x.pem": BIO_new_file() failed', "other", None),
])
def test_start_lines_are_classified(line, cause, target):
    res = lp.classify_nginx_start(line)
    assert res["cause"] == cause and res["target"] == target


@pytest.mark.parametrize("line", [
    "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok",
    "Started nginx.service - A high performance web server and a reverse proxy server.",
    '2026/12/02 06:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream',
])
def test_ordinary_lines_are_not_start_failures(line):
    assert lp.classify_nginx_start(line) is None


def journal(*lines):
    return [(1000.0 + i, text, pid) for i, (pid, text) in enumerate(lines)]


def test_the_cause_is_taken_from_the_last_start_attempt_only():
    entries = journal(
        ("1", "Starting nginx.service - A high performance web server and a reverse proxy server..."),
        ("90", 'nginx: [emerg] unknown directive "x" in /etc/nginx/nginx.conf:3'),
        ("1", "nginx.service: Control process exited, code=exited, status=1/FAILURE"),
        ("1", "Starting nginx.service - A high performance web server and a reverse proxy server..."),
        ("95", "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"),
        ("95", "nginx: [emerg] still could not bind()"),
        ("1", "nginx.service: Failed with result 'exit-code'."),
    )
    got = S.start_failure(entries)
    assert got["cause"] == "address_in_use" and got["target"] == "0.0.0.0:80" and got["at"] == 1004.0
    assert len(got["lines"]) == 3 and "unknown directive" not in " ".join(got["lines"])


def test_a_failure_without_a_reason_line_is_unknown_and_none_is_none():
    got = S.start_failure(journal(("1", "Starting nginx.service..."), ("1", "nginx.service: Failed with result 'timeout'.")))
    assert got["cause"] == "unknown"
    assert S.start_failure(journal(("1", "Starting nginx.service..."), ("1", "Started nginx.service."))) is None
    assert S.start_failure([]) is None


def _fake_systemctl(monkeypatch, props, journal_entries=()):
    text = "\n".join("%s=%s" % kv for kv in props.items()) + "\n"
    monkeypatch.setattr(S, "_systemd_running", lambda: True)
    monkeypatch.setattr(_runner, "run", lambda argv, **kw: CommandResult(0, text, ""))
    monkeypatch.setattr(S, "_read_unit_journal", lambda unit, errors: list(journal_entries))


def test_installed_disabled_inactive_is_an_unused_nginx(monkeypatch):
    _fake_systemctl(monkeypatch, {"LoadState": "loaded", "UnitFileState": "disabled", "ActiveState": "inactive",
                                  "SubState": "dead", "Result": "success"})
    got = S.collect_service("/usr/sbin/nginx", None, [])
    assert got["installed"] and got["enabled"] is False and not got["running"]
    assert got["unit"] == "nginx.service" and got["start_failure"] is None


def test_enabled_but_failed_reads_the_journal(monkeypatch):
    entries = journal(("1", "Starting nginx.service..."),
                      ("9", 'nginx: [emerg] open() "/var/log/nginx/error.log" failed (13: Permission denied)'))
    _fake_systemctl(monkeypatch, {"LoadState": "loaded", "UnitFileState": "enabled", "ActiveState": "failed",
                                  "SubState": "failed", "Result": "exit-code", "ExecMainStatus": "1"}, entries)
    errors = []
    got = S.collect_service("/usr/sbin/nginx", None, errors)
    assert got["enabled"] and got["state"]["active_state"] == "failed"
    assert got["start_failure"]["cause"] == "permission_denied" and not errors


def test_not_installed_and_no_systemd(monkeypatch):
    _fake_systemctl(monkeypatch, {"LoadState": "not-found", "ActiveState": "inactive"})
    got = S.collect_service(None, None, [])
    assert got["installed"] is False and got["unit"] is None
    monkeypatch.setattr(S, "_systemd_running", lambda: False)
    assert S.collect_service(None, None, [])["managed_by"] == "none"


def test_systemctl_failing_is_an_error_not_a_traceback(monkeypatch):
    monkeypatch.setattr(S, "_systemd_running", lambda: True)
    monkeypatch.setattr(_runner, "run", lambda argv, **kw: CommandResult(None, "", "", error="systemctl timed out"))
    errors = []
    got = S.collect_service("/usr/sbin/nginx", None, errors)
    assert got["unit"] is None and "timed out" in errors[0]["message"]


def test_the_unit_is_the_masters_cgroup_from_the_process_scan(tmp_path):
    import os
    from nginx_helpers import make_proc
    from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_running as R
    proc = tmp_path / "proc"
    make_proc(proc, 1000.0, [(100, 1, "nginx: master process /usr/sbin/nginx", 0, 10.0),
                             (101, 100, "nginx: worker process", 33, 20.0)], os.sysconf("SC_CLK_TCK"))
    (proc / "100" / "cgroup").write_text("0::/system.slice/nginx.service\n")
    (proc / "101" / "cgroup").write_text("0::/system.slice/nginx.service\n")
    processes, _precise, _errors = R.scan_processes(str(proc))
    master = R.select_master(processes)
    assert S.unit_of_master(master) == "nginx.service"
    (proc / "100" / "cgroup").write_text("0::/user.slice/user-0.slice/session-3.scope\n")
    assert S.unit_of_master(R.select_master(R.scan_processes(str(proc))[0])) is None   # started by hand
    assert S.unit_of_master(None) is None
