# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy gate's own checks (controller side): what to wait for and probe, and the verdict per host.

``plan()`` picks, from a host's nginx facts, the route that serves the health path for the site's
``Host`` (nginx's server selection and location matching, simplified: exact name, then wildcard,
then the default server; ``=`` locations, then the longest prefix unless a regex location matches),
the upstream endpoints to wait for, and the probe targets: the health path straight to each
endpoint (as nginx would send it upstream) and through nginx with the site's ``Host``.

``host_checks()`` turns the registered results of ``unit_ready``, ``upstream_probe`` and
``release_facts`` into the gate's checks - ``unit``, ``listener``, ``health_direct``,
``health_nginx`` and (with a releases layout) ``release`` - each ``{name, ok, summary, evidence}``
with ``ok`` None when the check was skipped. The diagnosis part of the gate is the diagnose role's
(``rules.evaluate``); ``reports_gate.py`` renders both.
"""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import urlsplit

from ansible_collections.badgateway.doctor.plugins.module_utils import _endpoints
from ansible_collections.badgateway.doctor.plugins.module_utils.probes import probe_targets_from_nginx
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l

CHECKS = ("unit", "listener", "health_direct", "health_nginx", "release")
TITLES = {"unit": "unit", "listener": "listener", "health_direct": "direct health", "health_nginx": "via-nginx health",
          "release": "release"}


# --------------------------------------------------------------------------- nginx: server and location

def _name_matches(pattern, host):
    pattern = (pattern or "").lower()
    host = (host or "").lower()
    if not pattern or pattern == "_":
        return None
    if pattern.startswith("~"):
        try:
            return "regex" if re.search(pattern[1:], host) else None
        except re.error:
            return None
    if pattern == host:
        return "exact"
    if pattern.startswith("."):
        return "wildcard" if host == pattern[1:] or host.endswith(pattern) else None
    if "*" in pattern:
        return "wildcard" if fnmatch.fnmatchcase(host, pattern) else None
    return None


def server_routes(routes, site):
    """The routes of the server nginx picks for ``Host: site`` (exact > wildcard > regex > default > first)."""
    routes = [r for r in _l(routes) if isinstance(r, dict)]
    if not routes:
        return []
    servers = []
    for r in routes:
        key = (tuple(_l(r.get("server_names"))), tuple(sorted(str(x.get("raw")) for x in _l(r.get("listen")) if isinstance(x, dict))))
        if key not in servers:
            servers.append(key)
    if site:
        for kind in ("exact", "wildcard", "regex"):
            for key in servers:
                if any(_name_matches(n, site) == kind for n in key[0]):
                    return [r for r in routes if tuple(_l(r.get("server_names"))) == key[0]]
    for r in routes:
        if any(isinstance(x, dict) and x.get("default_server") for x in _l(r.get("listen"))):
            names = tuple(_l(r.get("server_names")))
            return [x for x in routes if tuple(_l(x.get("server_names"))) == names]
    first = servers[0][0]
    return [r for r in routes if tuple(_l(r.get("server_names"))) == first]


def _location_parts(location):
    loc = (location or "").split(" > ")[-1].strip()
    parts = loc.split(None, 1)
    if len(parts) == 2 and parts[0] in ("=", "^~", "~", "~*"):
        return parts[0], parts[1]
    return "", loc


def match_route(routes, path):
    """The route whose location nginx uses for ``path`` (exact, then ^~ / longest prefix, then regex)."""
    best, best_len, best_mod = None, -1, ""
    for r in routes:
        mod, loc = _location_parts(r.get("location"))
        if mod == "=" and loc == path:
            return r
        if mod in ("", "^~") and loc.startswith("/") and path.startswith(loc) and len(loc) > best_len:
            best, best_len, best_mod = r, len(loc), mod
    if best_mod != "^~":
        for r in routes:
            mod, loc = _location_parts(r.get("location"))
            if mod in ("~", "~*"):
                try:
                    if re.search(loc, path, re.IGNORECASE if mod == "~*" else 0):
                        return r
                except re.error:
                    continue
    return best


def upstream_path(route, path):
    """The path nginx sends upstream: with ``proxy_pass http://x/uri``, the location prefix is replaced by ``/uri``."""
    target = str(route.get("target") or "")
    mod, loc = _location_parts(route.get("location"))
    if route.get("directive") != "proxy_pass" or mod not in ("", "^~") or "$" in target:
        return path
    rest = target.split("://", 1)[-1]
    if rest.startswith("unix:"):
        rest = rest.split(":", 2)[-1] if rest.count(":") >= 2 else ""
        uri = rest if rest.startswith("/") else ""
    else:
        uri = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    if not uri or not path.startswith(loc):
        return path
    return uri + path[len(loc):]


