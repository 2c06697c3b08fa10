# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running nginx: nginx -V, master and worker processes, staleness."""
from __future__ import annotations

import os
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_running as R
from ansible_collections.badgateway.doctor.plugins.module_utils import _proc
from ansible_collections.badgateway.doctor.plugins.module_utils import nginx_facts as NF
from nginx_helpers import make_proc, write


# --------------------------------------------------------------------------- nginx -V


def test_parse_nginx_V_debian():
    text = ("nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.20 7 Apr 2026\nTLS SNI support enabled\n"
            "configure arguments: --with-cc-opt='-g -O2 -ffile-prefix-map=/build/nginx-1.22.1=. -fPIC' "
            "--prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr "
            "--pid-path=/run/nginx.pid --with-threads\n")
    info = R.parse_nginx_V(text)
    assert info["version"] == "1.22.1"
    c = info["configure"]
    assert c["prefix"] == "/usr/share/nginx" and c["conf-path"] == "/etc/nginx/nginx.conf"
    assert c["with-cc-opt"].startswith("-g -O2") and c["with-threads"] is True
    assert "user" not in c


def test_parse_nginx_V_nginx_org_and_openresty():
    info = R.parse_nginx_V("nginx version: nginx/1.29.7\nconfigure arguments: --prefix=/etc/nginx "
                           "--user=nginx --group=nginx --conf-path=/etc/nginx/nginx.conf\n")
    assert info["version"] == "1.29.7"
    assert (info["configure"]["user"], info["configure"]["group"]) == ("nginx", "nginx")
    assert R.parse_nginx_V("nginx version: openresty/1.21.4.1\n")["version"] == "1.21.4.1"
    assert R.parse_nginx_V("nginx version: nginx/1.24.0 (Ubuntu)\n")["version"] == "1.24.0"


# --------------------------------------------------------------------------- processes, staleness


def test_stale_files_compares_with_the_oldest_worker():
    files = [("/etc/nginx/nginx.conf", 1000.0), ("/etc/nginx/sites-enabled/app", 2000.5)]
    assert R.stale_files(files, None) == []
    assert R.stale_files(files, 3000.0) == []
    assert R.stale_files(files, 1500.0) == [{"path": "/etc/nginx/sites-enabled/app", "mtime": 2000.5}]
    assert R.stale_files(files, 2000.45, slack=0.1) == []
    assert len(R.stale_files(files, 999.0)) == 2


def test_processes_and_stale_detection_with_fake_times(tmp_path):
    clk = os.sysconf("SC_CLK_TCK")
    uptime = 100000.0
    boot = time.time() - uptime
    master_at, workers_at = uptime - 5000, uptime - 600     # master 5000 s ago, reload 600 s ago
    proc = tmp_path / "proc"
    make_proc(proc, uptime, [
        (100, 1, "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", 0, master_at),
        (101, 100, "nginx: worker process", 33, workers_at),
        (102, 100, "nginx: worker process", 33, workers_at + 30),
        (103, 100, "nginx: worker process is shutting down", 33, 10.0),
        (104, 100, "nginx: cache manager process", 33, workers_at),
        (200, 1, "python3 -c nginx: worker process", 0, 1.0),
    ], clk)
    conf = write(tmp_path, "nginx.conf", "events {}\nhttp { include site.conf; }\n")
    site = write(tmp_path, "site.conf", "server { location / { proxy_pass http://127.0.0.1:8000; } }\n")
    worker_start = boot + workers_at
    os.utime(conf, (worker_start - 3600, worker_start - 3600))
    os.utime(site, (worker_start - 60, worker_start - 60))

    t0 = time.time()
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False, proc=str(proc))
    t1 = time.time()

    def started(value, after_boot):
        """The fake /proc/uptime stands still: the boot time is ``uptime`` before the moment it was read,
        somewhere in [t0, t1], however long that took; the start ticks are whole 1/clk."""
        return t0 - uptime + after_boot - 1.0 / clk - 1e-3 <= value <= t1 - uptime + after_boot + 1e-3

    assert facts["master_pid"] == 100
    assert facts["worker_pids"] == [101, 102]
    assert facts["worker_users"] == [_proc.user_name(33)]
    assert started(facts["master_started"], master_at), (facts["master_started"], t0, t1)
    assert started(facts["workers_started"], workers_at), (facts["workers_started"], t0, t1)
    assert facts["files"] == [conf, site]
    assert facts["stale"] is False and facts["stale_files"] == []

    # edited after the workers started, not reloaded
    os.utime(site, (worker_start + 120, worker_start + 120))
    facts = NF.collect_nginx(conf_path=conf, binary=str(tmp_path / "no-nginx"), run_test=False, proc=str(proc))
    assert facts["stale"] is True
    assert facts["stale_files"] == [{"path": site, "mtime": os.stat(site).st_mtime}]


def test_master_is_chosen_by_pid_file(tmp_path):
    procs = [
        {"pid": 10, "ppid": 1, "role": "master", "title": "nginx: master process nginx -c /a.conf", "user": "root", "start_time": 1.0},
        {"pid": 20, "ppid": 1, "role": "master", "title": "nginx: master process nginx -c /b.conf", "user": "root", "start_time": 1.0},
    ]
    assert R.select_master(procs)["pid"] == 10
    assert R.select_master(procs, pid_from_file=20)["pid"] == 20
    assert R.select_master(procs, conf_path="/b.conf")["pid"] == 20
    assert R.select_master([]) is None


def test_real_proc_scan_does_not_fail():
    processes, precise, errors = R.scan_processes("/proc")
    assert isinstance(processes, list) and isinstance(precise, bool)
    assert all(p["role"] in ("master", "worker") for p in processes)
