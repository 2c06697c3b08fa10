# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the nginx facts tests: config files, a fake /proc, stand-ins for the nginx binary."""
from __future__ import annotations

import os
import textwrap
import threading
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import nginx_facts as NF


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def within(seconds, func, *args, **kwargs):
    """``func(*args, **kwargs)``, failing the test when it has not returned after ``seconds``
    (it runs in a daemon thread, so a call blocked for ever does not block the test run)."""
    box = {}

    def target():
        try:
            box["result"] = func(*args, **kwargs)
        except BaseException as exc:  # pylint: disable=broad-except
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "%s did not return within %s seconds (blocked?)" % (func.__name__, seconds)
    if "error" in box:
        raise box["error"]
    return box["result"]


def make_fifo(path):
    """A FIFO at ``path`` (no writer: opening it for reading blocks)."""
    os.mkfifo(str(path))
    return str(path)


def release_fifo(path):
    """Unblock a reader stuck opening the FIFO ``path`` (after a failed test)."""
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)


def make_proc(root, uptime, processes, clk_tck):
    """A /proc tree: ``processes`` is [(pid, ppid, title, uid, started_seconds_after_boot)]."""
    root.mkdir()
    (root / "uptime").write_text("%.2f 12345.67\n" % uptime)
    (root / "stat").write_text("cpu  1 2 3\nbtime %d\n" % int(time.time() - uptime))
    for pid, ppid, title, uid, started in processes:
        d = root / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(title.encode() + b"\0" * 8)
        (d / "comm").write_text(title.split()[0].rstrip(":") + "\n")
        ticks = int(started * clk_tck)
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(ticks)] + ["0"] * 10
        (d / "stat").write_text("%d (nginx) %s\n" % (pid, " ".join(fields)))
        (d / "status").write_text("Name:\tnginx\nUid:\t%d\t%d\t%d\t%d\n" % (uid, uid, uid, uid))
    (root / "self").mkdir()


def fake_nginx(tmp_path, test_rc=0, test_sleep=0.0, configure="--prefix=/usr/share/nginx"):
    """A stand-in binary for what collect_nginx does with it: ``-V`` and ``-t`` (no real nginx here)."""
    script = tmp_path / "nginx"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        case "$1" in
          -V) echo "nginx version: nginx/1.22.1" >&2; echo "configure arguments: %s" >&2 ;;
          -t) sleep %s; echo "nginx: configuration file $3 test (rc %d)" >&2; exit %d ;;
        esac
    """ % (configure, test_sleep, test_rc, test_rc)))
    script.chmod(0o755)
    return str(script)


# Seconds the fake ``nginx -t`` of ``slow_nginx`` sleeps, written with digits unique to this test
# process: the command line ``sleep 120.37<pid>`` is looked for in /proc, and other test runs on
# the machine must not match it. A collection that waits for that nginx -t takes the runner's
# timeout (30 s) at least; one that does not is done long before NOT_WAITED seconds, however
# loaded the machine is.
SLOW_TEST_TEXT = "120.37%07d" % os.getpid()
SLOW_TEST = float(SLOW_TEST_TEXT)
NOT_WAITED = 20.0


def slow_nginx(tmp_path):
    """A fake nginx whose ``-t`` takes SLOW_TEST seconds (in a child ``sleep``) and then passes:
    for the cases where nginx -t must not be waited for."""
    script = tmp_path / "bin" / "nginx"
    script.parent.mkdir()
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        case "$1" in
          -V) echo "nginx version: nginx/1.22.1" >&2; echo "configure arguments: --prefix=/usr/share/nginx" >&2 ;;
          -t) sleep %s; echo "nginx: configuration file $3 test is successful" >&2 ;;
        esac
    """ % SLOW_TEST_TEXT))
    script.chmod(0o755)
    os.utime(str(script), (time.time() - 7200, time.time() - 7200))   # installed before the workers started
    return str(script)


def processes_running(*needles):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append((pid, cmdline))
    return found


def running_site(tmp_path, site_text="", master_conf=True):
    """A fake /proc with nginx running (workers started 600 s ago) and config files older than that.

    Returns ``(proc, conf, worker_start)``.
    """
    clk = os.sysconf("SC_CLK_TCK")
    uptime = 100000.0
    boot = time.time() - uptime
    etc = tmp_path / "etc"     # the binaries and the fake /proc live beside it, not in it
    conf = str(etc / "nginx.conf")
    title = "nginx: master process /usr/sbin/nginx" + (" -c %s" % conf if master_conf else "")
    proc = tmp_path / "proc"
    make_proc(proc, uptime, [
        (100, 1, title, 0, uptime - 5000),
        (101, 100, "nginx: worker process", 33, uptime - 600),
    ], clk)
    write(etc, "nginx.conf", "events {}\nhttp { include site.conf; }\n")
    site = write(etc, "site.conf", "server { listen 80; %s location / { proxy_pass http://127.0.0.1:8000; } }\n" % site_text)
    worker_start = boot + uptime - 600
    for path in (conf, site, str(etc)):
        os.utime(path, (worker_start - 3600, worker_start - 3600))
    return str(proc), conf, worker_start


def collect_timed(**kw):
    t0 = time.monotonic()
    facts = NF.collect_nginx(resolve=False, **kw)
    return facts, time.monotonic() - t0


def fast_nginx(tmp_path):
    binary = fake_nginx(tmp_path, 0, 0.0)
    os.utime(binary, (time.time() - 7200, time.time() - 7200))
    return binary


def ran(facts, conf):
    return facts["test"] == {"ok": True, "rc": 0, "output": "nginx: configuration file %s test (rc 0)" % conf, "skipped": False}
