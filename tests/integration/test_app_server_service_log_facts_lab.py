# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""app_server_facts and service_log_facts on a real lab host (systemd as PID 1, journald, nginx, gunicorn, uvicorn).

The modules run with ``ansible`` over SSH on web1 and are compared with what the host itself says:
``systemctl show``, ``pgrep``, ``ss``, ``journalctl`` and ``grep`` on /var/log/nginx/error.log, with lab faults
injected (app_stopped, boot_failure_module, worker_timeout, env_file_missing, exec_missing). Every module output
is searched for the lab's planted secrets. Run:

    BGD_LAB_NAME=bgd-hostb BGD_LAB_HOSTS=1 .venv/bin/python -m pytest tests/integration/test_app_server_service_log_facts_lab.py
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
HOST = "web1"
SECRETS = ("lab-secret-DO-NOT-LEAK-7f3a", "pw-DO-NOT-LEAK", "DO-NOT-LEAK")
GUNICORN_BIN = "/srv/app/venv/bin/gunicorn"


def module(lab, name, args="", user="root"):
    """Run badgateway.doctor.<name> on web1 as ``user``; return the facts section, after the secret check."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_LOAD_CALLBACK_PLUGINS="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    cmd = [str(ANSIBLE), "-i", str(lab.inventory_path), HOST, "-m", "badgateway.doctor." + name, "-e", "ansible_user=" + user]
    if args:
        cmd += ["-a", args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    out = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in out, "planted secret %s in the output of %s" % (secret, name)
    assert res.returncode == 0 and "Traceback" not in out, out[-3000:]
    data = json.loads(res.stdout[res.stdout.index("{"):])
    section = {"app_server_facts": "apps", "service_log_facts": "logs"}[name]
    return data["ansible_facts"]["badgateway"][section]


KERNEL_READS = r"""
import grp, os, pwd, sys
user, group, path = sys.argv[1:4]
pw = pwd.getpwnam(user)
gid = grp.getgrnam(group).gr_gid
extra = [grp.getgrnam(g).gr_gid for g in sys.argv[4:]]
os.setgroups(os.getgrouplist(user, gid) + extra)     # initgroups(User, Group) + SupplementaryGroups=
os.setgid(gid)
os.setuid(pw.pw_uid)
try:
    open(path, "rb").close()
except PermissionError:
    sys.exit(1)
