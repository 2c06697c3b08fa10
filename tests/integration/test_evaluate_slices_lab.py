# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sliced gathers, one evaluation: the ``evaluate`` playbook over Ansible's fact cache, on four lab hosts.

The lab's split topology with two pairs (proxy1 -> app1:8000, proxy2 -> app2:8000), each pair with a
cross-host fault (app1's gunicorn bound to loopback only, app2's stopped). The reference is one run of
the diagnose playbook over all four hosts. Then slice 1 gathers proxy1 + proxy2 and slice 2 gathers
app1 + app2 (every cross-host route leaves its slice, the case AWX's job slicing creates), each with
``badgateway_evaluate=false`` and a persistent fact cache - the built-in ``jsonfile`` and
community.general's ``redis`` against a real ``redis-server`` started here on loopback - and the
``evaluate`` playbook, without an inventory, must name exactly the findings of the single run,
cross-host ones included (each proxy's target is only in the other slice). Controls: the saved
``facts/<host>.json`` files give the same; an evaluation of one slice alone cannot check the other
hosts (CROSS_HOST_UNCHECKED); a host unreachable in its slice is reported as unreachable.

    BGD_LAB_NAME=bgd-mine .venv/bin/python -m pytest tests/integration/test_evaluate_slices_lab.py -q
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from facts_form import expand_nginx

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
SLICES = (("proxy1", "proxy2"), ("app1", "app2"))   # each proxy's app server is in the other slice
CROSS = {"proxy1": "CROSS_HOST_LOOPBACK_BIND", "proxy2": "CROSS_HOST_NOT_LISTENING"}


def playbook(args: list, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False")
    for key in [k for k in env if k.startswith("ANSIBLE_CACHE_")]:
        del env[key]
    env.update(env_extra or {})
    exe = str(BIN / "ansible-playbook") if (BIN / "ansible-playbook").exists() else "ansible-playbook"
    return subprocess.run([exe] + args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def findings_of(report: Path, proc: subprocess.CompletedProcess) -> dict:
    path = report / "findings.json"
    assert path.exists(), f"no findings.json (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return json.loads(path.read_text())["hosts"]


def shape(host_result: dict) -> list:
    """What must be equal between two evaluations of the same state (probe latencies and log counts may differ)."""
    def one(f):
        return (f["code"], f["severity"], f["layer"], f.get("route"), f["summary"], json.dumps(f["fix"], sort_keys=True),
                tuple(one(c) for c in f.get("consequences") or []))
    return [one(f) for f in host_result["findings"]]


def describe(hosts: dict) -> str:
    return "\n".join(f"{h}: " + ", ".join(f"{f['code']}({f['severity']})" for f in v["findings"]) for h, v in sorted(hosts.items()))


def gather_slices(the_lab, cache_env: dict, report: Path, extra_inventory: Path | None = None) -> None:
    """Two gather-only runs of the diagnose playbook, one per slice, into the same fact cache."""
    for number, hosts in enumerate(SLICES, start=1):
        args = ["-i", str(the_lab.inventory_path), "badgateway.doctor.diagnose", "--limit", ",".join(hosts),
                "-e", "badgateway_evaluate=false", "-e", "badgateway_save_facts=true", "-e", f"badgateway_report_dir={report}"]
        if extra_inventory is not None and number == 2:
            args[2:2] = ["-i", str(extra_inventory)]
            args[args.index("--limit") + 1] += ",ghost"
        proc = playbook(args, cache_env)
        assert proc.returncode == 0, f"slice {number} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        assert '"reports: ' not in proc.stdout and "findings.json" not in proc.stdout, "a gather-only slice evaluated"


def evaluate(report: Path, cache_env: dict, *extra: str) -> dict:
    proc = playbook(["badgateway.doctor.evaluate", "-e", f"badgateway_report_dir={report}", "-e", "badgateway_fail_on=none",
                     *extra], cache_env)
    assert proc.returncode == 0, f"evaluate failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    return findings_of(report, proc)


def assert_same(reference: dict, got: dict, what: str) -> None:
    for host, ref in reference.items():
        assert host in got, f"{what}: {host} was not evaluated\n{describe(got)}"
        assert shape(got[host]) == shape(ref), (
            f"{what}: {host} differs from the single run\nsingle run:\n{describe({host: ref})}\n{what}:\n{describe({host: got[host]})}")
        assert got[host]["status"] == ref["status"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def faulted(split4_lab):
    """Both pairs broken across hosts; healed at the end."""
    marks = []
    try:
        for fault, host in (("cross_host_loopback", "app1"), ("cross_host_not_listening", "app2")):
            mark = split4_lab.inject(fault, host)
            marks.append((fault, host))
            seen = split4_lab.verify(fault, mark)
            assert seen["ok"], f"the lab did not reproduce {fault} on {host}: {seen}"
        yield split4_lab
    finally:
        for _fault, host in marks:   # both first: heal() waits until every host's routes answer 200
            split4_lab.run(host, "lab-heal", check=False, timeout=60)
        for fault, host in marks:
            split4_lab.heal(fault, host)


@pytest.fixture(scope="module")
def single_run(faulted, tmp_path_factory):
    """The reference: one diagnose run over all four hosts (no fact cache)."""
    report = tmp_path_factory.mktemp("single") / "report"
    proc = playbook(["-i", str(faulted.inventory_path), "badgateway.doctor.diagnose", "-e", f"badgateway_report_dir={report}",
                     "-e", "badgateway_fail_on=none"])
    hosts = findings_of(report, proc)
    assert set(hosts) == set(faulted.hosts)
    for host, code in CROSS.items():
        assert hosts[host]["findings"][0]["code"] == code, describe(hosts)
    return hosts


def untagged(value):
    """ansible-core 2.19 keeps the tags of templated values in the cache: ``{"value": v, "tags": [...], "__ansible_type": ...}``."""
    if isinstance(value, dict):
        if "__ansible_type" in value and "value" in value:
            return untagged(value["value"])
        return {k: untagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untagged(v) for v in value]
    return value


def _cached_facts(path: Path) -> dict:
    data = json.loads(path.read_text())
    # ansible-core 2.19 stores the facts as a JSON document inside the cache's own JSON
    return untagged(json.loads(data["__payload__"]) if "__payload__" in data else data)


def test_jsonfile_cache_slices_then_evaluate_equal_one_run(faulted, single_run, tmp_path):
    cache = tmp_path / "cache"
    env = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)}   # defaults otherwise
    saved = tmp_path / "slices"
    ghost_port = free_port()   # nothing listens there: ssh is refused at once
    ghost = tmp_path / "ghost.ini"
    ghost.write_text(f"ghost ansible_host=127.0.0.1 ansible_port={ghost_port} ansible_user=root "
                     "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n")
    gather_slices(faulted, env, saved, extra_inventory=ghost)

    # what the gather stored: the whole badgateway fact, and the inventory data the cross-host rules need
    files = {p.name.split("_", 1)[-1] if p.name.startswith("s") and "_" in p.name else p.name: p for p in cache.iterdir()}
    assert set(faulted.hosts) | {"ghost"} <= set(files), sorted(files)
    proxy1 = _cached_facts(files["proxy1"])
    routes = expand_nginx(proxy1["badgateway"]["nginx"])["routes"]
    assert any(faulted.host("app1").addr in json.dumps(r) for r in routes), "proxy1's route to app1 is not in the cache"
    assert faulted.host("proxy1").addr in proxy1["badgateway"]["inventory"]["addresses"]
    assert {"listeners", "apps", "sockets", "logs", "probes", "system"} <= set(proxy1["badgateway"])
    assert _cached_facts(files["ghost"])["diagnose_gather_failed"]["unreachable"] is True

    got = evaluate(tmp_path / "from-cache", env)
    assert_same(single_run, got, "evaluate over the jsonfile cache")
    assert got["ghost"]["status"] == "unreachable"
    assert got["ghost"]["findings"][0]["code"] == "HOST_UNREACHABLE"

    # the same from the saved facts files (no cache configured at all)
    got = evaluate(tmp_path / "from-files", {}, "-e", "badgateway_facts_from=files", "-e", f"badgateway_facts_dir={saved}/facts")
    assert_same(single_run, got, "evaluate over facts/<host>.json")

    # control: one slice alone cannot check what listens on the other slice's hosts
    alone = evaluate(tmp_path / "slice1-alone", env, "-i", str(faulted.inventory_path), "-e", "badgateway_hosts=proxy1:proxy2")
    assert set(alone) == {"proxy1", "proxy2"}
    for host in CROSS:
        codes = [f["code"] for f in alone[host]["findings"]]
        assert "CROSS_HOST_UNCHECKED" in codes and CROSS[host] not in codes, describe(alone)


def test_redis_cache_slices_then_evaluate_equal_one_run(faulted, single_run, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (tests/install-deps.sh installs it)")
    pytest.importorskip("redis", reason="the redis Python client (requirements-dev.txt) is needed by the redis cache plugin")
    pytest.importorskip("ansible_collections.community.general",
                        reason="community.general (the ansible package, requirements-dev.txt) ships the redis cache plugin")
    port = free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        import redis  # pylint: disable=import-outside-toplevel
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.1)
        env = {"ANSIBLE_CACHE_PLUGIN": "community.general.redis", "ANSIBLE_CACHE_PLUGIN_CONNECTION": f"127.0.0.1:{port}:0"}
        gather_slices(faulted, env, tmp_path / "slices")
        keys = {k.decode() for k in client.zrange("ansible_cache_keys", 0, -1)}
        assert set(faulted.hosts) <= {k.split("_", 1)[-1] if k.startswith("s") else k for k in keys}, keys
        stored = client.get(next(f"ansible_facts{k}" for k in keys if k.endswith("proxy2")))
        proxy2 = json.loads(stored)
        proxy2 = untagged(json.loads(proxy2["__payload__"]) if "__payload__" in proxy2 else proxy2)
        assert faulted.host("proxy2").addr in proxy2["badgateway"]["inventory"]["addresses"]
        assert expand_nginx(proxy2["badgateway"]["nginx"])["routes"]

        got = evaluate(tmp_path / "from-redis", env)
        assert_same(single_run, got, "evaluate over the redis cache")
        assert set(got) == set(faulted.hosts)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
