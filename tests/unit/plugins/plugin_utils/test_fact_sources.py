# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the evaluation's input comes from: the fact cache (ansible-core's real cache plugins), saved files,
and the evaluate playbook over a jsonfile cache filled by gather-only runs of the diagnose playbook."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from facts_fixtures import COLLECTIONS, FIXTURES, load_fixture

from ansible_collections.badgateway.doctor.plugins.plugin_utils import fact_sources as S
from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils.facts_action import inventory_record

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
HERE = os.path.dirname(os.path.abspath(__file__))


def _facts(name="healthy_lab", **inventory):
    facts = load_fixture(name)
    if inventory:
        facts["inventory"] = inventory
    return facts


def test_inventory_record_keeps_the_addresses_in_order_without_blanks():
    rec = inventory_record("proxy1", "10.0.0.5", ["10.0.0.5", "  ", "fd00::5", 7, None, True], now=12.5)
    assert rec == {"hostname": "proxy1", "addresses": ["10.0.0.5", "fd00::5", "7"], "gathered_at": 12.5}
    assert inventory_record("web1", "", "192.0.2.1")["addresses"] == ["192.0.2.1"]   # one address given as a string
    assert inventory_record(None, None, None)["addresses"] == []


def test_cached_entry_uses_the_recorded_addresses_and_the_inventory():
    facts = _facts(hostname="app1", addresses=["10.213.0.12"], gathered_at=100.0)
    e = S.cached_entry("app1", {"badgateway": facts}, {"ansible_host": "app1.lab", "badgateway_host_addresses": ["fd00::12"]})
    assert e["facts"] is not None and not e["unreachable"] and not e["msg"]
    assert e["address"] == ["10.213.0.12", "app1", "app1.lab", "fd00::12"]


def test_cached_entry_a_newer_failed_gather_wins_over_older_facts():
    facts = _facts(addresses=["10.0.0.1"], gathered_at=100.0)
    newer = {"failed": True, "unreachable": True, "msg": "ssh: connect to host: Connection refused", "at": 200.0}
    e = S.cached_entry("web1", {"badgateway": facts, S.FAILED_GATHER_FACT: newer})
    assert e["facts"] is None and e["unreachable"] and "Connection refused" in e["msg"]
    older = dict(newer, at=50.0)
    e = S.cached_entry("web1", {"badgateway": facts, S.FAILED_GATHER_FACT: older})
    assert e["facts"] is not None and not e["unreachable"]      # gathered again after that failure
    e = S.cached_entry("web1", {S.FAILED_GATHER_FACT: dict(newer, unreachable=False, msg="MODULE FAILURE")})
    assert e["facts"] is None and not e["unreachable"] and e["msg"] == "MODULE FAILURE"
    e = S.cached_entry("web1", None)
    assert e["facts"] is None and "no badgateway facts" in e["msg"]


class _Proxy:
    """Shaped like ansible-core 2.19's cache proxy around a plugin whose keys() returns bytes (community.general.redis)."""

    def __init__(self, inner):
        self.__wrapped__ = inner

    @staticmethod
    def _restore_key(key):
        return key[3:] if key.startswith("s1_") else None

    def get(self, key):
        return self.__wrapped__.data["s1_" + key]


class _Redisish:
    def __init__(self, data):
        self.data = data

    def keys(self):
        return [k.encode() for k in self.data]


def test_cache_keys_decodes_bytes_restores_the_proxy_prefix_and_reads_the_older_format():
    inner = _Redisish({"s1_web1": {"v": 1}, "s1_web2": {"v": 2}, "web2": {"v": "old"}, "awx1": {"v": "plain"}})
    inner.get = lambda key: inner.data[key]
    readers = S.cache_keys(_Proxy(inner))
    assert list(readers) == ["awx1", "web1", "web2"]
    assert readers["web1"]() == {"v": 1} and readers["web2"]() == {"v": 2}    # the newer format wins
    assert readers["awx1"]() == {"v": "plain"}       # written without the proxy (an older core, AWX): read as it is
    plain = _Redisish({"web3": {"v": 3}})
    plain.get = lambda key: plain.data[key]
    assert {k: r() for k, r in S.cache_keys(plain).items()} == {"web3": {"v": 3}}    # no proxy (ansible-core before 2.19)


