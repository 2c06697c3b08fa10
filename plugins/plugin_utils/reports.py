# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writers for the result of ``rules.evaluate()``: JSON, JUnit XML, self-contained HTML, Markdown.

Standard library only. Every file is written atomically (temporary file in the same directory,
fsync, ``rename``: ``_safe_io.write_atomic``): a reader never sees a half-written report. Every text a report shows
passes through the collection's one masker first (``masked``), whatever result it is given.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog
from ansible_collections.badgateway.doctor.plugins.plugin_utils._report_timeline import timelines_html
from ansible_collections.badgateway.doctor.plugins.plugin_utils._request_path import unknown_path
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l, masked
from ansible_collections.badgateway.doctor.plugins.plugin_utils._report_text import html_text as _e, md_cell as _md

FORMATS = {"json": "findings.json", "junit": "junit.xml", "html": "report.html", "md": "report.md"}
HOPS = catalog.HOPS
MAX_CONSEQUENCES = 20   # per root finding in the HTML / Markdown / JUnit text (findings.json has all)
# root findings per host in the HTML page and in the Markdown (a pull-request comment: GitHub takes 65,536 characters)
# - findings.json has all: a proxy whose 10,000 sites all fail made a 16 MB page and an 11 MB comment
MAX_ROOTS_HTML = 50
MAX_ROOTS_MD = 20
STATUS_COLOURS = {"ok": "#1a7f37", "warning": "#9a6700", "critical": "#cf222e", "unreachable": "#6e7781"}


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------

