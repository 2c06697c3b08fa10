# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation section of the reports (JSON, JUnit, HTML, Markdown), beside ``reports.py``'s diagnosis.

:func:`build_section` assembles, per host, what was found, what the run changed (the diffs, the units
it started or restarted), the probes as nginx's worker user before and after, the new diagnosis, the
verdict and whether the host was restored. :func:`write_reports` writes the diagnosis reports of
``reports.py`` (the diagnosis after the change; before it in check mode) with this section added:
``findings.json`` gets a ``remediation`` key, ``junit.xml`` a test suite per host, ``report.html`` and
``report.md`` a section before the diagnosis. Every text that came from a host passes the masker.
"""

from __future__ import annotations

import difflib
import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l
from ansible_collections.badgateway.doctor.plugins.plugin_utils._report_text import html_text as _e, md_cell as _md

MAX_DIFF_LINES = 200
STATUS_TEXT = {
    "fixed": "fixed", "restored": "not better: restored", "restore_failed": "not better: RESTORE INCOMPLETE",
    "not_fixed": "not fixed (nothing changed)", "planned": "check mode: would change", "nothing": "nothing to do",
    "manual": "needs a person", "locked": "locked by another run", "failed": "run failed",
}
STATUS_COLOUR = {"fixed": "ok", "nothing": "ok", "planned": "info", "manual": "warning", "restored": "critical",
                 "restore_failed": "critical", "not_fixed": "critical", "locked": "warning", "failed": "critical"}


def _m(text, limit=4000):
    text = mask_text("" if text is None else str(text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# ---------------------------------------------------------------------------
# assembling the section
# ---------------------------------------------------------------------------

def probe_results(registered):
    """The probe results of a registered ``upstream_probe`` result (none when it was skipped or failed)."""
    return [p for p in _l(_d(_d(registered).get("probes")).get("results")) if isinstance(p, dict)]


def _probe_row(p):
    return {"route": _m(p.get("route"), 300), "via": p.get("via"), "url": _m(p.get("url"), 500), "ok": bool(p.get("ok")),
            "status": p.get("status"), "error": p.get("error")}


def render_diff(entry):
    """``(path, unified diff text)`` of what the run changed in one file (``{path, change, before, after}``)."""
    entry = _d(entry)
    path = str(entry.get("path") or "?")
    was, now = entry.get("before"), entry.get("after")
    if entry.get("change") == "removed" and was is None:   # the restore would remove it: the run created it
        was = ""
    if not isinstance(was, str) or not isinstance(now, str):
        return path, f"{path}: {entry.get('change') or 'changed'} (no text diff: not a text file, or larger than 64 KiB)"
    lines = list(difflib.unified_diff(was.splitlines(), now.splitlines(), f"{path} (before)", f"{path} (after)", lineterm="", n=2))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return path, "\n".join(_m(line, 2000) for line in lines) or f"{path}: {entry.get('change') or 'metadata changed'}"


def _brief(f):
    return {"code": f.get("code"), "severity": f.get("severity"), "route": f.get("route"), "summary": _m(f.get("summary"), 600)}


def host_section(host, ev, the_plan, before, after, verdict, check_mode):
    """The remediation section of one host. ``ev``: the host's evidence (see the report action)."""
    records = _l(_d(the_plan).get("findings"))
    ph = _d(_d(_d(the_plan).get("hosts")).get(host))
    found = []
    for i in _l(ph.get("findings")):
        if isinstance(i, int) and 0 <= i < len(records):
            r = records[i]
            found.append({"code": r.get("code"), "severity": r.get("severity"), "route": r.get("route"), "summary": _m(r.get("summary"), 600),
                          "action": r.get("status"), "reason": r.get("reason"), "fix": _m(r.get("fix_summary"), 600),
                          "changes_on": r.get("changes_on")})
    fixes_for = [records[i] for i in range(len(records)) if host in _l(records[i].get("changes_on"))]
    steps = [{"role": s.get("role"), "vars": json.loads(_m(json.dumps(s.get("vars"), sort_keys=True), 20000)),
              "for": sorted({records[i]["code"] for i in _l(s.get("findings")) if isinstance(i, int) and i < len(records)})}
             for s in _l(ph.get("steps"))]
    changes = _d(ev.get("changes"))
    files = [dict(zip(("path", "diff"), render_diff(d))) for d in _l(changes.get("files"))]
    manifest = _d(changes.get("manifest"))
    actions = [{k: a.get(k) for k in ("kind", "unit", "user", "group") if a.get(k)} for a in _l(manifest.get("actions")) if isinstance(a, dict)]
    changed = bool(_l(manifest.get("files")) or actions or files)
    restore = _d(ev.get("restore"))
    h_after = _d(_d(_d(after).get("hosts")).get(host))
    h_final = h_after if (h_after and not check_mode) else _d(_d(_d(before).get("hosts")).get(host))
    sec = {
        "status": "nothing", "summary": "", "found": found,
        "fixes_for": [{"host": r.get("host"), "code": r.get("code"), "route": r.get("route")} for r in fixes_for],
        "steps": steps, "changed": changed,
        "changes": {"files": files, "actions": actions},
        "probes": {k: [_probe_row(p) for p in _l(ev.get("probes_" + k))] for k in ("before", "after", "restored")},
        "replays": [_probe_row(p) for p in _l(ev.get("replays"))],
        "after_status": h_after.get("status"),
        "after": [_brief(f) for f in _l(h_after.get("findings")) if isinstance(f, dict)],
        "verdict": _d(verdict) or None,
        "restore": None,
        "error": _m(ev.get("error"), 2000) or None,
        "final_status": h_final.get("status"),
        "remaining": [_brief(f) for f in _l(h_final.get("findings")) if isinstance(f, dict) and f.get("severity") in ("critical", "warning")],
    }
    if ev.get("locked"):
        sec["status"] = "locked"
    elif ev.get("failed_early"):
        sec["status"] = "failed"
    elif restore:
        undone = [u for u in _l(restore.get("undone")) if isinstance(u, dict)]
        ok = not restore.get("failed") and not _l(restore.get("errors")) and all(u.get("ok") for u in undone)
        sec["restore"] = {"done": ok, "restored": [_m(p, 500) for p in _l(restore.get("restored"))],
                          "undone": [{"step": u.get("step"), "target": u.get("target"), "ok": u.get("ok"),
                                      "message": _m(u.get("message"), 500)} for u in undone],
                          "errors": [_m(json.dumps(e), 500) for e in _l(restore.get("errors"))],
                          "msg": _m(restore.get("msg"), 1000) or None}
        sec["status"] = "restored" if ok else "restore_failed"
    elif sec["error"]:
        sec["status"] = "not_fixed" if steps else "failed"
    elif check_mode:
        sec["status"] = "planned" if steps else ("manual" if _l(ph.get("manual")) else "nothing")
    elif steps and verdict and not _d(verdict).get("better"):
        sec["status"] = "not_fixed"
    elif steps:
        sec["status"] = "fixed"
    elif _l(ph.get("manual")):
        sec["status"] = "manual"
    if check_mode:
        sec["after"] = []
        sec["after_status"] = None
    sec["summary"] = summary_line(host, sec)
    if sec["status"] in ("fixed", "nothing") and sec["remaining"]:
        sec["summary"] += f"; still {sec['final_status']}: " + ", ".join(f["code"] for f in sec["remaining"])
    return sec


