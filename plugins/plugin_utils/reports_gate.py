# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports of the deploy gate: the diagnosis reports (``reports.py``) with the gate's checks added.

A gate result is ``{"generated_at", "passed", "fail_on", "passes": [Pass], "hosts": {host: HostVerdict}}``:
a ``Pass`` (``label`` ``deploy`` or ``after rollback``) holds the diagnosis of that moment
(``rules.evaluate()``) and per host the gate's ``checks`` (``gate.host_checks()``), ``failed`` and
``reasons``; a ``HostVerdict`` says how the host ended (``passed``, ``failed``, ``rolled_back``,
``rollback_refused``, ``rollback_failed``) with the rollback's ``from``/``to``/``msg``.

- ``junit.xml``: per pass and host one ``<testsuite>`` - the gate's checks first (``unit``,
  ``listener``, ``direct health``, ``via-nginx health``, ``release``; a skipped check is
  ``<skipped>``), then ``rollback`` when one was tried, then one test case per finding code exactly
  as the diagnosis writes them;
- ``report.md``: the verdict table, then each pass's diagnosis (``reports.render_md``);
- ``report.html``: the verdict and the checks, then each pass's diagnosis (``reports.render_html``);
- ``findings.json``: the whole gate result.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l
from ansible_collections.badgateway.doctor.plugins.plugin_utils._report_text import html_text as _e, md_cell as _md

ICONS = {True: "\u2705", False: "\u274c", None: "\u2796"}
STATUS_TEXT = {"passed": "\u2705 passed", "failed": "\u274c failed", "rolled_back": "\u21a9\ufe0f rolled back",
               "rollback_refused": "\u274c rollback refused", "rollback_failed": "\u274c rollback failed"}


def _suite_name(host, label):
    return str(host) if label == "deploy" else "%s (%s)" % (host, label)


def _case(suite, name, classname, ok, summary, evidence, counts):
    case = ET.SubElement(suite, "testcase", name=name, classname=classname, time="0")
    counts["tests"] += 1
    text = "\n".join([summary] + ["  - %s" % e for e in evidence])
    if ok is False:
        fail = ET.SubElement(case, "failure", message=summary, type="gate")
        fail.text = text
        counts["failures"] += 1
    elif ok is None:
        ET.SubElement(case, "skipped", message=summary)
        counts["skipped"] += 1
    else:
        ET.SubElement(case, "system-out").text = text
    return case


def render_junit(result):
    root = ET.Element("testsuites", name="badgateway.doctor deploy gate")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for p in _l(result.get("passes")):
        label = p.get("label") or "deploy"
        diag_xml = ET.fromstring(reports.render_junit(_d(p.get("diagnosis"))).split("\n", 1)[1])
        diag_suites = {s.get("name"): s for s in diag_xml.findall("testsuite")}
        for host, hv in _d(p.get("hosts")).items():
            suite = ET.SubElement(root, "testsuite", name=_suite_name(host, label), hostname=str(host), time="0",
                                  timestamp=str(result.get("generated_at") or ""))
            counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
            classname = "badgateway.doctor.gate.%s" % host + ("" if label == "deploy" else ".after_rollback")
            for check in _l(_d(hv).get("checks")):
                _case(suite, check.get("title") or check.get("name"), classname, check.get("ok"), str(check.get("summary")),
                      _l(check.get("evidence")), counts)
            rb = _d(_d(hv).get("rollback"))
            if rb:
                _case(suite, "rollback", classname, bool(rb.get("ok")), str(rb.get("msg")), _l(rb.get("evidence")), counts)
            diag = diag_suites.get(str(host))
            if diag is not None:
                for case in diag.findall("testcase"):
                    if label != "deploy":
                        case.set("classname", case.get("classname", "") + ".after_rollback")
                    suite.append(case)
                    counts["tests"] += 1
                    for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                        if case.find(kind) is not None:
                            counts[key] += 1
            for k, v in counts.items():
                suite.set(k, str(v))
                total[k] += v
    for k, v in total.items():
        root.set(k, str(v))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _code(text):
    """Text for a Markdown code span (shown literally: no HTML escaping, no backticks, one line)."""
    return " ".join(str(text).replace("`", "'").split())[:300]