def write_atomic(path, text):
    """Write ``text`` to ``path`` (its directory made when missing) through the one atomic writer
    (``_safe_io.write_atomic``: a temporary file in the same directory renamed over it)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _safe_io.write_atomic(os.path.abspath(path), text, 0o644)
    return path


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def render_json(result):
    return _json(masked(result))


def _json(result):
    return json.dumps(result, indent=2, sort_keys=False, default=str) + "\n"


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------

def _flatten(findings):
    for f in findings:
        yield f, None
        for c in _l(f.get("consequences")):
            yield c, f


def _omitted(findings, limit):
    """The root findings past ``limit``: (how many, "CODE × N, ..." the most frequent code first)."""
    rest = findings[limit:]
    counts = {}
    for f in rest:
        code = str(_d(f).get("code"))
        counts[code] = counts.get(code, 0) + 1
    return len(rest), ", ".join(f"{code} \u00d7 {n}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _evidence_text(f, root=None):
    lines = [f"[{f.get('severity')}] {f.get('code')} ({f.get('layer')}) route: {f.get('route') or '-'}", f.get("summary") or ""]
    if root is not None:
        lines.append(f"consequence of {root.get('code')}: {root.get('summary')}")
    lines.append("evidence:")
    lines += [f"  - {e}" for e in _l(f.get("evidence"))]
    fix = _d(f.get("fix"))
    lines.append(f"fix: {fix.get('summary') or '-'}")
    lines += [f"  {text}" for text in step_lines(fix)]
    return "\n".join(lines)


def step_lines(fix):
    """``step 1: badgateway.doctor.app_service on web1 {vars}`` for each step (and ``alternative 1: ...``)."""
    fix = _d(fix)
    out = []
    for label, key in (("step", "steps"), ("alternative", "alternative_steps")):
        for i, st in enumerate(_l(fix.get(key)), 1):
            st = _d(st)
            out.append(f"{label} {i}: {st.get('role')} on {st.get('host')} {json.dumps(st.get('vars'), sort_keys=True)}")
    return out


def render_junit(result):
    """One testsuite per host, one testcase per host and check (every finding code); see ``_junit``."""
    return _junit(masked(result))


def _junit(result):
    """One testsuite per host, one testcase per host and check (every finding code).

    critical and warning findings are ``<failure>`` (type = severity, message = summary, text =
    evidence); info findings pass with the text in ``<system-out>``; an unreachable host has an
    ``<error>`` on HOST_UNREACHABLE and its other checks ``<skipped>``. ``result`` is masked already.
    """
    hosts = _d(result.get("hosts"))
    suites = ET.Element("testsuites", name="badgateway.doctor")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host, h in hosts.items():
        h = _d(h)
        by_code = {}
        for f, root in _flatten(_l(h.get("findings"))):
            by_code.setdefault(f.get("code"), []).append((f, root))
        unreachable = h.get("status") == "unreachable"
        suite = ET.SubElement(suites, "testsuite", name=str(host), timestamp=str(result.get("generated_at") or ""),
                              hostname=str(host), time="0")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        codes = list(catalog.CODES)
        for code in by_code:
            if code not in codes:
                codes.append(code)
        for code in codes:
            case = ET.SubElement(suite, "testcase", name=str(code), classname=f"badgateway.doctor.{host}", time="0")
            counts["tests"] += 1
            items = by_code.get(code, [])
            bad = [(f, r) for f, r in items if f.get("severity") in ("critical", "warning")]
            if code == "HOST_UNREACHABLE" and unreachable:
                f = items[0][0] if items else {"summary": "unreachable"}
                err = ET.SubElement(case, "error", message=str(f.get("summary")), type="unreachable")
                err.text = _evidence_text(f) if items else ""
                counts["errors"] += 1
            elif unreachable:
                ET.SubElement(case, "skipped", message=f"{host} is unreachable")
                counts["skipped"] += 1
            elif bad:
                f, r = bad[0]
                fail = ET.SubElement(case, "failure", message=str(f.get("summary")), type=str(f.get("severity")))
                fail.text = "\n\n".join(_evidence_text(x, y) for x, y in bad[:MAX_CONSEQUENCES])
                if len(bad) > MAX_CONSEQUENCES:
                    fail.text += f"\n\n... and {len(bad) - MAX_CONSEQUENCES} more (all in findings.json)"
                counts["failures"] += 1
            elif items:
                out = ET.SubElement(case, "system-out")
                out.text = "\n\n".join(_evidence_text(x, y) for x, y in items)
        for k, v in counts.items():
            suite.set(k, str(v))
            total[k] += v
    for k, v in total.items():
        suites.set(k, str(v))
    suites.set("time", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

_CSS = """
:root{--ok:#1a7f37;--warn:#9a6700;--crit:#cf222e;--grey:#6e7781;--bg:#f6f8fa;--line:#d0d7de}
*{box-sizing:border-box}body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#fff;color:#1f2328}
header{background:#24292f;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#d0d7de}
main{padding:16px 24px;max-width:1200px}
table.overview{border-collapse:collapse;width:100%;margin:8px 0 24px}
table.overview th,table.overview td{border:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
table.overview th{background:var(--bg)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px;text-transform:uppercase}
.s-ok{background:var(--ok)}.s-warning{background:var(--warn)}.s-critical{background:var(--crit)}.s-unreachable{background:var(--grey)}
.s-info{background:#0969da}
section.host{border:1px solid var(--line);border-radius:6px;margin:0 0 24px;padding:12px 16px}
section.host h2{margin:0 0 8px;font-size:18px}
svg.path{width:100%;max-width:1000px;height:auto;display:block;margin:4px 0 12px}
table.timelines{border-collapse:collapse;margin:4px 0 12px}table.timelines td,table.timelines th{padding:2px 8px;text-align:left}
.finding{border-left:4px solid var(--grey);background:var(--bg);padding:8px 12px;margin:8px 0}
.finding.critical{border-color:var(--crit)}.finding.warning{border-color:var(--warn)}.finding.info{border-color:#0969da}
.finding h3{margin:0 0 4px;font-size:15px}.finding .meta{color:#57606a;font-size:12px}
.finding ul{margin:4px 0 4px 18px;padding:0}.finding li{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;
word-break:break-all}
.fix{margin:6px 0 0}.fix b{color:var(--ok)}
.consequences{margin:8px 0 0 16px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
footer{color:#57606a;font-size:12px;padding:8px 24px 24px}
"""


def _hop_states(h):
    """{hop: (label, detail, state)} and the broken hop, from the host's ``path`` (added by ``rules.evaluate``)."""
    path = _d(h.get("path"))
    if not path:
        path = unknown_path(_l(h.get("findings")), h.get("status") == "unreachable")
    by_hop = {p.get("hop"): p for p in _l(path.get("hops")) if isinstance(p, dict)}
    out = {}
    for hop in HOPS:
        p = _d(by_hop.get(hop))
        out[hop] = (p.get("label") or hop, p.get("detail") or "", p.get("state") or "unknown")
    return out, path.get("broken")


def _trunc(text, n):
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _svg_path(host, h):
    states, broken = _hop_states(h)
    w, nh, gap, top = 180, 64, 30, 12
    width = len(HOPS) * w + (len(HOPS) - 1) * gap + 20
    height = nh + top + 46
    colours = {"ok": ("#dafbe1", "#1a7f37"), "broken": ("#ffebe9", "#cf222e"), "unknown": ("#f6f8fa", "#6e7781"),
               "warn": ("#fff8c5", "#9a6700")}
    parts = [f'<svg class="path" role="img" aria-label="request path of {_e(host)}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">', f"<title>request path of {_e(host)}</title>"]
    for i, hop in enumerate(HOPS):
        x = 10 + i * (w + gap)
        label, detail, state = states[hop]
        fill, stroke = colours.get(state, colours["unknown"])
        sw = 3 if state == "broken" else 1.5
        parts.append(f'<g class="hop hop-{hop}" data-hop="{hop}" data-hop-state="{_e(state)}">')
        parts.append(f'<rect x="{x}" y="{top}" width="{w}" height="{nh}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>')
        parts.append(f'<text x="{x + w / 2}" y="{top + 20}" text-anchor="middle" font-size="13" font-weight="600" fill="#1f2328">'
                     f'{_e(hop.upper())}</text>')
        parts.append(f'<text x="{x + w / 2}" y="{top + 38}" text-anchor="middle" font-size="11" fill="#1f2328">{_e(_trunc(label, 28))}'
                     f'<title>{_e(label)}</title></text>')
        parts.append(f'<text x="{x + w / 2}" y="{top + 54}" text-anchor="middle" font-size="10" fill="#57606a">{_e(_trunc(detail, 32))}'
                     f'<title>{_e(detail)}</title></text>')
        if state == "broken":
            cx = x + w - 10
            parts.append(f'<g class="broken-hop-marker" id="broken-hop-{_e(host)}"><circle cx="{cx}" cy="{top}" r="11" fill="#cf222e"/>'
                         f'<path d="M{cx - 5} {top - 5} L{cx + 5} {top + 5} M{cx + 5} {top - 5} L{cx - 5} {top + 5}" stroke="#fff" '
                         f'stroke-width="2.5"/></g>')
            parts.append(f'<text class="broken-label" x="{x + w / 2}" y="{top + nh + 20}" text-anchor="middle" font-size="12" '
                         f'font-weight="700" fill="#cf222e">BROKEN HOP</text>')
        if i < len(HOPS) - 1:
            ax = x + w
            nxt_state = states[HOPS[i + 1]][2]
            colour = "#cf222e" if nxt_state == "broken" else "#8c959f"
            parts.append(f'<line x1="{ax + 2}" y1="{top + nh / 2}" x2="{ax + gap - 6}" y2="{top + nh / 2}" stroke="{colour}" stroke-width="2"/>')
            parts.append(f'<path d="M{ax + gap - 8} {top + nh / 2 - 5} L{ax + gap - 1} {top + nh / 2} L{ax + gap - 8} {top + nh / 2 + 5} Z" '
                         f'fill="{colour}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _finding_html(f, level=0):
    fix = _d(f.get("fix"))
    steps = "".join(f"<li><code>{_e(text)}</code></li>" for text in step_lines(fix))
    steps = f'<ol class="steps">{steps}</ol>' if steps else ""
    ev = "".join(f"<li>{_e(e)}</li>" for e in _l(f.get("evidence")))
    all_cons = _l(f.get("consequences"))
    cons = "".join(_finding_html(c, level + 1) for c in all_cons[:MAX_CONSEQUENCES])
    if len(all_cons) > MAX_CONSEQUENCES:
        cons += f"<p>&hellip; and {len(all_cons) - MAX_CONSEQUENCES} more consequences (all in findings.json)</p>"
    cons_html = f'<div class="consequences"><b>Consequences ({len(all_cons)})</b>{cons}</div>' if cons else ""
    route = f" &middot; route <code>{_e(f.get('route'))}</code>" if f.get("route") else ""
    return (f'<div class="finding {_e(f.get("severity"))}" data-code="{_e(f.get("code"))}">'
            f'<h3><span class="badge s-{_e(f.get("severity"))}">{_e(f.get("severity"))}</span> <code>{_e(f.get("code"))}</code></h3>'
            f'<div class="meta">layer {_e(f.get("layer"))}{route}</div>'
            f'<p>{_e(f.get("summary"))}</p>'
            f'<ul>{ev}</ul>'
            f'<p class="fix"><b>Fix:</b> {_e(fix.get("summary"))}</p>{steps}{cons_html}</div>')


def render_html(result, title="badgateway.doctor report"):
    return _html(masked(result), masked(title))


def _html(result, title="badgateway.doctor report"):
    hosts = _d(result.get("hosts"))
    rows = []
    sections = []
    for host, h in hosts.items():
        h = _d(h)
        status = h.get("status", "ok")
        findings = _l(h.get("findings"))
        top = findings[0] if findings and status != "ok" else None
        cause = f"<code>{_e(top.get('code'))}</code> {_e(top.get('summary'))}" if top else "no problem found"
        fix = _e(_d(top.get("fix")).get("summary")) if top else ""
        anchor = f"host-{_e(host)}"
        rows.append(f'<tr><td><a href="#{anchor}">{_e(host)}</a></td><td><span class="badge s-{_e(status)}">{_e(status)}</span></td>'
                    f"<td>{cause}</td><td>{fix}</td></tr>")
        body = "".join(_finding_html(f) for f in findings[:MAX_ROOTS_HTML]) or "<p>No findings: every checked hop answers.</p>"
        if len(findings) > MAX_ROOTS_HTML:
            more, codes = _omitted(findings, MAX_ROOTS_HTML)
            body += f'<p class="omitted">&hellip; and {more} more root findings on this host ({_e(codes)}; all in findings.json)</p>'
        route = _d(h.get("path")).get("route")
        route_html = f' <span class="meta">route <code>{_e(route)}</code></span>' if route else ""
        sections.append(f'<section class="host" id="{anchor}" data-host="{_e(host)}" data-status="{_e(status)}">'
                        f'<h2>{_e(host)} <span class="badge s-{_e(status)}">{_e(status)}</span>{route_html}</h2>'
                        f"{_svg_path(host, h)}{timelines_html(h)}{body}</section>")
    counts = {}
    for h in hosts.values():
        counts[_d(h).get("status", "ok")] = counts.get(_d(h).get("status", "ok"), 0) + 1
    count_text = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no hosts"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1><p>generated {_e(result.get('generated_at'))} &middot; {_e(count_text)}</p></header><main>"
            "<table class=\"overview\"><thead><tr><th>host</th><th>status</th><th>root cause</th><th>fix</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>" + "".join(sections)
            + "</main><footer>badgateway.doctor &middot; path: client &rarr; nginx &rarr; endpoint &rarr; listener &rarr; app; "
              "the red hop is where the root finding's layer breaks the request.</footer></body></html>\n")


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

def render_md(result):
    return _md_report(masked(result))


def _md_report(result):
    hosts = _d(result.get("hosts"))
    icons = {"ok": "\u2705", "warning": "\u26a0\ufe0f", "critical": "\u274c", "unreachable": "\u2753"}
    lines = ["## badgateway.doctor", "", f"Generated {result.get('generated_at')}.", "",
             "| host | status | root cause | route | fix |", "| --- | --- | --- | --- | --- |"]
    for host, h in hosts.items():
        h = _d(h)
        status = h.get("status", "ok")
        findings = _l(h.get("findings"))
        top = findings[0] if findings and status != "ok" else None
        if top:
            lines.append(f"| {_md(host)} | {icons.get(status, '')} {status} | `{top.get('code')}` {_md(top.get('summary'))} | "
                         f"{_md(top.get('route') or '-')} | {_md(_d(top.get('fix')).get('summary'))} |")
        else:
            lines.append(f"| {_md(host)} | {icons.get(status, '')} {status} | - | - | - |")
    for host, h in hosts.items():
        findings = _l(_d(h).get("findings"))
        if not findings:
            continue
        lines += ["", f"<details><summary><b>{_md(host)}</b>: {len(findings)} finding(s)</summary>", ""]
        shown = {}
        for f, root in _flatten(findings[:MAX_ROOTS_MD]):
            if root is not None:
                shown[id(root)] = shown.get(id(root), 0) + 1
                if shown[id(root)] > MAX_CONSEQUENCES:
                    if shown[id(root)] == MAX_CONSEQUENCES + 1:
                        lines.append(f"  - \u21b3 ... and {len(_l(root.get('consequences'))) - MAX_CONSEQUENCES} more (all in findings.json)")
                    continue
            prefix = "  - \u21b3 " if root is not None else "- "
            lines.append(f"{prefix}**{f.get('severity')}** `{f.get('code')}` ({f.get('layer')}) {_md(f.get('summary'))}")
            indent = "    " if root is not None else "  "
            for e in _l(f.get("evidence"))[:8]:
                lines.append(f"{indent}- `{_md(e)[:300].replace('`', chr(39))}`")
            if root is None:
                lines.append(f"{indent}- fix: {_md(_d(f.get('fix')).get('summary'))}")
                lines += [f"{indent}  - `{_md(text).replace('`', chr(39))}`" for text in step_lines(f.get("fix"))]
        if len(findings) > MAX_ROOTS_MD:
            more, codes = _omitted(findings, MAX_ROOTS_MD)
            lines.append(f"- ... and {more} more root findings on this host ({_md(codes)}; all in findings.json)")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html, "md": render_md}
_MASKED_RENDERERS = {"json": _json, "junit": _junit, "html": _html, "md": _md_report}


def write_reports(result, report_dir, formats=("json", "junit", "html", "md")):
    """Write the chosen formats into ``report_dir``; return ``{format: path}``."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(RENDERERS)}")
    # masked once for every format, not once per format (a host with 20,000 findings spent seconds on each)
    result = masked(result)
    written = {}
    for fmt in formats:
        path = os.path.join(report_dir, FORMATS[fmt])
        written[fmt] = write_atomic(path, _MASKED_RENDERERS[fmt](result))
    return written
