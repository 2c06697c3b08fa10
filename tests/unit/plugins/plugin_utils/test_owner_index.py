# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which inventory host owns an address: the one index (built once per evaluation) answers exactly what a scan of
every host answers, so the evaluation of many hosts stays linear."""
from __future__ import annotations

import random

import facts_fixtures  # noqa: F401  pylint: disable=unused-import  # puts the collection on sys.path

from ansible_collections.badgateway.doctor.plugins.plugin_utils import rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import is_loopback, same_address
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_network import OwnerIndex, owner_of
from ansible_collections.badgateway.doctor.plugins.plugin_utils._view import HostView

POOL = ["10.0.0.1", "10.0.0.2", "::ffff:10.0.0.2", "fd00::1", "[fd00::1]", "fe80::1%eth0", "fe80::1%eth1", "127.0.0.1",
        "::1", "0.0.0.0", "::", "app1", "db.example", "10.0.0.3"]


def scan_owner(inventory, me, address, host_text=None):
    """The reference: every host in inventory order (what owner_of did before the index)."""
    for name, entry in inventory.items():
        if name == me:
            continue
        addrs = [str(a) for a in entry.get("address") or []]
        if any(same_address(address, a) for a in addrs) or (host_text and host_text in addrs):
            return name
        other = entry.get("view")
        if other is not None:
            for t in other.tcp:
                a = str(t.get("address") or "")
                if a not in ("0.0.0.0", "::") and not is_loopback(a) and same_address(a, address):
                    return name
    return None


def random_inventory(rng, count):
    inventory = {}
    for i in range(count):
        name = f"h{i}"
        facts = {"listeners": {"tcp": [{"family": "inet", "address": rng.choice(POOL), "port": 8000}
                                       for _i in range(rng.randint(0, 3))]}}
        entry = {"address": rng.sample(POOL, rng.randint(0, 3)) + ([name] if rng.random() < 0.5 else []),
                 "unreachable": False, "view": None}
        inventory[name] = entry
        if rng.random() < 0.8:
            entry["view"] = HostView(name, facts, entry["address"], inventory)
    return inventory


def test_the_index_answers_what_a_scan_answers():
    rng = random.Random(13)
    for _round in range(200):
        inventory = random_inventory(rng, rng.randint(1, 8))
        index = OwnerIndex(inventory)
        for me in inventory:
            for address in POOL:
                for host_text in (None, address, "app1", "nowhere"):
                    assert index.owner(me, address, host_text) == scan_owner(inventory, me, address, host_text), \
                        (me, address, host_text, {n: (e["address"], e["view"] and e["view"].tcp) for n, e in inventory.items()})


def test_a_view_made_alone_builds_its_own_index_and_evaluate_shares_one():
    inventory = {}
    inventory["proxy1"] = {"address": ["10.0.0.1"], "unreachable": False, "view": None}
    inventory["app1"] = {"address": ["10.0.0.2"], "unreachable": False, "view": None}
    view = HostView("proxy1", {}, ["10.0.0.1"], inventory)
    assert owner_of(view, "10.0.0.2") == "app1" and owner_of(view, "10.0.0.1") is None
    result = rules.evaluate({"proxy1": {"facts": {}, "address": ["10.0.0.1"]}, "app1": {"facts": {}, "address": ["10.0.0.2"]}})
    assert set(result["hosts"]) == {"proxy1", "app1"}