"""


def kernel_reads(lab, user, group, path, supplementary=()):
    """Whether a process with systemd's identity for User=user, Group=group and SupplementaryGroups= may
    read ``path``, asked of the kernel: a process that took that identity opens it."""
    res = lab.run(HOST, "python3 -c %s %s %s %s %s" % (_q(KERNEL_READS), user, group, path, " ".join(supplementary)),
                  check=False)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode == 0


def sh(lab, cmd):
    return lab.run(HOST, cmd, check=False).stdout


def server(apps, unit):
    found = [s for s in apps["servers"] if s["unit"] == unit]
    assert len(found) == 1, [s["name"] for s in apps["servers"]]
    return found[0]


def events(logs, cls, source=None):
    return [e for e in logs["events"] if e["class"] == cls and (source is None or e["source"] == source)]


def count(logs, cls, source=None, **detail):
    return sum(e["count"] for e in events(logs, cls, source) if all(e["detail"].get(k) == v for k, v in detail.items()))


def grep_c(lab, pattern, what="/var/log/nginx/error.log"):
    out = sh(lab, "grep -c -E %s %s || true" % (_q(pattern), what))
    return int(out.strip() or 0)


def journal_c(lab, unit, pattern):
    out = sh(lab, "journalctl -u %s -o cat --no-pager | grep -c -E %s || true" % (unit, _q(pattern)))
    return int(out.strip() or 0)


def _q(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def fault(lab):
    """Inject a lab fault (and send its traffic); always healed after the test."""
    injected = []

    def inject(name):
        mark = lab.inject(name)
        injected.append(name)
        return dict(lab.verify(name, mark), mark=mark)

    yield inject
    for name in injected:
        lab.heal(name)


# ---------------------------------------------------------------- healthy host


def test_apps_match_systemctl_and_processes(lab):
    apps = module(lab, "app_server_facts")
    g = server(apps, "gunicorn.service")
    u = server(apps, "uvicorn.service")
    show = dict(line.split("=", 1) for line in sh(lab, "systemctl show -p MainPID,ActiveState,SubState,NRestarts,FragmentPath,User,"
                                                       "WorkingDirectory,RuntimeDirectory gunicorn.service").splitlines())
    assert g["state"]["main_pid"] == int(show["MainPID"]) == g["pids"][0]
    assert (g["state"]["active_state"], g["state"]["sub_state"], g["state"]["n_restarts"]) == \
        (show["ActiveState"], show["SubState"], int(show["NRestarts"]))
    us = g["unit_settings"]
    assert (us["fragment_path"], us["user"], us["working_directory"]) == (show["FragmentPath"], show["User"], show["WorkingDirectory"])
    assert us["runtime_directory"] == show["RuntimeDirectory"].split()
    pids = {int(p) for p in sh(lab, "pgrep -f '^/srv/app/venv/bin/python3 %s'" % GUNICORN_BIN).split()}
    assert set(g["pids"]) == pids and g["running"] is True
    assert g["kind"] == "gunicorn" and g["app"] == "wsgi:application" and g["timeout"] == 5.0 and g["workers"] == 2
    assert g["binds"] == [{"kind": "unix", "path": "/run/gunicorn/gunicorn.sock", "protocol": "http"}]
    assert "/run/gunicorn/gunicorn.sock" in sh(lab, "ss -lxH")
    assert us["exec_binary"] == GUNICORN_BIN and us["exec_binary_ok"] is True and us["working_directory_exists"] is True
    keys = re.findall(r"(?m)^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", sh(lab, "cat /etc/default/app-env"))
    (envf,) = us["environment_files"]
    assert envf["path"] == "/etc/default/app-env" and envf["exists"] is True and envf["keys"] == keys
    # /etc/default/app-env is root:app 0640; the unit runs as User=app with Group=www-data: what systemd
    # gives it (initgroups(app, www-data)) decides, and the kernel agrees
    assert envf["readable_by_user"] is kernel_reads(lab, "app", "www-data", "/etc/default/app-env")
    assert u["kind"] == "uvicorn" and u["binds"][0]["port"] == 8001 and u["keepalive"] == 5.0
    assert "127.0.0.1:8001" in sh(lab, "ss -ltnH")
    assert u["state"]["main_pid"] == int(sh(lab, "systemctl show -p MainPID --value uvicorn.service"))
    assert apps["errors"] == []


def test_env_file_readable_by_user_is_the_kernels_answer(lab):
    """EnvironmentFile readability for the unit's identity (User=, Group= as primary group, the groups
    initgroups adds, SupplementaryGroups=) and the file's ACL; every answer is the kernel's too."""
    unit = "bgd-envcheck.service"
    env = "/etc/default/bgd-envcheck"
    lab.run(HOST, "echo SECRET_KEY=lab-secret-DO-NOT-LEAK-7f3a > %s; chown root:app %s; chmod 0600 %s" % (env, env, env))
    cases = [   # (unit settings, what to do to the file first, readable)
        ({"User": "app", "Group": "app"}, "", False),                                       # 0600 root:app
        ({"User": "app", "Group": "app"}, "chmod 0640 " + env, True),                       # the primary group reads
        ({"User": "app", "Group": "www-data"}, "", False),                                  # Group= replaces app's own
        ({"User": "app", "Group": "www-data", "SupplementaryGroups": "app"}, "", True),
        ({"User": "www-data", "Group": "www-data"}, "chmod 0600 %s && setfacl -m u:www-data:r %s" % (env, env), True),
        ({"User": "app", "Group": "app"}, "", False),                                       # the mask allows r, app has none
    ]
    try:
        for settings, prepare, want in cases:
            if prepare:
                lab.run(HOST, prepare)
            lines = ["[Service]", "Type=oneshot", "EnvironmentFile=" + env, "ExecStart=%s --version" % GUNICORN_BIN]
            lines += ["%s=%s" % kv for kv in settings.items()]
            lab.run(HOST, "printf '%%s\\n' %s > /etc/systemd/system/%s && systemctl daemon-reload"
                    % (" ".join(_q(line) for line in lines), unit))
            apps = module(lab, "app_server_facts", "units=%s" % unit)
            (envf,) = server(apps, unit)["unit_settings"]["environment_files"]
            extra = settings.get("SupplementaryGroups", "").split()
            kernel = kernel_reads(lab, settings["User"], settings["Group"], env, extra)
            assert (envf["readable_by_user"], kernel) == (want, want), (settings, prepare)
    finally:
        lab.run(HOST, "rm -f /etc/systemd/system/%s %s; systemctl daemon-reload" % (unit, env), check=False)


def test_socket_activated_unit_is_linked(lab):
    unit = """[Service]
