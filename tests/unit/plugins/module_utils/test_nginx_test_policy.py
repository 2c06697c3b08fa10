# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When nginx -t runs: the modes auto, always and never, on a fake running nginx."""
from __future__ import annotations

import os

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_test_policy as P
from nginx_helpers import (NOT_WAITED, SLOW_TEST_TEXT, collect_timed, fake_nginx, fast_nginx, make_fifo, make_proc,
                           processes_running, ran, release_fifo, running_site, slow_nginx, within)


# --------------------------------------------------------------------------- nginx -t modes (auto, always, never)


def test_auto_skips_the_test_when_the_running_nginx_loaded_these_files(tmp_path):
    proc, conf, _start = running_site(tmp_path)
    binary = slow_nginx(tmp_path)
    facts, took = collect_timed(conf_path=conf, binary=binary, proc=proc)   # "auto" is the default
    assert facts["master_pid"] == 100 and facts["stale"] is False
    assert facts["test"] == {"ok": None, "rc": None, "output": P.TEST_SKIPPED_OUTPUT, "skipped": True}
    assert "nginx_test: always" in facts["test"]["output"]
    assert took < NOT_WAITED, "waited for nginx -t although it was not needed"
    # the speculative nginx -t (and the sleep it started) was killed, not left behind
    assert processes_running(binary, "sleep %s" % SLOW_TEST_TEXT) == []
    # skipping is not a problem with the facts
    assert facts["errors"] == []


def test_always_runs_the_test_on_the_same_host(tmp_path):
    proc, conf, _start = running_site(tmp_path)
    binary = fake_nginx(tmp_path, 0, 0.3)   # its output comes after the sleep: it was waited for
    for run_test in ("always", True):
        facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc, run_test=run_test)
        assert ran(facts, conf), facts["test"]


@pytest.mark.parametrize("run_test", ["never", False])
def test_never_does_not_run_it(tmp_path, run_test):
    proc, conf, _start = running_site(tmp_path)
    binary = slow_nginx(tmp_path)
    facts, took = collect_timed(conf_path=conf, binary=binary, proc=proc, run_test=run_test)
    assert facts["test"] == {"ok": None, "rc": None, "output": "", "skipped": False}
    assert took < NOT_WAITED
    assert processes_running(binary, "sleep %s" % SLOW_TEST_TEXT) == []


def test_auto_runs_the_test_when_a_config_file_is_stale(tmp_path):
    proc, conf, start = running_site(tmp_path)
    os.utime(str(tmp_path / "etc" / "site.conf"), (start + 60, start + 60))
    facts, _took = collect_timed(conf_path=conf, binary=fast_nginx(tmp_path), proc=proc)
    assert facts["stale"] is True
    assert ran(facts, conf), facts["test"]


@pytest.mark.parametrize("directive", ["ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate",
                                       "ssl_client_certificate", "ssl_dhparam", "ssl_crl", "ssl_password_file",
                                       "auth_basic_user_file"])
def test_auto_runs_the_test_when_a_referenced_file_is_newer_or_missing(tmp_path, directive):
    (tmp_path / "etc" / "certs").mkdir(parents=True)
    ref = tmp_path / "etc" / "certs" / "file.pem"
    ref.write_text("x\n")
    # relative to the directory of nginx.conf, as nginx resolves it
    proc, conf, start = running_site(tmp_path, "%s certs/file.pem;" % directive)
    for path in (str(ref), str(ref.parent)):
        os.utime(path, (start - 100, start - 100))
    binary = fast_nginx(tmp_path)
    facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["test"]["skipped"] is True, facts["test"]      # unchanged: not needed

    os.utime(str(ref), (start + 30, start + 30))                # renewed certificate, not reloaded
    facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["stale"] is False       # the configuration files themselves are unchanged
    assert ran(facts, conf), facts["test"]

    ref.unlink()
    os.utime(str(ref.parent), (start - 100, start - 100))
    facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_a_file_name_holds_a_variable(tmp_path):
    proc, conf, _start = running_site(tmp_path, "ssl_certificate /etc/ssl/$ssl_server_name.crt;")
    facts, _took = collect_timed(conf_path=conf, binary=fast_nginx(tmp_path), proc=proc)
    assert ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_nginx_is_not_running(tmp_path):
    _proc_dir, conf, _start = running_site(tmp_path)
    empty = tmp_path / "noproc"
    make_proc(empty, 100000.0, [], os.sysconf("SC_CLK_TCK"))
    facts, _took = collect_timed(conf_path=conf, binary=fast_nginx(tmp_path), proc=str(empty))
    assert facts["master_pid"] is None
    assert ran(facts, conf), facts["test"]


def test_auto_runs_the_test_when_the_master_runs_another_file(tmp_path):
    proc, conf, _start = running_site(tmp_path, master_conf=False)   # master started without -c: its compiled default
    facts, _took = collect_timed(conf_path=conf, binary=fast_nginx(tmp_path), proc=proc)
    assert facts["master_pid"] == 100
    assert ran(facts, conf), facts["test"]


def test_auto_runs_the_test_after_parse_errors_or_a_newer_binary(tmp_path):
    proc, conf, start = running_site(tmp_path, "proxy_read_timeout 5q;")
    binary = fast_nginx(tmp_path)
    facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert facts["errors"] and ran(facts, conf), facts["test"]

    (tmp_path / "b").mkdir()
    proc, conf, start = running_site(tmp_path / "b")
    binary = fake_nginx(tmp_path / "b", 0, 0.0)     # the binary was replaced after the workers started (upgrade)
    os.utime(binary, (start + 10, start + 10))
    facts, _took = collect_timed(conf_path=conf, binary=binary, proc=proc)
    assert ran(facts, conf), facts["test"]


def test_run_test_values():
    assert [P.nginx_test_mode(v) for v in (True, False, "auto", "always", "never")] == [
        "always", "never", "auto", "always", "never"]
    with pytest.raises(ValueError):
        P.nginx_test_mode("sometimes")


def test_referenced_files_skips_inline_values(tmp_path):
    payload = {"config": [{"file": "/etc/nginx/nginx.conf", "parsed": [
        {"directive": "http", "args": [], "block": [
            {"directive": "ssl_certificate", "args": ["data:-----BEGIN"]},
            {"directive": "ssl_certificate_key", "args": ["engine:pkcs11:key"]},
            {"directive": "auth_basic_user_file", "args": ["htpasswd"]},
            {"directive": "server", "args": [], "block": [{"directive": "ssl_dhparam", "args": ["/etc/ssl/dh.pem"]}]},
        ]}]}]}
    assert P.referenced_files(payload, "/etc/nginx") == (["/etc/nginx/htpasswd", "/etc/ssl/dh.pem"], False)


def test_auto_runs_the_test_when_a_referenced_file_is_a_fifo(tmp_path):
    # nginx would block opening it; checking it must not
    proc, conf, start = running_site(tmp_path, "ssl_certificate_key key.pem;")
    fifo = make_fifo(tmp_path / "etc" / "key.pem")
    try:
        for path in (fifo, str(tmp_path / "etc")):
            os.utime(path, (start - 100, start - 100))
        facts, _took = within(10, collect_timed, conf_path=conf, binary=fast_nginx(tmp_path), proc=proc)
        assert ran(facts, conf), facts["test"]
    finally:
        release_fifo(fifo)
        assert within(10, P.nginx_test_needed, dict(facts, stale=False), {"config": [{"parsed": [
            {"directive": "ssl_certificate_key", "args": [fifo]}]}]}, True, True, 0.1) == (
            True, "%s is missing or unreadable" % fifo)