def test_from_cache_takes_only_hosts_with_badgateway_facts_unless_named():
    data = {"s1_web1": {"badgateway": _facts()}, "s1_db1": {"ansible_distribution": "Debian"},
            "s1_ghost": {S.FAILED_GATHER_FACT: {"failed": True, "unreachable": True, "msg": "refused", "at": 1.0}}}
    plugin = _Proxy(_Redisish(data))
    hosts, notes = S.from_cache(plugin)
    assert sorted(hosts) == ["ghost", "web1"] and not notes
    assert hosts["ghost"]["unreachable"]
    hosts, _notes = S.from_cache(plugin, names=["web1", "db1", "nowhere"])
    assert sorted(hosts) == ["db1", "nowhere", "web1"]
    assert hosts["db1"]["facts"] is None and hosts["nowhere"]["facts"] is None and "fact_caching_timeout" in hosts["nowhere"]["msg"]


def test_from_cache_one_unreadable_host_does_not_hide_the_others():
    class Broken(_Proxy):
        def get(self, key):
            if key == "web2":
                raise ValueError("The cache file was corrupt")
            return super().get(key)
    plugin = Broken(_Redisish({"s1_web1": {"badgateway": _facts()}, "s1_web2": {"badgateway": _facts()}}))
    hosts, notes = S.from_cache(plugin)
    assert hosts["web1"]["facts"] is not None
    assert hosts["web2"]["facts"] is None and "corrupt" in hosts["web2"]["msg"] and notes


