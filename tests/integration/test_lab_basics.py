# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab itself: hosts boot, every route answers through nginx, SSH and Ansible reach them."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lab as labmod

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
LABCTL = [sys.executable, str(REPO / "tests" / "lab" / "labctl.py")]


def test_every_route_answers_200_on_every_host(lab):
    assert lab.hosts, "the lab has no hosts"
    for host in lab.hosts:
        for route in labmod.ROUTES:
            status, body = lab.http(host, route)
            assert status == 200, f"{host}{route} answered {status}: {body[:200]}"
        assert lab.http(host, "/")[1] == "wsgi ok\n"
        assert lab.http(host, "/asgi/")[1] == "asgi ok\n"


def test_hosts_run_systemd_and_the_lab_units(lab):
    for host in lab.hosts:
        res = lab.run(host, "readlink /proc/1/exe; systemctl is-active gunicorn uvicorn nginx ssh; stat -c '%U:%G %a' /run/gunicorn/gunicorn.sock")
        lines = res.stdout.split()
        assert lines[0].endswith("/systemd"), res.stdout
        assert lines[1:5] == ["active"] * 4, res.stdout
        assert lines[5:] == ["app:www-data", "770"], res.stdout


def test_app_user_and_secrets_in_env_file(lab):
    res = lab.run("web1", "id -Gn app; stat -c '%U:%G %a' /etc/default/app-env; grep -c DO-NOT-LEAK /etc/default/app-env")
    assert res.stdout.split() == ["app", "root:app", "640", "2"], res.stdout


def test_up_is_idempotent_and_fast_when_already_up(lab):
    pids = [lab.host(h).pid1 for h in lab.hosts]
    t0 = time.time()
    lab.up(topology=lab.topology, hosts=len(lab.hosts))
    assert time.time() - t0 < 20
    assert [lab.host(h).pid1 for h in lab.hosts] == pids, "up of a healthy lab must not reboot it"


def test_ssh_as_root_and_auditor(lab):
    for host in lab.hosts:
        assert lab.ssh(host, "id -un").stdout.strip() == "root"
        res = lab.ssh(host, "id -un; id -Gn; sudo -n true 2>&1 || echo nosudo", user="auditor")
        assert res.stdout.split()[:2] == ["auditor", "auditor"], res.stdout
        assert "nosudo" in res.stdout


def test_cli_inventory_and_ssh(lab):
    env = dict(os.environ, BGD_LAB_NAME=lab.name)
    inv = subprocess.run(LABCTL + ["inventory"], capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert Path(inv) == lab.inventory_path and Path(inv).exists()
    res = subprocess.run(LABCTL + ["ssh", lab.hosts[-1], "--", "hostname"], capture_output=True, text=True, env=env,
                         check=False, stdin=subprocess.DEVNULL, timeout=30)
    assert res.returncode == 0 and res.stdout.strip() == lab.hosts[-1], res


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no .venv/bin/ansible (run make venv)")
def test_inventory_works_with_ansible_ping(lab):
    res = subprocess.run([str(ANSIBLE), "-i", str(lab.inventory_path), "lab", "-m", "ping", "-o"],
                         capture_output=True, text=True, timeout=120, check=False,
                         env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert res.returncode == 0, res.stdout + res.stderr
    for host in lab.hosts:
        assert f"{host} | SUCCESS" in res.stdout, res.stdout


def test_inventory_groups(lab):
    text = lab.inventory_path.read_text()
    assert "[lab]" in text
    for host in lab.hosts:
        addr = lab.host(host).addr
        assert f"{host} ansible_host={addr} ansible_user=root" in text
        assert addr.startswith("10.213.")
    assert "ansible_python_interpreter=/usr/bin/python3" in text


def test_split_topology_proxies_over_the_lab_link(split_lab):
    assert sorted(split_lab.hosts) == ["app1", "proxy1"]
    app_addr = split_lab.host("app1").addr
    assert split_lab.http("proxy1", "/") == (200, "wsgi ok\n")
    listen = split_lab.run("app1", "ss -Htln 'sport = :8000'").stdout
    assert f"{app_addr}:8000" in listen, listen
    assert "inactive" in split_lab.run("proxy1", "systemctl is-active gunicorn", check=False).stdout
    site = split_lab.run("proxy1", "cat /etc/nginx/sites-enabled/lab").stdout
    assert f"server {app_addr}:8000" in site
    text = split_lab.inventory_path.read_text()
    assert "[proxy]\nproxy1" in text and "[app]\napp1" in text


def test_cli_refuses_without_root_in_one_sentence():
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(nobody + [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import lab" % str(REPO / "tests" / "lab")],
                           capture_output=True, text=True, timeout=60, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run the lab's Python from this checkout: {probe.stderr.strip()[-200:]}")
    res = subprocess.run(nobody + LABCTL + ["up", "--name", "bgd-nonroot"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "root" in lines[0], res.stderr


def test_cli_reports_a_broken_cache(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    cache = tmp_path / "cache"
    broken = cache / f"base-{labmod.recipe_hash()}"
    (broken / "etc").mkdir(parents=True)
    env = dict(os.environ, BGD_LAB_CACHE=str(cache), BGD_LAB_STATE=str(tmp_path / "state"))
    res = subprocess.run(LABCTL + ["up", "--name", "bgd-broken"], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken" in lines[0], res.stderr
    assert not (tmp_path / "state" / "bgd-broken").exists()


def test_cli_reports_missing_nspawn(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # a PATH without systemd-nspawn: the lab looks tools up on PATH_ENV + PATH, so hide it via a fake PATH_ENV
    code = ("import sys; sys.path.insert(0, %r); import lab; lab.PATH_ENV = %r;"
            "import labctl; sys.exit(labctl.main(['up', '--name', 'bgd-nonspawn']))") % (str(REPO / "tests" / "lab"), str(tmp_path))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         env=dict(os.environ, PATH=str(tmp_path)))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing on this machine" in lines[0] and "systemd-nspawn" in lines[0], res.stderr