def summary_line(host, sec):
    st = sec["status"]
    codes = ", ".join(sorted({f["code"] for f in sec["found"] if f.get("action") == "planned"} |
                             {f["code"] for f in sec["fixes_for"]})) or "-"
    if st == "fixed":
        what = f"{len(sec['changes']['files'])} file(s), {len(sec['changes']['actions'])} unit action(s)"
        return f"{host}: FIXED {codes} ({what}); new diagnosis: {sec['after_status']}"
    if st in ("restored", "restore_failed"):
        why = "; ".join(_l(_d(sec["verdict"]).get("reasons"))[:3]) or sec.get("error") or "-"
        undone = [" ".join(str(x) for x in (u.get("step"), u.get("target")) if x) for u in sec["restore"]["undone"]]
        rest = ", ".join(sec["restore"]["restored"] + undone) or "nothing left to put back (the failing step had restored its files)"
        head = "RESTORED" if st == "restored" else "RESTORE INCOMPLETE"
        return f"{host}: {head} after trying {codes}: put back {rest} because {why}"
    if st == "not_fixed":
        return f"{host}: NOT FIXED {codes}: " + ("; ".join(_l(_d(sec["verdict"]).get("reasons"))[:3]) or sec.get("error") or "-")
    if st == "planned":
        return f"{host}: WOULD APPLY " + ", ".join(s["role"].rsplit(".", 1)[-1] for s in sec["steps"]) + f" for {codes} (check mode)"
    if st in ("locked", "failed"):
        return f"{host}: {STATUS_TEXT[st].upper()}: {sec.get('error') or '-'}"
    manual = [f for f in sec["found"] if f.get("action") in ("manual", "skipped")]
    if manual:
        return f"{host}: BY HAND " + "; ".join(f"{f['code']}: {f['fix'] or '-'} ({f['reason']})" for f in manual)
    return f"{host}: nothing to remediate"