ExecStart=/srv/app/venv/bin/gunicorn --workers 1 wsgi:application
WorkingDirectory=/srv/app
User=app
"""
    sock = """[Socket]
ListenStream=/run/gunicorn-sa.sock
SocketUser=www-data
SocketMode=0660
"""
    lab.run(HOST, "cat > /run/systemd/system/bgd-sa.service <<'EOF'\n%sEOF\ncat > /run/systemd/system/bgd-sa.socket <<'EOF'\n%sEOF\n"
                  "systemctl daemon-reload && systemctl start bgd-sa.socket" % (unit, sock))
    try:
        apps = module(lab, "app_server_facts")
        s = server(apps, "bgd-sa.service")
        assert s["running"] is False and s["state"]["active_state"] == "inactive"
        assert s["socket_unit"] == {"name": "bgd-sa.socket", "listen_stream": ["/run/gunicorn-sa.sock"], "socket_user": "www-data",
                                    "socket_group": None, "socket_mode": "0660"}
        assert s["binds"] == [{"kind": "unix", "path": "/run/gunicorn-sa.sock", "protocol": "http"}]
        assert s["settings_source"]["bind"] == "socket_unit"
    finally:
        lab.run(HOST, "systemctl stop bgd-sa.socket bgd-sa.service; rm -f /run/systemd/system/bgd-sa.*; systemctl daemon-reload", check=False)


def test_non_root_gets_less_detail_but_no_failure(lab):
    apps = module(lab, "app_server_facts", user="auditor")
    g = server(apps, "gunicorn.service")
    assert g["state"]["main_pid"] == g["pids"][0] and g["binds"][0]["path"] == "/run/gunicorn/gunicorn.sock"
    assert any(e["source"] == "proc" and "root" in e["message"] for e in apps["errors"])
    logs = module(lab, "service_log_facts", "since=1d", user="auditor")
    # auditor is not in adm (error.log is www-data:adm 0640) nor in systemd-journal
    by_path = {s["path"]: s for s in logs["sources"]}
    assert by_path["/var/log/nginx/error.log"]["ok"] is False
    assert any(e["source"] == "log_file" and "permission denied" in e["message"].lower() for e in logs["errors"])
    assert any(e["source"] == "journalctl" and "systemd-journal" in e["message"] for e in logs["errors"])
    for e in logs["errors"]:
        assert set(e) == {"source", "path", "message"}


# ---------------------------------------------------------------- faults, compared with the host's own logs


def test_app_stopped(lab, fault):
    # the error.log holds the lines of every earlier test of the session: compare the module's window with the
    # lines written since the injection, after a quiet gap so that the window holds nothing older
    time.sleep(6)
    started = time.time()
    res = fault("app_stopped")
    assert res["status"] == 502
    apps = module(lab, "app_server_facts")
    g = server(apps, "gunicorn.service")
    assert g["running"] is False and g["pids"] == [] and g["state"]["active_state"] == "inactive"
    assert g["binds"][0]["path"] == "/run/gunicorn/gunicorn.sock" and g["app"] == "wsgi:application"
    # the lines written since the injection, before and after the module read them (anyone may send a request meanwhile,
    # e.g. `labctl.py status`): the module's counts lie between the two
    before = lab.error_log_since(HOST, res["mark"]["log_offset"])
    logs = logs_since(lab, started, "units=gunicorn.service", quiet=6)
    after = lab.error_log_since(HOST, res["mark"]["log_offset"])
    src = "nginx_error:/var/log/nginx/error.log"
    enoent = r"connect\(\) to unix:/run/gunicorn/gunicorn.sock failed \(2: No such file or directory\) while connecting to upstream"
    refused = r"connect\(\) (to [^ ]+ )?failed \(111: Connection refused\) while connecting to upstream"
    n = len(re.findall(enoent, before))
    assert n >= 1 and n <= count(logs, "no_such_file", src) <= len(re.findall(enoent, after))
    (ev,) = events(logs, "no_such_file", src)
    assert ev["targets"][0] == "unix:/run/gunicorn/gunicorn.sock:/" and ev["detail"]["connect_to"] == ["unix:/run/gunicorn/gunicorn.sock"]
    assert len(re.findall(refused, before)) <= count(logs, "connect_refused", src) <= len(re.findall(refused, after))


def logs_since(lab, started, args, quiet):
    """service_log_facts with a window that starts 1 to ``quiet`` seconds before ``started``.

    ``since`` is a window length the host applies when the module runs there, a moment after this call: widen it by what
    the last call's window missed. The window starts a second early because error.log times are whole seconds: a line
    written at ``started`` + 0.5 s carries a time up to 1 s before ``started``.
    """
    extra = 4
    for _try in range(4):
        since = int(time.time() - started) + extra
        logs = module(lab, "service_log_facts", "since=%d %s" % (since, args))
        start = logs["window"]["since"]
        if start <= started - 1:
            assert start >= started - quiet, "the window reaches back before the quiet gap: %.1f s" % (started - start)
            return logs
        extra += math.ceil(start - started + 1.5)
    pytest.fail("service_log_facts' window never covered the injection")


def settle(lab, unit, timeout=90.0):
    """Wait until systemd stopped restarting ``unit`` (failed for good), so that logs stop growing."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sh(lab, "systemctl is-failed %s" % unit).strip() == "failed":
            time.sleep(0.5)
            return
        time.sleep(0.5)
    pytest.fail("%s did not settle in the failed state within %.0f s" % (unit, timeout))


