# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure catalog (plugins/plugin_utils/catalog.py) is the one table the rules, the docs and the lab agree on."""
from __future__ import annotations

import os
import re

import pytest

import catalog_docs
from facts_fixtures import REPO, every_fixture

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog, rules
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import finding


def _codes(findings):
    for f in findings:
        yield f["code"]
        yield from _codes(f["consequences"])


def test_every_catalogued_code_is_produced_by_a_recorded_fixture():
    # a rule cannot emit an uncatalogued code (finding() looks it up); the other way round: no dead entry
    produced = set()
    for _where, hosts in every_fixture():
        for h in rules.evaluate(hosts, now=0)["hosts"].values():
            produced |= set(_codes(h["findings"]))
    assert set(catalog.CODES) - produced == set()


def test_finding_refuses_an_uncatalogued_code():
    with pytest.raises(KeyError):
        finding(code="NOT_A_CODE", severity="critical", host="h", route=None, summary="x")


def test_entries_are_complete():
    for code, e in catalog.CATALOG.items():
        assert e.code == code and re.fullmatch(r"[A-Z][A-Z_]+", code)
        assert e.layer in catalog.LAYERS
        assert e.title and e.users_see and e.evidence and e.fix
        assert e.role is None or e.role in catalog.ROLES
        assert not (e.automatable and e.opt_in)
        assert (e.role is not None) == (e.automatable or e.opt_in), code


def test_priorities_are_a_total_order():
    assert sorted(e.priority for e in catalog.CATALOG.values()) == list(range(len(catalog.CODES)))
    assert catalog.PRIORITY[0] == "HOST_UNREACHABLE"


def test_a_code_explains_only_known_less_fundamental_codes():
    for code, explained in catalog.CAUSES.items():
        assert explained <= set(catalog.CODES)
        assert code not in explained
        for other in explained:
            # fold() never lets a finding explain a more fundamental one: such an entry would be dead
            assert catalog.PRIORITY_RANK[code] < catalog.PRIORITY_RANK[other], (code, other)


def test_opt_in_classes_are_the_ones_that_change_timeouts_workers_or_backlog():
    assert set(catalog.OPT_IN) == {"WORKER_TIMEOUT", "UPSTREAM_TIMEOUT", "BACKLOG_FULL"}


@pytest.mark.parametrize("code", ["APP_BOOT_IMPORT_ERROR", "APP_EXEC_MISSING", "APP_ENV_FILE_MISSING", "APP_WORKDIR_MISSING",
                                  "NGINX_CONFIG_INVALID", "OOM_KILL", "SELINUX_BLOCKS_UPSTREAM", "CONTAINER_LOOPBACK_BIND"])
def test_classes_that_cannot_be_fixed_safely_name_no_role(code):
    e = catalog.entry(code)
    assert e.role is None and not e.automatable and not e.opt_in


def test_rules_use_the_catalog():
    assert rules.CODES is catalog.CODES and rules.PRIORITY is catalog.PRIORITY and rules.CAUSES is catalog.CAUSES


def test_every_lab_fault_expects_a_catalogued_code():
    faults = catalog_docs.lab_faults()
    if faults is None:
        pytest.skip("tomllib needs Python 3.11")
    assert set(faults) - set(catalog.CODES) == set()


@pytest.mark.parametrize("path", [catalog_docs.README, catalog_docs.CATALOG_MD], ids=["README.md", "docs/catalog.md"])
def test_docs_table_is_generated_from_the_catalog(path):
    if catalog_docs.lab_faults() is None:
        pytest.skip("tomllib needs Python 3.11")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text == catalog_docs.expected(path), (
        f"{os.path.relpath(path, REPO)} disagrees with catalog.py: run "
        "python tests/unit/plugins/plugin_utils/catalog_docs.py --write")
