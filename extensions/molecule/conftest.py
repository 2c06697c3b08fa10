# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the testinfra verifiers of the molecule scenarios (hosts of tests/lab)."""
from __future__ import annotations

import os
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


@pytest.fixture
def workers_started(host):
    """``started()``: when the oldest current nginx worker started (epoch seconds)."""
    def started():
        worker = host.run("pgrep -o -f '^nginx: worker process$'").stdout.strip()
        return int(host.run("date -d \"$(ps -o lstart= -p %s)\" +%%s" % worker).stdout.strip())
    return started


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