def render_md(result):
    verdict = "passed" if result.get("passed") else "failed"
    lines = ["## badgateway.doctor deploy gate: %s %s" % (ICONS[bool(result.get("passed"))], verdict), "",
             "Generated %s; fails on `%s`." % (result.get("generated_at"), result.get("fail_on")), ""]
    first = _d((_l(result.get("passes")) or [{}])[0])
    names = [c.get("title") for c in _l(_d(next(iter(_d(first.get("hosts")).values()), {})).get("checks"))]
    lines += ["| host | verdict | " + " | ".join(names) + " | reason |", "| --- | --- | " + " --- |" * len(names) + " --- |"]
    for host, hv in _d(result.get("hosts")).items():
        hv = _d(hv)
        checks = _l(_d(_d(first.get("hosts")).get(host)).get("checks"))
        cells = [ICONS.get(c.get("ok"), "") for c in checks]
        reason = "; ".join(_l(hv.get("reasons"))[:2]) or "-"
        lines.append("| %s | %s | %s | %s |" % (_md(host), STATUS_TEXT.get(hv.get("status"), hv.get("status")),
                                                " | ".join(cells), _md(reason)))
    for host, hv in _d(result.get("hosts")).items():
        rb = _d(_d(hv).get("rollback"))
        if rb:
            lines += ["", "**%s rollback**: %s" % (_md(host), _md(rb.get("msg")))]
    for p in _l(result.get("passes")):
        label = p.get("label") or "deploy"
        lines += ["", "<details%s><summary><b>%s</b>: checks and diagnosis</summary>" % (
            "" if result.get("passed") else " open", "deploy" if label == "deploy" else label), ""]
        for host, hv in _d(p.get("hosts")).items():
            for c in _l(_d(hv).get("checks")):
                lines.append("- %s %s `%s` %s" % (ICONS.get(c.get("ok"), ""), _md(host), c.get("title"), _md(c.get("summary"))))
                for e in _l(c.get("evidence"))[:6]:
                    lines.append("  - `%s`" % _code(e))
        body = reports.render_md(_d(p.get("diagnosis"))).split("\n", 1)[1]
        lines += ["", "#### diagnosis" + body.rstrip("\n"), "", "</details>"]
    return "\n".join(lines) + "\n"


def _main_of(page):
    start = page.find("<main>")
    end = page.rfind("</main>")
    return page[start + len("<main>"):end] if start >= 0 and end > start else ""


def _check_li(host, c):
    state = {True: "ok", False: "failed", None: "skipped"}[c.get("ok")]
    badge = {True: "ok", False: "critical", None: "unreachable"}[c.get("ok")]
    evidence = "".join("<li><code>%s</code></li>" % _e(e) for e in _l(c.get("evidence")))
    return ('<li class="gate-check" data-host="%s" data-check="%s" data-state="%s"><span class="badge s-%s">%s</span> <b>%s</b> '
            '%s: %s<ul>%s</ul></li>' % (_e(host), _e(c.get("name")), state, badge, state, _e(host), _e(c.get("title")),
                                        _e(c.get("summary")), evidence))


def render_html(result):
    ok = bool(result.get("passed"))
    parts = ['<section class="host gate" id="gate" data-gate="%s"><h2>deploy gate <span class="badge s-%s">%s</span></h2>' % (
        "passed" if ok else "failed", "ok" if ok else "critical", "passed" if ok else "failed")]
    parts.append('<table class="overview"><thead><tr><th>host</th><th>verdict</th><th>reason</th></tr></thead><tbody>')
    for host, hv in _d(result.get("hosts")).items():
        hv = _d(hv)
        status = hv.get("status")
        cls = "ok" if status in ("passed",) else ("warning" if status == "rolled_back" else "critical")
        rb = _d(hv.get("rollback"))
        reason = "; ".join(_l(hv.get("reasons"))[:3]) or "-"
        if rb:
            reason += " \u2014 rollback: %s" % rb.get("msg")
        parts.append('<tr data-host="%s"><td>%s</td><td><span class="badge s-%s">%s</span></td><td>%s</td></tr>' % (
            _e(host), _e(host), cls, _e(str(status).replace('_', ' ')), _e(reason)))
    parts.append("</tbody></table>")
    for p in _l(result.get("passes")):
        label = p.get("label") or "deploy"
        parts.append("<h3>%s: checks</h3><ul>" % _e(label))
        for host, hv in _d(p.get("hosts")).items():
            parts += [_check_li(host, c) for c in _l(_d(hv).get("checks"))]
        parts.append("</ul>")
    parts.append("</section>")
    diagnoses = []
    for p in _l(result.get("passes")):
        label = p.get("label") or "deploy"
        page = reports.render_html(_d(p.get("diagnosis")), title="diagnosis (%s)" % label)
        diagnoses.append("<h2>diagnosis: %s</h2>%s" % (_e(label), _main_of(page)))
    statuses = {h: {"status": {"passed": "ok", "rolled_back": "warning"}.get(_d(v).get("status"), "critical")}
                for h, v in _d(result.get("hosts")).items()}
    shell = reports.render_html({"generated_at": result.get("generated_at"), "hosts": statuses},
                                title="badgateway.doctor deploy gate: %s" % ("passed" if ok else "failed"))
    inner = _main_of(shell)
    return shell.replace("<main>" + inner + "</main>", "<main>" + "".join(parts) + "".join(diagnoses) + "</main>", 1)


def render_json(result):
    return json.dumps(result, indent=2, default=str) + "\n"


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html, "md": render_md}


def write_reports(result, report_dir, formats=("json", "junit", "html", "md")):
    """Write the chosen formats (the diagnosis' file names) into ``report_dir``; return ``{format: path}``."""
    written = {}
    for fmt in formats:
        written[fmt] = reports.write_atomic(os.path.join(report_dir, reports.FORMATS[fmt]), RENDERERS[fmt](result))
    return written
