# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report's small timeline per route: what users got, from nginx's access logs.

One inline SVG per route with 5xx in the window (the host result's ``access``, from
``_rules_access.host_access``): a bar per time bucket, its height the number of 5xx in it; the
axis says the window's start and end. Self-contained (no script, no external resource).
"""

from __future__ import annotations

import html
import time

WIDTH = 360
HEIGHT = 48


def _e(value):
    return html.escape(str(value), quote=True)


def _clock(ts):
    try:
        return time.strftime("%H:%M", time.localtime(ts)) if isinstance(ts, (int, float)) else "?"
    except (OverflowError, ValueError, OSError):
        return "?"


def route_svg(entry):
    tl = entry.get("timeline") if isinstance(entry.get("timeline"), dict) else {}
    counts = [c if isinstance(c, int) and c > 0 else 0 for c in tl.get("counts") or []] or [0]
    peak = max(counts) or 1
    width = WIDTH / len(counts)
    bars = []
    for i, c in enumerate(counts):
        if not c:
            continue
        h = max(2.0, (HEIGHT - 14) * c / peak)
        start = tl.get("start")
        when = _clock(start + i * tl.get("bucket", 60)) if isinstance(start, (int, float)) else ""
        bars.append(f'<rect x="{i * width:.1f}" y="{HEIGHT - 12 - h:.1f}" width="{max(width - 1, 1):.1f}" height="{h:.1f}" '
                    f'fill="#c62828"><title>{_e(when)}: {c} \u00d7 5xx</title></rect>')
    start = tl.get("start")
    end = start + len(counts) * tl.get("bucket", 60) if isinstance(start, (int, float)) else None
    label = entry.get("route") or "outside the routes"
    return (f'<svg class="timeline" role="img" aria-label="5xx on {_e(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>5xx on {_e(label)}</title>'
            f'<line x1="0" y1="{HEIGHT - 12}" x2="{WIDTH}" y2="{HEIGHT - 12}" stroke="#999"/>' + "".join(bars)
            + f'<text x="0" y="{HEIGHT - 1}" font-size="10" fill="#555">{_e(_clock(start))}</text>'
            f'<text x="{WIDTH}" y="{HEIGHT - 1}" font-size="10" fill="#555" text-anchor="end">{_e(_clock(end))}</text></svg>')


def timelines_html(host_result):
    """The host's "what users got" block (empty when its access logs show no 5xx)."""
    entries = [e for e in host_result.get("access") or [] if isinstance(e, dict)]
    if not entries:
        return ""
    rows = []
    for e in entries:
        counts = e.get("counts") if isinstance(e.get("counts"), dict) else {}
        text = ", ".join(f"{v} \u00d7 {'other 5xx' if k == '5xx_other' else k}" for k, v in counts.items() if v)
        rows.append(f'<tr><td><code>{_e(e.get("route") or "outside the routes")}</code><br><small>{_e(e.get("log"))}</small>'
                    f'</td><td>{_e(text)}</td><td>{route_svg(e)}</td></tr>')
    return ('<h3>What users got (nginx access logs)</h3><table class="timelines"><tr><th>route</th><th>5xx</th>'
            '<th>over the window</th></tr>' + "".join(rows) + "</table>")
