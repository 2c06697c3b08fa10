# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret reaches a finding, the summary lines or any report: everything passes through the one masker (module_utils/_mask)."""
from __future__ import annotations

import json

import pytest

from facts_fixtures import expanded, load_fixture, one_host, wire

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import MASK
from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules

SECRETS = ("hunter2-pass", "tok3n-in-query", "s3cr3t-key-value", "dsnpw@with-at", "cookie-val-77")


def leaky_facts():
    """app_stopped with secrets where a careless fact source could leave them: log samples, targets, command lines."""
    facts = expanded(load_fixture("app_stopped"))
    ev = facts["logs"]["events"][0]
    ev["samples"] = ['request: "GET /login?password=hunter2-pass&x=1 HTTP/1.1", '
                     'upstream: "http://unix:/run/gunicorn/gunicorn.sock:/?access_token=tok3n-in-query", '
                     'referrer: "https://u:dsnpw@with-at@example.org/", Cookie: sessionid=cookie-val-77 ' + ev["samples"][0]]
    route = facts["nginx"]["routes"][0]
    route["target"] = "http://wsgi_app/?api_key=tok3n-in-query"
    facts["nginx"]["version"] = "1.22.1 token=tok3n-in-query"
    app = facts["apps"]["servers"][0]
    app["cmdline"] = list(app.get("cmdline") or []) + ["--secret-key", "s3cr3t-key-value"]
    app["unit_settings"]["exec_start"] = ["/srv/app/venv/bin/gunicorn", "-e", "SECRET_KEY=s3cr3t-key-value"]
    return wire(facts)


@pytest.fixture(scope="module")
def result():
    hosts = one_host(leaky_facts())
    hosts["ghost"] = {"facts": None, "unreachable": True, "address": ["10.0.0.9"],
                      "msg": "ssh: connect to host 10.0.0.9 failed; password=hunter2-pass"}
    return rules.evaluate(hosts, now=0)


def test_the_leaky_facts_do_reach_the_findings_masked(result):
    text = json.dumps(result)
    assert MASK in text      # the secrets were there to mask: the test can fail


@pytest.mark.parametrize("fmt", sorted(reports.RENDERERS))
def test_no_secret_in_any_report(result, fmt):
    out = reports.RENDERERS[fmt](result)
    for secret in SECRETS:
        assert secret not in out


def test_no_secret_in_findings_or_summary_lines(result):
    text = json.dumps(result) + "\n".join(rules.summary_lines(result))
    for secret in SECRETS:
        assert secret not in text


def test_reports_mask_a_result_they_did_not_make():
    # a hand-made (or older) result is masked by the report writers themselves
    res = {"generated_at": "x", "hosts": {"web1": {"status": "critical", "findings": [{
        "code": "APP_STOPPED", "severity": "critical", "layer": "app", "host": "web1", "route": "_:80 /",
        "summary": "DATABASE_URL=postgres://app:hunter2-pass@db/app", "evidence": ["Authorization: Bearer tok3n-in-query"],
        "fix": {"summary": "x", "role": None, "vars": None}, "consequences": []}]}}}
    for fmt, render in reports.RENDERERS.items():
        out = render(res)
        assert "hunter2-pass" not in out and "tok3n-in-query" not in out, fmt