def test_real_jsonfile_cache_round_trip(tmp_path, monkeypatch):
    """ansible-core's own jsonfile plugin (behind 2.19's proxy): what Ansible writes, from_cache reads."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.plugins.loader import cache_loader  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(C, "CACHE_PLUGIN", "jsonfile")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "cache"))
    writer = cache_loader.get("jsonfile")
    writer.set("web1", {"badgateway": _facts(addresses=["10.0.0.1"], gathered_at=1.0), "discovered_interpreter_python": "/x"})
    writer.set("db1", {"ansible_distribution": "Debian"})
    # a file in the format before ansible-core 2.19 (plain JSON named after the host), as AWX writes its fact cache
    (tmp_path / "cache" / "awx1").write_text(json.dumps({"badgateway": _facts(addresses=["10.0.0.9"])}))
    plugin, name = S.open_cache()
    assert name == "jsonfile"
    hosts, notes = S.from_cache(plugin)
    assert list(hosts) == ["awx1", "web1"] and not notes
    assert "10.0.0.9" in hosts["awx1"]["address"]
    assert hosts["web1"]["facts"]["nginx"] == load_fixture("healthy_lab")["nginx"]
    assert "10.0.0.1" in hosts["web1"]["address"]


def test_open_cache_names_the_plugin_that_cannot_load(monkeypatch):
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(C, "CACHE_PLUGIN", "badgateway.doctor.no_such_cache")
    with pytest.raises(ValueError, match="no_such_cache"):
        S.open_cache()


def test_from_files_reads_saved_facts_and_reports_bad_files(tmp_path):
    facts = _facts()
    (tmp_path / "web1.json").write_text(json.dumps({"web1": {"facts": facts, "unreachable": False, "address": ["10.0.0.1"],
                                                             "msg": ""}}))
    (tmp_path / "web2.json").write_text("{not json")
    (tmp_path / "web3.json").write_text(json.dumps(["a", "list"]))
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "notes.txt").write_text("ignored")
    hosts, notes = S.from_files(str(tmp_path))
    assert sorted(hosts) == ["deep", "web1", "web2", "web3"] and len(notes) == 3
    assert hosts["web1"]["facts"] == facts and hosts["web1"]["address"] == ["10.0.0.1", "web1"]
    for bad in ("web2", "web3", "deep"):
        assert hosts[bad]["facts"] is None and hosts[bad]["msg"]
    result = rules.evaluate(hosts, now=0)
    assert result["hosts"]["web2"]["findings"][0]["code"] == "FACTS_INCOMPLETE"
    hosts, _notes = S.from_files(str(tmp_path), names=["web1", "web9"])
    assert sorted(hosts) == ["web1", "web9"] and "no saved facts" in hosts["web9"]["msg"]
    with pytest.raises(ValueError, match="cannot list"):
        S.from_files(str(tmp_path / "missing"))


# -- the playbooks, for real: gather-only "slices" into a jsonfile cache, then evaluate ------------------------------

def _run(tmp_path, args, cache=True):
    if not os.path.exists(ANSIBLE_PLAYBOOK):
        pytest.skip("ansible-playbook is not installed next to this Python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_CACHE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_STDOUT_CALLBACK="default")
    if cache:
        env.update(ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "cache"))
    return subprocess.run([ANSIBLE_PLAYBOOK] + args, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_evaluate_playbook_over_a_jsonfile_cache_filled_in_two_slices(tmp_path):
    data = json.loads(open(os.path.join(FIXTURES, "cross_host_loopback_bind.json"), encoding="utf-8").read())
    lines = []
    for name, entry in data.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(entry["facts"]))
        addr = [a for a in entry["address"] if a != name][0]
        lines.append(f"{name} ansible_connection=local ansible_host={addr} ansible_python_interpreter={sys.executable} "
                     f"badgateway_fixture={path}")
    inv = tmp_path / "inventory.ini"
    inv.write_text("\n".join(lines) + "\n")
    recorded = os.path.join(HERE, "playbooks", "diagnose_recorded.yml")
    for host in sorted(data):     # one "slice" per host: each sees only itself
        proc = _run(tmp_path, ["-i", str(inv), recorded, "--limit", host, "-e", "badgateway_evaluate=false"])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "findings.json" not in proc.stdout
    assert not (tmp_path / "badgateway-report").exists()
    proc = _run(tmp_path, ["-i", str(inv), "badgateway.doctor.evaluate", "-e", f"badgateway_report_dir={tmp_path / 'r'}"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out          # critical findings fail the default gate, as in the diagnose playbook
    got = json.loads((tmp_path / "r" / "findings.json").read_text())["hosts"]
    want = rules.evaluate(data)["hosts"]
    assert {h: [f["code"] for f in v["findings"]] for h, v in got.items()} == \
        {h: [f["code"] for f in v["findings"]] for h, v in want.items()}
    assert "CROSS_HOST_LOOPBACK_BIND" in [f["code"] for f in got["web1"]["findings"]]
    # the in-memory cache (no fact caching configured) holds nothing from earlier runs: the playbook says so
    proc = _run(tmp_path, ["badgateway.doctor.evaluate", "-e", f"badgateway_report_dir={tmp_path / 'r2'}"], cache=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "in-memory one" in proc.stdout
    assert json.loads((tmp_path / "r2" / "findings.json").read_text())["hosts"] == {}


def test_evaluate_playbook_fails_clearly_on_a_bad_source(tmp_path):
    proc = _run(tmp_path, ["badgateway.doctor.evaluate", "-e", "badgateway_facts_from=files",
                           "-e", f"badgateway_facts_dir={tmp_path / 'nowhere'}"], cache=False)
    assert proc.returncode == 2
    assert "cannot list the facts directory" in proc.stdout


def test_the_expand_facts_filter_writes_out_every_route():
    from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel
    from ansible_collections.badgateway.doctor.plugins.filter.expand_facts import FilterModule  # pylint: disable=import-outside-toplevel
    expand = FilterModule().filters()["expand_facts"]
    facts = load_fixture("healthy_lab")
    assert isinstance(facts["nginx"]["routes"], dict)          # the fixtures are in the form the modules return
    out = expand(facts)
    assert [r["id"] for r in out["nginx"]["routes"]] == ["_:80 /", "_:80 /asgi/"]
    assert out["sockets"]["paths"][0]["path"] == "/run/gunicorn/gunicorn.sock"
    assert out["listeners"]["unix"][0]["processes"][0]["name"] == "gunicorn"
    ctr = load_fixture("container_oom_killed")["containers"]
    assert isinstance(ctr["containers"], dict)
    web = next(c for c in expand({"containers": ctr})["containers"]["containers"] if c["name"] == "shop_web_1")
    assert web["engine"] == ctr["engines"][0]["socket"] and web["short_id"] == web["id"][:12] and web["oom_killed"]
    with pytest.raises(AnsibleFilterError):
        expand(["not", "facts"])


def test_facts_of_another_schema_version_say_so():
    old = load_fixture("healthy_lab")
    old["version"] = 1
    result = rules.evaluate({"web1": {"facts": old, "unreachable": False, "address": [], "msg": ""}}, now=0)
    top = result["hosts"]["web1"]["findings"][0]
    assert top["code"] == "FACTS_INCOMPLETE" and top["severity"] == "warning" and "schema version 1" in top["summary"]