def build_section(run, the_plan, before, after, verdicts, evidence, check_mode):
    """The whole ``remediation`` section: ``run`` (run_id, prefer, codes, source, times) plus every host's."""
    hosts = {}
    names = list(_d(_d(the_plan).get("hosts"))) + [h for h in _d(evidence) if h not in _d(_d(the_plan).get("hosts"))]
    for host in names:
        hosts[host] = host_section(host, _d(_d(evidence).get(host)), the_plan, before, after,
                                   _d(verdicts).get(host), check_mode)
    sec = dict(run)
    sec.update(check_mode=bool(check_mode), prefer=_d(the_plan).get("prefer"), codes=_d(the_plan).get("codes"), hosts=hosts)
    return sec


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------

def render_json(diagnosis, section):
    out = dict(diagnosis)
    out["remediation"] = section
    return json.dumps(out, indent=2, default=str) + "\n"


def render_junit(diagnosis, section):
    """reports.render_junit's suites plus one ``remediation:<host>`` suite per host."""
    root = ET.fromstring(reports.render_junit(diagnosis).split("\n", 1)[1])
    for host, sec in _d(section.get("hosts")).items():
        suite = ET.SubElement(root, "testsuite", name=f"remediation:{host}", hostname=str(host), time="0",
                              timestamp=str(section.get("finished_at") or ""))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cases = [(f"{f['code']} fixed", f) for f in sec["found"] if f.get("action") == "planned"]
        cases += [(f"{f['code']} fixed (on {host})", f) for f in sec["fixes_for"] if f.get("host") != host]
        cases += [(f"{f['code']} by hand", f) for f in sec["found"] if f.get("action") in ("manual", "skipped")]
        if not cases:
            cases = [("remediation", {})]
        for name, f in cases:
            case = ET.SubElement(suite, "testcase", name=name, classname=f"badgateway.doctor.remediation.{host}", time="0")
            counts["tests"] += 1
            if f.get("action") in ("manual", "skipped"):
                ET.SubElement(case, "skipped", message=_m(f"{f.get('reason')}: {f.get('fix')}", 1000))
                counts["skipped"] += 1
            elif sec["status"] in ("restored", "not_fixed"):
                fail = ET.SubElement(case, "failure", message=sec["summary"], type=sec["status"])
                fail.text = "\n".join(_l(_d(sec["verdict"]).get("reasons")))
                counts["failures"] += 1
            elif sec["status"] in ("restore_failed", "locked", "failed"):
                err = ET.SubElement(case, "error", message=sec["summary"], type=sec["status"])
                err.text = sec.get("error") or ""
                counts["errors"] += 1
            elif sec["status"] == "planned":
                ET.SubElement(case, "skipped", message="check mode: nothing was changed")
                counts["skipped"] += 1
            else:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(_l(_d(sec["verdict"]).get("checked")) + [x["diff"] for x in sec["changes"]["files"]])
        for k, v in counts.items():
            suite.set(k, str(v))
            root.set(k, str(int(root.get(k, "0")) + v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_CSS = (".remediation table{border-collapse:collapse;width:100%;margin:8px 0 16px}.remediation th,.remediation td{border:1px solid "
        "#d0d7de;padding:6px 8px;text-align:left;vertical-align:top}.remediation th{background:#f6f8fa}.remediation pre{background:"
        "#f6f8fa;padding:8px;overflow:auto;font-size:12px}.remediation .ok{color:#1a7f37}.remediation .bad{color:#cf222e}")


def _probes_html(rows):
    if not rows:
        return "<i>none</i>"
    return "<br>".join(f'<span class="{"ok" if p["ok"] else "bad"}">{_e(p["via"])} <code>{_e(p["url"])}</code>: '
                       f'{_e(p["status"] if p["status"] is not None else p["error"])}</span>' for p in rows)


def render_html_section(section):
    rows, details = [], []
    for host, sec in _d(section.get("hosts")).items():
        colour = STATUS_COLOUR.get(sec["status"], "info")
        found = "<br>".join(f"<code>{_e(f['code'])}</code> {_e(f['action'])}" for f in sec["found"]) or "-"
        changed = "<br>".join(f"<code>{_e(x['path'])}</code>" for x in sec["changes"]["files"])
        changed += "".join(f"<br>{_e(a.get('kind'))} {_e(a.get('unit') or '')}{_e(a.get('group') or '')}" for a in sec["changes"]["actions"])
        restored = "-" if sec["restore"] is None else ("yes" if sec["restore"]["done"] else "INCOMPLETE")
        rows.append(f'<tr data-host="{_e(host)}" data-remediation="{_e(sec["status"])}"><td><a href="#rem-{_e(host)}">{_e(host)}</a></td>'
                    f'<td><span class="badge s-{colour}">{_e(STATUS_TEXT.get(sec["status"], sec["status"]))}</span></td>'
                    f"<td>{found}</td><td>{changed or '-'}</td><td>{_e(sec['after_status'] or '-')}</td><td>{restored}</td></tr>")
        parts = [f'<h3 id="rem-{_e(host)}">{_e(host)}: {_e(sec["summary"])}</h3>']
        if sec["steps"]:
            parts.append("<p><b>Steps</b></p><ol>" + "".join(
                f"<li><code>{_e(s['role'])}</code> for {_e(', '.join(s['for']))} <code>{_e(json.dumps(s['vars'], sort_keys=True))}</code></li>"
                for s in sec["steps"]) + "</ol>")
        by_hand = [f for f in sec["found"] if f.get("action") in ("manual", "skipped", "gone")]
        if by_hand:
            parts.append("<p><b>Not changed</b></p><ul>" + "".join(
                f"<li><code>{_e(f['code'])}</code> ({_e(f['reason'])}): {_e(f['fix'])}</li>" for f in by_hand) + "</ul>")
        for x in sec["changes"]["files"]:
            parts.append(f"<p><b>Changed</b> <code>{_e(x['path'])}</code></p><pre>{_e(x['diff'])}</pre>")
        for label, key in (("Probes as nginx's user before", "before"), ("after", "after"), ("after the restore", "restored")):
            if sec["probes"][key]:
                parts.append(f"<p><b>{_e(label)}</b><br>{_probes_html(sec['probes'][key])}</p>")
        if sec["replays"]:
            parts.append(f"<p><b>Failing requests sent again</b><br>{_probes_html(sec['replays'])}</p>")
        v = _d(sec["verdict"])
        if v:
            parts.append("<ul>" + "".join(f'<li class="bad">{_e(r)}</li>' for r in _l(v.get("reasons")))
                         + "".join(f'<li class="ok">{_e(c)}</li>' for c in _l(v.get("checked"))) + "</ul>")
        if sec["restore"]:
            parts.append("<p><b>Restored</b>: " + (", ".join(f"<code>{_e(p)}</code>" for p in sec["restore"]["restored"]) or "no file")
                         + "; " + ", ".join(f"{_e(u['step'])} {_e(u['target'] or '')} ({'ok' if u['ok'] else 'FAILED'})"
                                            for u in sec["restore"]["undone"]) + "</p>")
        details.append(f'<div class="rem-host" data-host="{_e(host)}">{"".join(parts)}</div>')
    mode = " (check mode: nothing was changed)" if section.get("check_mode") else ""
    return (f'<style>{_CSS}</style><section class="remediation" id="remediation"><h2>Remediation{_e(mode)}</h2>'
            f"<p>run <code>{_e(section.get('run_id'))}</code> &middot; prefer {_e(section.get('prefer'))} &middot; classes "
            f"{_e(', '.join(_l(section.get('codes'))))}</p><table><thead><tr><th>host</th><th>result</th><th>found</th><th>changed</th>"
            f"<th>diagnosis after</th><th>restored</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{''.join(details)}</section>")


def render_html(diagnosis, section):
    page = reports.render_html(diagnosis, title="badgateway.doctor remediation report")
    return page.replace("<main>", "<main>" + render_html_section(section), 1)


def render_md(diagnosis, section):
    mode = " (check mode: nothing was changed)" if section.get("check_mode") else ""
    lines = [f"## Remediation{mode}", "", f"Run `{_md(section.get('run_id')).replace('`', chr(39))}`, prefer {_md(section.get('prefer'))}.", "",
             "| host | result | found | changed | diagnosis after | restored |", "| --- | --- | --- | --- | --- | --- |"]
    for host, sec in _d(section.get("hosts")).items():
        found = ", ".join(f"`{f['code']}` {f['action']}" for f in sec["found"]) or "-"
        changed = ", ".join(f"`{x['path']}`" for x in sec["changes"]["files"]) or "-"
        restored = "-" if sec["restore"] is None else ("yes" if sec["restore"]["done"] else "INCOMPLETE")
        lines.append(f"| {_md(host)} | {_md(STATUS_TEXT.get(sec['status']))} | {_md(found)} | {_md(changed)} | "
                     f"{_md(sec['after_status'] or '-')} | {restored} |")
    for host, sec in _d(section.get("hosts")).items():
        lines += ["", f"<details><summary>{_md(sec['summary'])}</summary>", ""]
        for s in sec["steps"]:
            lines.append(f"- step `{s['role']}` for {', '.join(s['for'])}: `{_md(json.dumps(s['vars'], sort_keys=True))}`")
        for f in sec["found"]:
            if f.get("action") in ("manual", "skipped", "gone"):
                lines.append(f"- not changed: `{f['code']}` ({_md(f['reason'])}): {_md(f['fix'])}")
        for x in sec["changes"]["files"]:
            lines += ["", "```diff", x["diff"].replace("```", "'''"), "```"]
        for key in ("before", "after", "restored"):
            for p in sec["probes"][key]:
                lines.append(f"- probe {key}: {p['via']} `{_md(p['url'])}` \u2192 {p['status'] if p['status'] is not None else p['error']}")
        for r in _l(_d(sec["verdict"]).get("reasons")):
            lines.append(f"- \u274c {_md(r)}")
        for c in _l(_d(sec["verdict"]).get("checked")):
            lines.append(f"- \u2705 {_md(c)}")
        if sec["restore"]:
            lines.append(f"- restored: {', '.join(sec['restore']['restored']) or 'no file'}")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n\n" + reports.render_md(diagnosis)


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html, "md": render_md}


def write_reports(diagnosis, section, report_dir, formats=("json", "junit", "html", "md")):
    """Write the chosen formats (file names as ``reports.FORMATS``) into ``report_dir``; return ``{format: path}``."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(RENDERERS)}")
    return {fmt: reports.write_atomic(os.path.join(report_dir, reports.FORMATS[fmt]), RENDERERS[fmt](diagnosis, section))
            for fmt in formats}


# ---------------------------------------------------------------------------
# per-host evidence, from the variables the remediate role registers
# ---------------------------------------------------------------------------

# evidence key -> the host variable the remediate role registers it in
EVIDENCE_VARS = {
    "lock": "remediate_lock", "probes_before": "remediate_probe_before", "probes_after": "remediate_probe_after",
    "probes_restored": "remediate_probe_restored", "replays": "remediate_replays", "changes": "remediate_changes",
    "restore": "remediate_restored", "apply_error": "remediate_apply_error", "run_error": "remediate_error",
}


def host_evidence(values, active=True):
    """One host's evidence from its registered variables (``{evidence key: value}``, plain data).

    ``active``: the host is still in the play (not failed or unreachable before the end).
    """
    v = _d(values)
    lock = _d(v.get("lock"))
    replays = {}
    for item in _l(_d(v.get("replays")).get("results")):
        item = _d(item)
        fid = _d(item.get("item")).get("id")
        replays.setdefault(str(fid), []).extend(probe_results(item))
    ev = {
        "locked": bool(lock.get("failed")) and "is held by" in str(lock.get("msg") or ""),
        "probes_before": probe_results(v.get("probes_before")),
        "probes_after": probe_results(v.get("probes_after")),
        "probes_restored": probe_results(v.get("probes_restored")),
        "replays_by_finding": replays,
        "replays": [p for ps in replays.values() for p in ps],
        "changes": {"manifest": _d(_d(v.get("changes")).get("manifest")),
                    "files": [f for f in _l(_d(v.get("changes")).get("files")) if isinstance(f, dict)]},
        "restore": _d(v.get("restore")) if _d(v.get("restore")) and not _d(v.get("restore")).get("skipped") else {},
        "error": None,
    }
    if lock.get("failed"):     # held by another run, or no safe place for the lock
        ev["error"] = lock.get("msg") or "the host's lock could not be taken"
    elif v.get("apply_error") or v.get("run_error"):
        ev["error"] = str(v.get("apply_error") or v.get("run_error"))
    if not active and not ev["locked"] and not ev["restore"]:
        ev["failed_early"] = True
        ev["error"] = ev["error"] or "the host failed or became unreachable during the run (see the play output)"
    return ev


def host_changed(ev):
    """Did the run change anything on the host (files saved or unit actions recorded in its backup manifest)?"""
    m = _d(_d(ev.get("changes")).get("manifest"))
    return bool(_l(m.get("files")) or _l(m.get("actions")))