def _url_for_listen(text, path):
    text = text.strip()
    if text.startswith("unix:"):
        return "http://unix:%s:%s" % (text[5:], path)
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        return "%s://%s%s" % (parts.scheme, parts.netloc, path)
    return "http://%s%s" % (text, path)


def plan(nginx, site="", health_path="/", listen=None):
    """What the gate waits for and probes on one host. Returns {route, endpoints, targets, notes}."""
    nginx = _d(nginx)
    health_path = health_path if str(health_path or "").startswith("/") else "/" + str(health_path or "")
    out = {"route": None, "endpoints": [], "targets": [], "notes": [], "site": site or None, "health_path": health_path}
    route = None
    if nginx.get("present") is False:
        out["notes"].append("nginx is not installed on this host: no via-nginx check")
    else:
        routes = server_routes(nginx.get("routes"), site)
        route = match_route(routes, health_path)
        if route is None:
            out["notes"].append("no nginx location serves %s%s" % (site + " " if site else "", health_path))
    direct_path = health_path
    if route is not None:
        out["route"] = route.get("id")
        direct_path = upstream_path(route, health_path)
        one = {"routes": [route]}
        out["targets"] += probe_targets_from_nginx(one, via=("nginx",), path=health_path, host_header=site or None)
        if route.get("dynamic"):
            out["notes"].append("the route %s proxies to a variable target: give the endpoints to wait for" % route.get("id"))
    if listen:
        out["endpoints"] = [str(x) for x in listen]
        for text in out["endpoints"]:
            out["targets"].insert(0, {"route": out["route"], "endpoint": None, "via": "direct",
                                      "url": _url_for_listen(text, direct_path), "host_header": site or None})
    elif route is not None:
        out["endpoints"] = [_endpoints.text(ep) for ep in _l(route.get("endpoints")) if _d(ep).get("kind") in ("unix", "tcp")]
        direct = probe_targets_from_nginx({"routes": [route]}, via=("direct",), path=direct_path, host_header=site or None)
        out["targets"] = direct + out["targets"]
    out["direct_path"] = direct_path
    return out


# --------------------------------------------------------------------------- checks

def make_check(name, ok, summary, evidence=()):
    return {"name": name, "title": TITLES[name], "ok": ok, "summary": summary, "evidence": [str(e) for e in evidence]}


def _listeners(ready):
    """[(endpoint, ok, detail)] from unit_ready's ``listeners`` (a dict or a list of dicts)."""
    out = []
    raw = ready.get("listeners")
    if isinstance(raw, dict):
        for ep, val in raw.items():
            if isinstance(val, dict):
                out.append((ep, bool(val.get("ok")), val.get("error") or val.get("errno") or ("ok" if val.get("ok") else "?")))
            else:
                out.append((ep, val in (True, "ok"), str(val)))
    for item in _l(raw):
        if isinstance(item, dict):
            ep = item.get("endpoint") or item.get("listen") or "?"
            out.append((str(ep), bool(item.get("ok")), item.get("error") or item.get("errno") or ("ok" if item.get("ok") else "?")))
    return out


def _state_text(state):
    if isinstance(state, str):
        return state
    state = _d(state)
    return "/".join(str(state.get(k)) for k in ("active_state", "sub_state") if state.get(k))


_EXC_RE = re.compile(r"\b[A-Za-z_.]*(Error|Exception|Exit)\b:? ")
NOT_UP = ("failed", "crash_loop", "inactive", "not_found")