def test_boot_failure_module(lab, fault):
    fault("boot_failure_module")
    settle(lab, "gunicorn.service")
    apps = module(lab, "app_server_facts")
    g = server(apps, "gunicorn.service")
    assert g["running"] is False and g["pids"] == [] and g["app"] == "project.wsgi:application"
    assert g["unit_settings"]["dropin_paths"] == ["/etc/systemd/system/gunicorn.service.d/fault-module.conf"]
    assert g["state"]["active_state"] == "failed" and g["state"]["result"] == "exit-code" and g["state"]["n_restarts"] >= 1
    assert g["state"]["n_restarts"] == int(sh(lab, "systemctl show -p NRestarts --value gunicorn.service"))
    logs = module(lab, "service_log_facts", "since=1d units=gunicorn.service")
    src = "journal:gunicorn.service"
    n_mod = journal_c(lab, "gunicorn.service", r"^ModuleNotFoundError: No module named 'project'")
    assert n_mod >= 1 and count(logs, "python_exception", src, exception="ModuleNotFoundError") == n_mod
    assert count(logs, "worker_boot_failed", src) == journal_c(lab, "gunicorn.service", "Worker failed to boot")
    assert count(logs, "unit_failed", src) == journal_c(lab, "gunicorn.service", "Failed with result")
    assert count(logs, "start_limit_hit", src) == journal_c(lab, "gunicorn.service", "Start request repeated too quickly")
    ev = events(logs, "python_exception", src)
    assert any("No module named 'project'" in s for e in ev for s in e["samples"])


def test_worker_timeout(lab, fault):
    res = fault("worker_timeout")
    assert res["status"] == 502
    logs = module(lab, "service_log_facts", "since=1d units=gunicorn.service")
    n = journal_c(lab, "gunicorn.service", r"WORKER TIMEOUT \(pid:[0-9]+\)")
    assert n >= 1 and count(logs, "worker_timeout", "journal:gunicorn.service") == n
    n_pc = grep_c(lab, "upstream prematurely closed connection")
    assert n_pc >= 1 and count(logs, "premature_close", "nginx_error:/var/log/nginx/error.log") == n_pc
    (ev,) = events(logs, "worker_timeout")
    assert ev["targets"] == ["gunicorn.service"] and isinstance(ev["detail"]["pid"], int)


