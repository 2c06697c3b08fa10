# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault catalog (tests/lab/faults.toml) reproduced for real on the lab hosts.

For every fault: inject it, send its traffic through nginx, check the HTTP status and the new
nginx error.log lines (and the journal / host checks the catalog names), then heal it and check
that every route answers 200 again. Healing runs in a finally, so the next test starts healthy.
"""
from __future__ import annotations

import re

import pytest

import lab as labmod

pytestmark = pytest.mark.lab

FAULTS = labmod.load_faults()
SINGLE = sorted(n for n, f in FAULTS.items() if f.topology == "single")
SPLIT = sorted(n for n, f in FAULTS.items() if f.topology == "split")
CODES = {
    "APP_STOPPED", "APP_CRASH_LOOP", "APP_BOOT_IMPORT_ERROR", "APP_ENV_FILE_MISSING", "APP_EXEC_MISSING",
    "APP_WORKDIR_MISSING", "DEPENDENCY_DOWN", "SOCKET_MISSING", "TARGET_MISMATCH_PORT", "TARGET_MISMATCH_SOCKET",
    "IP_FAMILY_MISMATCH", "SOCKET_DIR_PERMISSION", "SOCKET_FILE_PERMISSION", "RUNTIME_DIRECTORY_MISSING",
    "PRIVATE_TMP_SOCKET", "WORKER_TIMEOUT", "UPSTREAM_TIMEOUT", "OOM_KILL", "KEEPALIVE_RACE", "PROTOCOL_MISMATCH",
    "BACKLOG_FULL", "HEADER_TOO_BIG", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "NGINX_CONFIG_INVALID",
    "NGINX_CONFIG_STALE", "CROSS_HOST_LOOPBACK_BIND", "CROSS_HOST_NOT_LISTENING", "CROSS_HOST_UNCHECKED",
    "SELINUX_BLOCKS_UPSTREAM", "PHP_FPM_SOCKET_OWNER", "CONTAINER_LOOPBACK_BIND", "HOST_UNREACHABLE",
    "FACTS_INCOMPLETE", "NGINX_DOWN",
}
REQUIRED = {"app_stopped", "wrong_socket_path", "wrong_port", "socket_dir_permission", "runtime_directory_missing",
            "boot_failure_module", "config_not_reloaded", "worker_timeout"}


def test_catalog_is_well_formed():
    assert REQUIRED <= set(FAULTS), f"missing faults: {REQUIRED - set(FAULTS)}"
    for name, f in FAULTS.items():
        assert f.expect_code in CODES, f"{name}: unknown finding code {f.expect_code}"
        assert f.topology in ("single", "split"), name
        assert f.inject and f.heal and f.description, name
        assert isinstance(f.expect.get("status"), int), name
        for key in ("error_log", "journal"):
            if f.expect.get(key):
                re.compile(f.expect[key])
        if f.expect["status"] == 0:     # no HTTP answer at all (nginx is down): its journal says why
            assert f.expect.get("journal"), f"{name}: no answer at all must name the journal line that says why"
        elif f.expect["status"] != 200:
            assert f.expect.get("error_log"), f"{name}: an error status must name its error.log line"


def _run_fault(the_lab, name):
    fault = FAULTS[name]
    try:
        mark = the_lab.inject(fault)
        res = the_lab.verify(fault, mark)
        assert res["ok"], f"{name} on {res['host']}: " + "; ".join(res["errors"])
    finally:
        the_lab.heal(fault)
    for host in the_lab.hosts:
        routes = the_lab.routes_ok(host)
        assert all(s == 200 for s in routes.values()), f"after healing {name}, {host} answers {routes}"


@pytest.mark.parametrize("name", SINGLE)
def test_fault_single(lab, name):
    _run_fault(lab, name)


@pytest.mark.parametrize("name", SPLIT)
def test_fault_split(split_lab, name):
    _run_fault(split_lab, name)