def _reason(ready):
    """The line of unit_ready's journal lines that names the cause (the exception, else the last line)."""
    lines = [str(x).strip() for x in _l(ready.get("journal")) if str(x).strip()]
    for line in reversed(lines):
        if _EXC_RE.search(line) and "Worker failed to boot" not in line:
            return line
    return lines[-1] if lines else ""


def unit_checks(unit, ready, after=None):
    """The ``unit`` and ``listener`` checks from a ``badgateway.doctor.unit_ready`` result.

    ``after``: the unit's state from the diagnosis' facts, gathered after the health probes
    (``active_state``, ``sub_state``, ``n_restarts``): a unit that restarts or stops while it is
    probed crash-loops although it was up when the wait ended.
    """
    if not unit:
        return [make_check("unit", None, "no unit given (deploy_gate_unit): not waited for"),
                make_check("listener", None, "no unit given: listeners not waited for")]
    ready = _d(ready)
    if not ready or ready.get("skipped"):
        return [make_check("unit", None, "not checked (%s)" % (ready.get("skip_reason") or "skipped")),
                make_check("listener", None, "not checked")]
    status = _d(ready.get("status"))
    state = str(ready.get("state") or "")
    state_text = _state_text(status) or state
    elapsed = ready.get("elapsed")
    took = " after %.1f s" % elapsed if isinstance(elapsed, (int, float)) else ""
    lst = _listeners(ready)
    msg = str(ready.get("msg") or "").split("\nLast error lines", 1)[0].strip()
    reason = _reason(ready)
    unit_ok = status.get("active_state") == "active" and state not in NOT_UP
    journal = ["journal: %s" % x for x in _l(ready.get("journal")) if x]
    after = _d(after)
    before_restarts = status.get("n_restarts") if isinstance(status.get("n_restarts"), int) else 0
    restarts = (after.get("n_restarts") if isinstance(after.get("n_restarts"), int) else 0) - before_restarts
    if unit_ok and after and (after.get("active_state") != "active" or restarts > 0):
        unit_check = make_check("unit", False, "%s was %s%s, then %s with %d restart(s) while it was probed: it crash-loops" % (
            unit, state_text, took, _state_text(after), restarts), ["after the probes: %s, NRestarts=%s" % (
                _state_text(after), after.get("n_restarts"))])
    elif unit_ok:
        unit_check = make_check("unit", True, "%s is %s%s" % (unit, state_text, took), [msg] if msg else [])
    else:
        summary = msg or "%s is %s%s" % (unit, state_text or "not ready", took)
        if reason and reason not in summary:
            summary = summary.rstrip(". ") + " - " + reason
        unit_check = make_check("unit", False, summary, journal)
    unit_check.update(elapsed=elapsed if isinstance(elapsed, (int, float)) else None, state=state or None)
    if not lst:
        listener = make_check("listener", None if unit_ok else False,
                              "no listener to wait for" if unit_ok else "not checked: %s is %s" % (unit, state_text or state))
    else:
        bad = [(e, x) for e, ok, x in lst if not ok]
        evidence = ["%s: %s" % (e, x) for e, _ok, x in lst]
        if bad:
            listener = make_check("listener", False, "%s does not accept connections (%s)%s; %s is %s" % (
                ", ".join(e for e, _x in bad), ", ".join(str(x) for _e, x in bad), took, unit, state_text or state), evidence)
        elif not unit_ok:
            listener = make_check("listener", False, "%s accepted a connection, but %s does not stay up (%s)" % (
                ", ".join(e for e, _o, _x in lst), unit, state or state_text), evidence)
        else:
            names = ", ".join(e for e, _o, _x in lst)
            listener = make_check("listener", True, "%s accept%s connections" % (names, "s" if len(lst) == 1 else ""), evidence)
    return [unit_check, listener]