def test_env_file_missing(lab, fault):
    fault("env_file_missing")
    settle(lab, "gunicorn.service")
    apps = module(lab, "app_server_facts")
    (envf,) = server(apps, "gunicorn.service")["unit_settings"]["environment_files"]
    assert envf == {"path": "/etc/default/app-env", "optional": False, "exists": False, "readable_by_user": False, "keys": []}
    logs = module(lab, "service_log_facts", "since=1d units=gunicorn.service")
    n = journal_c(lab, "gunicorn.service", "Failed with result 'resources'")
    assert n >= 1 and count(logs, "unit_failed", "journal:gunicorn.service", result="resources") == n


def test_exec_missing(lab, fault):
    fault("exec_missing")
    settle(lab, "gunicorn.service")
    apps = module(lab, "app_server_facts")
    g = server(apps, "gunicorn.service")
    assert g["unit_settings"]["exec_binary"] == GUNICORN_BIN and g["unit_settings"]["exec_binary_ok"] is False
    logs = module(lab, "service_log_facts", "since=1d units=gunicorn.service")
    n = journal_c(lab, "gunicorn.service", "Main process exited, code=exited, status=203/EXEC")
    assert n >= 1 and count(logs, "exec_failed", "journal:gunicorn.service", status="203/EXEC") == n


def test_all_sections_never_leak_after_faults(lab):
    # the module helper greps every output; this covers the default options (units discovered, kernel on)
    logs = module(lab, "service_log_facts", "since=1d")
    assert {s["name"] for s in logs["sources"]} >= {"nginx_error:/var/log/nginx/error.log", "journal:gunicorn.service",
                                                    "journal:uvicorn.service"}
    assert all(s["ok"] for s in logs["sources"])


def test_oom_kill(lab, fault):
    res = fault("oom_kill")
    assert res["status"] == 502
    apps = module(lab, "app_server_facts")
    assert server(apps, "gunicorn.service")["unit_settings"]["memory_max"] == 80 * 1024 * 1024
    logs = module(lab, "service_log_facts", "since=1d units=gunicorn.service")
    n = journal_c(lab, "gunicorn.service", r"Worker \(pid:[0-9]+\) was sent SIGKILL! Perhaps out of memory\?")
    assert n >= 1 and count(logs, "worker_sigkill", "journal:gunicorn.service") == n
    # the kernel's own "Killed process" line is outside this container (no /dev/kmsg, dmesg not permitted):
    # either it is found or an error says that kernel messages are not visible
    kills = events(logs, "oom_kill")
    kernel_errors = [e for e in logs["errors"] if e["source"] == "kernel"]
    assert kills or kernel_errors
    if not kills:
        assert "OOM kills may be missed" in kernel_errors[0]["message"]
    # from the machine that runs the lab, the same kill is in the kernel ring buffer: classify it there (real kernel lines)
    import sys  # pylint: disable=import-outside-toplevel
    sys.path.insert(0, str(REPO / "tests" / "output" / "collections"))
    from ansible_collections.badgateway.doctor.plugins.module_utils import logs as logs_mod  # pylint: disable=import-outside-toplevel
    host = logs_mod.collect_logs(nginx_error_logs=[], units=[], kernel=True, since=10 ** 9)
    ring = subprocess.run(["dmesg"], capture_output=True, text=True, check=False, env=dict(os.environ, LC_ALL="C")).stdout
    if not ring:
        pytest.skip("the kernel ring buffer of this machine is not readable")
    pids = set(re.findall(r"Killed process (\d+) \(gunicorn\)", ring)) | set(re.findall(r"oom-kill:.*task=gunicorn,pid=(\d+)", ring))
    assert pids, "no OOM kill of gunicorn in this machine's kernel log"
    assert sum(e["count"] for e in events(host, "oom_kill") if e["detail"]["process"] == "gunicorn") == len(pids)
