# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules and the reports on facts of the wrong type or value: partial results, never a traceback.

Facts come from hosts (and from saved files a user may edit): every number replaced by inf, nan,
a string, None ..., every string by a number, lists and dicts by each other, in every fixture.
"""
from __future__ import annotations

import pytest

from facts_fixtures import every_fixture, hosts_of, load_fixture

from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules

FIXTURES = list(every_fixture())


def _numbers(x, value):
    if isinstance(x, dict):
        return {k: _numbers(v, value) for k, v in x.items()}
    if isinstance(x, list):
        return [_numbers(v, value) for v in x]
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return value
    return x


def _shapes(x, kind, depth=0):
    if isinstance(x, dict):
        return "x" if kind == "dict" and depth > 1 else {k: _shapes(v, kind, depth + 1) for k, v in x.items()}
    if isinstance(x, list):
        return {"a": 1} if kind == "list" and depth > 1 else [_shapes(v, kind, depth + 1) for v in x]
    if isinstance(x, str) and kind == "str":
        return 7
    return x


def _evaluate_all(change):
    for _where, hosts in FIXTURES:
        broken = {n: dict(e, facts=change(e["facts"])) if isinstance(e.get("facts"), dict) else e for n, e in hosts.items()}
        res = rules.evaluate(broken, now=0)
        assert all(h["status"] in ("ok", "warning", "critical", "unreachable") for h in res["hosts"].values())
        for render in reports.RENDERERS.values():
            render(res)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1, 10 ** 30, 1e308, "x", None, True],
                         ids=["inf", "nan", "-1", "10**30", "1e308", "str", "None", "True"])
def test_every_number_replaced(value):
    _evaluate_all(lambda facts: _numbers(facts, value))


@pytest.mark.parametrize("kind", ["str", "list", "dict"])
def test_every_string_list_or_dict_replaced(kind):
    _evaluate_all(lambda facts: _shapes(facts, kind))


def test_a_rule_that_raises_is_a_finding_and_the_other_rules_still_judge(monkeypatch):
    def rule_that_breaks(view):
        raise IndexError("list index out of range")
    monkeypatch.setattr(rules, "RULES", (rule_that_breaks,) + tuple(rules.RULES))
    facts = load_fixture("lab/socket_dir_permission")
    result = rules.evaluate(hosts_of(facts))
    host = result["hosts"][next(iter(facts["hosts"]))]
    codes = [f["code"] for f in host["findings"]]
    assert codes[0] == "SOCKET_DIR_PERMISSION", codes
    broken = [f for f in host["findings"] if "rule_that_breaks" in f["summary"]]
    assert len(broken) == 1 and broken[0]["code"] == "FACTS_INCOMPLETE" and broken[0]["severity"] == "warning"
    assert "IndexError: list index out of range" in broken[0]["summary"]