def _probe_text(r, user):
    who = " as %s" % user if user and r.get("via") == "direct" else ""
    host = " (Host: %s)" % r.get("host_header") if r.get("host_header") and r.get("via") == "nginx" else ""
    if r.get("status") is not None:
        lat = r.get("latency")
        took = " in %.3fs" % lat if isinstance(lat, (int, float)) else ""
        return "GET %s%s%s: HTTP %s%s" % (r.get("url"), host, who, r.get("status"), took)
    return "GET %s%s%s: %s" % (r.get("url"), host, who, r.get("error") or "no answer")


def health_checks(probe, expect_status, user=None, plan_notes=()):
    """``health_direct`` and ``health_nginx`` from an ``upstream_probe`` result."""
    probe = _d(probe)
    results = [r for r in _l(_d(probe.get("probes")).get("results")) if isinstance(r, dict)]
    out = []
    for via, name in (("direct", "health_direct"), ("nginx", "health_nginx")):
        mine = [r for r in results if r.get("via") == via]
        if probe.get("skipped") or not probe:
            out.append(make_check(name, None, "not probed (%s)" % (probe.get("skip_reason") or "the unit is not ready")))
            continue
        if not mine and probe.get("failed") and not results:
            out.append(make_check(name, False, "the probe failed: %s" % (probe.get("msg") or "no result")))
            continue
        if not mine:
            note = "; ".join(plan_notes) or "nothing to probe"
            out.append(make_check(name, None if via == "nginx" and "not installed" in note else False, note))
            continue
        bad = [r for r in mine if r.get("status") != expect_status]
        evidence = [_probe_text(r, user) for r in mine]
        if bad:
            r = bad[0]
            got = "HTTP %s" % r.get("status") if r.get("status") is not None else (r.get("error") or "no answer")
            out.append(make_check(name, False, "%s answered %s, expected %s" % (r.get("url"), got, expect_status), evidence))
        else:
            out.append(make_check(name, True, "HTTP %s from %d probe(s)" % (expect_status, len(mine)), evidence))
    return out


def release_check(layout):
    """``release``: the unit's main process runs the release ``current`` points to."""
    layout = _d(layout)
    rel = _d(layout.get("release"))
    if not layout or layout.get("skipped") or not rel:
        return make_check("release", None, "no releases layout given (deploy_gate_release_path)")
    cur = _d(rel.get("current"))
    running = _d(rel.get("running"))
    unit = _d(rel.get("unit"))
    if not cur:
        return make_check("release", False, "; ".join(_l(rel.get("problems"))[:1]) or "no current release")
    if not running.get("cwd"):
        return make_check("release", None, "current -> %s; the unit's main process is not running" % cur.get("target"))
    evidence = ["%s -> %s" % (rel.get("current_link"), cur.get("target")),
                "/proc/%s/cwd -> %s" % (unit.get("main_pid"), running.get("cwd"))]
    if running.get("release") == cur.get("id"):
        return make_check("release", True, "%s runs release %s (current)" % (unit.get("name") or "the unit", cur.get("id")), evidence)
    summary = ("%s runs %s but current points to release %s: restart the unit (gunicorn keeps its old working directory on HUP)"
               % (unit.get("name") or "the unit", running.get("cwd"), cur.get("id")))
    return make_check("release", False, summary, evidence)


def host_checks(unit, ready, probe, expect_status, layout=None, user=None, plan_notes=(), after=None):
    return unit_checks(unit, ready, after) + health_checks(probe, expect_status, user, plan_notes) + [release_check(layout)]


def verdict(checks, diagnosis_host, fail_rank):
    """(failed, reasons) for one host: a failed check, or a finding at or above ``fail_rank``."""
    reasons = []
    ranks = {"critical": 0, "warning": 1, "info": 2}
    if fail_rank is not None:
        for f in _l(_d(diagnosis_host).get("findings")):
            if ranks.get(f.get("severity"), 9) <= fail_rank:
                reasons.append("%s %s: %s" % (f.get("severity"), f.get("code"), f.get("summary")))
    # the diagnosis names the cause; the failed checks say what the gate saw
    reasons += ["%s: %s" % (c["title"], c["summary"]) for c in checks if c.get("ok") is False]
    return bool(reasons), reasons
