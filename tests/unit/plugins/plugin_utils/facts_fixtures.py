# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import glob
import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
COLLECTIONS = os.path.join(REPO, "tests", "output", "collections")
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "facts")


def ensure_collection_path():
    link = os.path.join(COLLECTIONS, "ansible_collections", "badgateway", "doctor")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


ensure_collection_path()


def load_fixture(name):
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def one_host(facts, name="web1", address=("10.213.0.2",)):
    """The evaluate() input for one host; facts in the collectors' form (a test's ``expanded()`` fixture it changed)
    are sent as the modules send them."""
    return {name: {"facts": wire(facts), "unreachable": False, "address": list(address), "msg": ""}}


def hosts_of(data):
    """The ``rules.evaluate()`` input for any fixture file: one host's facts (tests/unit/fixtures/facts/*.json),
    an inventory of hosts (cross_host_*.json), or a lab recording ({"hosts": {name: facts}, "addresses": ...})."""
    if "hosts" in data:
        addresses = data.get("addresses", {})
        return {h: {"facts": f, "unreachable": False, "address": addresses.get(h, []), "msg": ""} for h, f in data["hosts"].items()}
    if "nginx" in data:
        return one_host(data)
    return data


def every_fixture():
    """(path relative to the fixtures, evaluate() input) for every recorded and hand-built fixture."""
    paths = sorted(glob.glob(os.path.join(FIXTURES, "*.json"))) + sorted(glob.glob(os.path.join(FIXTURES, "lab", "*.json")))
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            yield os.path.relpath(path, FIXTURES), hosts_of(json.load(fh))


def expanded(facts):
    """A fixture's facts written out (the collectors' form: routes, socket paths, listeners as lists of dicts), for a
    test that changes entries before evaluating; ``wire()`` turns them back into the form the modules return."""
    import copy  # pylint: disable=import-outside-toplevel
    from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import expand_facts  # pylint: disable=import-outside-toplevel
    return copy.deepcopy(expand_facts(facts))     # the entries share the listed-once values: a test changes one entry


def wire(facts):
    """Facts in the collectors' form as the fact modules return them (schema 2)."""
    from ansible_collections.badgateway.doctor.plugins.module_utils._facts_compact import (  # pylint: disable=import-outside-toplevel
        COMPACT_VERSION,
        compact_facts,
    )
    out = compact_facts(facts)
    if isinstance(out, dict) and "version" in out:
        out["version"] = COMPACT_VERSION
    return out
