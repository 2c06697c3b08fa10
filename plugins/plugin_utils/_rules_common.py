# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers for the diagnosis rules (controller side, pure functions over facts dicts).

A finding is a plain dict (see ``rules.py``); while rules run it also carries ``_subjects``,
a set of ``(kind, id)`` tuples (``("app", "gunicorn.service")``, ``("endpoint", "unix:/run/x.sock")``,
``("route", "_:80 /")``, ``("file", "/etc/nginx/sites-enabled/app")`` ...). Folding uses the
subjects to decide which findings follow from which; they are removed before the result is returned.
"""

from __future__ import annotations

import datetime
import functools
import math

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog

SEVERITY_RANK = catalog.SEVERITY_RANK
LAYER_RANK = catalog.LAYER_RANK

HTTP_APP_KINDS = ("gunicorn", "uvicorn", "hypercorn", "daphne")

WHAT_USERS_SEE = {
    "502": "users get 502 Bad Gateway",
    "504": "users get 504 Gateway Timeout",
    "intermittent": "users get intermittent 502 errors",
    "intermittent504": "users get intermittent 504 errors",
    "latent": "users see no error yet",
    "none": "no user-visible error",
}

MAX_EVIDENCE = 25


def finding(*, code, severity, host, route, summary, evidence=(), fix="", steps=(), alternative_steps=(), subjects=(),
            layer=None):
    """Build one finding dict.

    ``layer`` defaults to the catalog's layer of ``code``. ``fix`` is ``{summary, role, vars, steps,
    alternative_steps}``: ``steps`` / ``alternative_steps`` are the remediation steps (see
    ``_fix_steps``; the other side's fix of a mismatch is the alternative), ``role`` / ``vars``
    mirror the first step (None when there is none).
    """
    entry = catalog.entry(code)
    steps = [dict(s) for s in steps or ()]
    first = steps[0] if steps else {}
    fix = {"summary": fix, "role": first.get("role"), "vars": first.get("vars"), "steps": steps,
           "alternative_steps": [dict(s) for s in alternative_steps or ()]}
    return {
        "code": code,
        "severity": severity,
        "layer": layer or entry.layer,
        "host": host,
        "route": route,
        "summary": summary,
        "evidence": _cap([str(e) for e in (evidence or []) if e]),
        "fix": fix,
        "consequences": [],
        "_subjects": set(subjects),
    }


@functools.lru_cache(maxsize=65536)
def _mask_cached(text):
    return mask_text(text)


def mask(text):
    """``text`` through the collection's one masker (``module_utils/_mask.py``); non-strings unchanged."""
    return _mask_cached(text) if isinstance(text, str) else text


def masked(value):
    """A copy of ``value`` (dicts, lists, strings) with every string masked; dict keys are kept."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def _cap(lines):
    """De-duplicate evidence lines (keeping order) and cap their number."""
    seen = set()
    out = [x for x in lines if not (x in seen or seen.add(x))]
    if len(out) > MAX_EVIDENCE:
        out = out[:MAX_EVIDENCE - 1] + [f"... and {len(out) - MAX_EVIDENCE + 1} more lines"]
    return out


def max_severity(*severities):
    present = [s for s in severities if s in SEVERITY_RANK]
    if not present:
        return None
    return min(present, key=lambda s: SEVERITY_RANK[s])


def iso(ts):
    """Epoch seconds -> ``2024-05-01T10:00:00Z`` (None -> '?')."""
    if ts is None:
        return "?"
    try:
        return datetime.datetime.fromtimestamp(float(ts), tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def num(value, default=None):
    """``value`` as a finite number, else ``default`` (facts may hold anything: a string, inf, nan, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return value if math.isfinite(value) else default


def as_list(value):
    return value if isinstance(value, list) else []


def as_dict(value):
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------
# texts for evidence
# ---------------------------------------------------------------------------

def proc_text(processes):
    out = []
    for p in as_list(processes)[:3]:
        p = as_dict(p)
        unit = f", unit {p.get('unit')}" if p.get("unit") else ""
        out.append(f"{p.get('name')} pid {p.get('pid')} (user {p.get('user')}{unit})")
    return "; ".join(out) or "unknown process"


# ---------------------------------------------------------------------------
# events and probes
# ---------------------------------------------------------------------------

def event_text(ev):
    ev = as_dict(ev)
    count = ev.get("count") or 0
    when = iso(ev.get("first"))
    if ev.get("last") is not None and ev.get("last") != ev.get("first"):
        when = f"{when} .. {iso(ev.get('last'))}"
    sample = ""
    samples = as_list(ev.get("samples"))
    if samples:
        sample = f": {str(samples[0])[:300]}"
    return f"{ev.get('source')}: {count}x {ev.get('class')} ({when}){sample}"


def probe_text(p):
    p = as_dict(p)
    if p.get("ok"):
        res = f"HTTP {p.get('status')}"
    elif p.get("status") is not None:
        res = f"HTTP {p.get('status')}"
    else:
        res = str(p.get("error") or "failed")
    lat = p.get("latency")
    lat_s = f" in {lat:.3f}s" if isinstance(lat, (int, float)) else ""
    return f"probe {p.get('via')} {p.get('url')}: {res}{lat_s}"


def users_see_from_probes(direct, via_nginx, default="502"):
    """502 / 504 / intermittent from the probe results of one route."""
    for p in via_nginx:
        if p.get("status") == 504:
            return "504"
    for p in via_nginx:
        if p.get("status") in (502, 503) or (p.get("ok") is False and p.get("status") is None):
            return "502"
    if via_nginx and all(p.get("ok") for p in via_nginx):
        return "intermittent"
    return default


def app_label(app):
    return app.get("unit") or app.get("name") or app.get("kind") or "app server"


def state_text(app):
    """``systemctl show <unit>: ActiveState=… SubState=… …`` of an app server."""
    st = as_dict(app.get("state"))
    if not st:
        return f"{app_label(app)}: running={app.get('running')} (no systemd state)"
    parts = [f"ActiveState={st.get('active_state')}", f"SubState={st.get('sub_state')}", f"Result={st.get('result')}",
             f"NRestarts={st.get('n_restarts')}"]
    if st.get("exec_main_status") is not None:
        parts.append(f"ExecMainStatus={st.get('exec_main_status')}" + (f" ({st.get('exec_main_code')})" if st.get("exec_main_code") else ""))
    if st.get("active_enter"):
        parts.append(f"since {iso(st.get('active_enter'))}")
    return f"systemctl show {app_label(app)}: " + " ".join(parts)


def components_text(sp):
    """The path walk of a socket path, one line per component (type, mode, owner:group, ACL)."""
    out = []
    for c in as_list(sp.get("components")):
        c = as_dict(c)
        acl = f" acl {','.join(c.get('acl'))}" if c.get("acl") else ""
        out.append(f"{c.get('type')} {c.get('mode')} {c.get('owner')}:{c.get('group')}{acl} {c.get('path')}")
    return out


def route_evidence(view, route, ep, classes):
    """The route's pass directive with file:line, the nginx log events of ``classes`` for ``ep``, the route's probes."""
    ev = [f"nginx route '{route.get('id')}': {view.route_where(route)}"]
    ev += [event_text(e) for e in view.events_of(classes, ep)]
    ev += view.probe_evidence(route)
    return ev


def users_text(view, route):
    """What users of ``route`` see, from its probes (502 by default)."""
    key = view.route_users_see(route, "502")
    return WHAT_USERS_SEE.get(key, WHAT_USERS_SEE["502"])
