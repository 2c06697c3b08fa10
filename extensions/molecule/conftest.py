# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the testinfra verifiers of the molecule scenarios (hosts of tests/lab)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest


@pytest.fixture
def http_status(host):
    """``status(path)``: the HTTP status nginx on the host answers for ``path`` (curl on the host)."""
    def status(path):
        return host.run("curl -s -o /dev/null -m 10 -w '%%{http_code}' http://127.0.0.1%s" % path).stdout.strip()
    return status


@pytest.fixture
def nginx_workers(host):
    """``workers()``: the pids of nginx's current workers (old ones shutting down are not listed)."""
    def workers():
        return host.run("pgrep -f '^nginx: worker process$' | sort").stdout.split()
    return workers


# When the oldest current nginx worker started, as the latest epoch time it can have started at: its start in
# clock ticks since boot (/proc/PID/stat field 22, truncated to a tick) plus one tick, on the boot offset read now
# from the clocks themselves (CLOCK_REALTIME - CLOCK_BOOTTIME, nanoseconds), not /proc/stat's btime or ps's lstart
# (whole seconds each: a file written in the same second as the reload compared as newer than the workers).
_WORKER_STARTED = (
    "import os, time\n"
    "tick = 1.0 / os.sysconf('SC_CLK_TCK')\n"
    "stat = open('/proc/%d/stat').read().rsplit(')', 1)[1].split()\n"
    "print(time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_BOOTTIME)"
    " + (int(stat[19]) + 1) * tick)\n")


@pytest.fixture
def workers_started(host):
    """``started()``: the latest epoch time (float, one clock tick of precision) at which the oldest current
    nginx worker can have started."""
    def started():
        worker = int(host.check_output("pgrep -o -f '^nginx: worker process$'"))
        return float(host.check_output("python3 -c %s" % shlex.quote(_WORKER_STARTED % worker)))
    return started


@pytest.fixture
def mtime(host):
    """``mtime(path)``: the file's modification time, epoch seconds with the file system's nanoseconds."""
    def modified(path):
        return float(host.check_output("python3 -c %s" % shlex.quote(
            "import os; print(os.stat(%r).st_mtime_ns / 1e9)" % path)))
    return modified


@pytest.fixture
def playbook():
    """``run(name, *args)``: ansible-playbook with a playbook of this scenario against the lab; ``(rc, output)``."""
    def run(name, *args):
        lab = os.environ["BGD_MOLECULE_LAB"]
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                "-i", "/var/tmp/badgateway-lab/%s/inventory.ini" % lab,
                os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], name)]
        res = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=300, check=False)
        return res.returncode, res.stdout + res.stderr
    return run


@pytest.fixture
def systemd_show(host):
    """``show(unit, *props)``: ``{property: value}`` from ``systemctl show`` on the host."""
    def show(unit, *props):
        out = host.check_output("systemctl show -p %s %s" % (",".join(props), unit))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return show


@pytest.fixture
def socket_status_as(host):
    """``status(user, socket, path)``: the HTTP status the app answers on a unix socket for a request made as ``user``
    (``runuser`` + ``curl --unix-socket``: the socket's and its directories' permissions apply)."""
    def status(user, socket, path="/health"):
        return host.run("runuser -u %s -- curl -s -o /dev/null -m 10 -w '%%{http_code}' --unix-socket %s http://localhost%s"
                        % (user, socket, path)).stdout.strip()
    return status
