# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation planning: findings in, per-host ordered role steps out (controller side, pure functions).

:func:`plan` takes a diagnosis (``rules.evaluate()``'s result, or a ``findings.json`` read back) and
returns what ``badgateway.doctor.remediate`` applies:

- only **root** findings (a host's top-level ``findings``; their ``consequences`` are not fixed
  separately) of severity warning or critical;
- only the classes chosen with ``codes`` (default: every class the catalog marks ``automatable``;
  ``opt_in`` classes - timeouts, worker counts, backlog - only when listed);
- the finding's ``fix.steps``, or ``fix.alternative_steps`` with ``prefer="app"`` (when it has some);
- each step on the inventory host that needs the change (``step.host``), every host's steps in
  request-path order (app unit -> socket -> nginx, a finding's own steps in the order the rules gave);
- everything else as ``manual`` entries that say what to do by hand and why it was not automated.

Findings read from a file are acted on only while the live diagnosis (``live``) still has them as
roots: a findings file older than the host's state never applies a fix the host no longer needs.

Steps are validated as untrusted input (a findings file is user input): the role must be one of the
collection's remediation roles, every variable must carry the role's prefix, values must be plain
JSON data of bounded size, the host must be in the play. :func:`steps_tasks_yaml` turns a host's
steps into the tasks file the playbook includes, every string tagged ``!unsafe`` so that nothing
from the facts is ever templated.
"""

from __future__ import annotations

import json
import math
import re

from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict as _d, as_list as _l

COLLECTION = "badgateway.doctor"
# The remediation roles (each one concern) and their place in the request path: dependencies and app
# services (units or containers) first, then the app's unit, the socket between app and nginx, nginx's config,
# nginx's reload.
ROLE_RANK = {"app_service": 0, "container_service": 0, "app_unit": 1, "socket_permissions": 2, "nginx_proxy": 3,
             "nginx_reload": 4}
ROLES = tuple(ROLE_RANK)
PREFER = ("nginx", "app")
ACTIONABLE = ("critical", "warning")
# codes keywords in ``codes``: the default selection, and every class a role can fix
DEFAULT_WORDS = ("default", "automatable")
ALL_WORDS = ("all",)
# variables the playbook owns: a step never sets them; the tasks file sets them from the remediate role's
RUN_VARS = (("_run_id", "remediate_run"), ("_backup_dir", "remediate_backup_dir"))
RESERVED_SUFFIXES = tuple(suffix for suffix, _var in RUN_VARS)
MAX_VARS_BYTES = 65536
MAX_REPLAYS = 3
_VAR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
_HOST_NAME = re.compile(r"^[^\s{}%#]{1,255}$")
_REQUEST = re.compile(r'request: "(GET|HEAD) (/[^\s"]{0,1024}) HTTP/\d(?:\.\d)?"')
_HOST_HEADER = re.compile(r'host: "([A-Za-z0-9.\-\[\]:_]{1,255})"')


class PlanError(ValueError):
    """The input cannot be planned (not a diagnosis, an unknown code ...); the message says why."""


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

def _text(value, limit=2000):
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def short_role(role):
    """``badgateway.doctor.app_service`` or ``app_service`` -> ``app_service`` (None when it is not one of ours)."""
    name = str(role or "")
    if name.startswith(COLLECTION + "."):
        name = name[len(COLLECTION) + 1:]
    return name if name in ROLE_RANK else None


def catalog_classes():
    """(every known code, the automatable ones, the opt-in ones) from the catalog."""
    from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog  # pylint: disable=import-outside-toplevel
    return frozenset(catalog.CODES), frozenset(catalog.AUTOMATABLE), frozenset(catalog.OPT_IN)


def select_codes(requested, known, automatable, opt_in):
    """The classes to fix: ``requested`` (None or empty: the automatable ones).

    ``requested`` is a list of codes (any case); ``default`` / ``automatable`` stand for the
    automatable classes, ``all`` for those and the opt-in ones. An unknown code is an error.
    """
    if requested is None or requested == "" or requested == []:
        return frozenset(automatable)
    if isinstance(requested, str):
        requested = [p for p in re.split(r"[,\s]+", requested) if p]
    if not isinstance(requested, (list, tuple)):
        raise PlanError(f"badgateway_remediate_codes must be a list of finding codes, not {type(requested).__name__}")
    out = set()
    unknown = []
    for item in requested:
        word = str(item).strip()
        low = word.lower()
        if low in DEFAULT_WORDS:
            out |= set(automatable)
        elif low in ALL_WORDS:
            out |= set(automatable) | set(opt_in)
        elif word.upper() in known:
            out.add(word.upper())
        else:
            unknown.append(word)
    if unknown:
        raise PlanError(f"unknown finding code(s) in badgateway_remediate_codes: {', '.join(_text(u, 80) for u in unknown)}; "
                        f"use codes of the catalog (docs/catalog.md) or 'default' / 'all'")
    return frozenset(out)


def flatten(findings):
    """Every finding of a host's list, roots and their consequences (depth first)."""
    for f in _l(findings):
        if isinstance(f, dict):
            yield f
            yield from flatten(f.get("consequences"))


def route_of(f):
    """A finding's route id as the plan and the comparison keep it (None for host-level findings)."""
    return None if f.get("route") is None else _text(f.get("route"), 2000)


def finding_key(host, f):
    """What identifies a finding across two diagnoses: (host, code, route)."""
    return (str(host), str(f.get("code")), route_of(f))


def diagnosis_hosts(diagnosis, what="the diagnosis"):
    """``{host: host result}`` of a diagnosis, validated (PlanError names what is wrong)."""
    if not isinstance(diagnosis, dict):
        raise PlanError(f"{what} is not a badgateway.doctor diagnosis (expected a JSON object with 'hosts', got "
                        f"{type(diagnosis).__name__})")
    hosts = diagnosis.get("hosts")
    if not isinstance(hosts, dict):
        raise PlanError(f"{what} has no 'hosts' object: not a badgateway.doctor findings.json")
    return {str(k): _d(v) for k, v in hosts.items()}


def replay_requests(finding):
    """Requests to send through nginx again after the fix: the failing ones nginx logged for this finding.

    From the ``request: "GET /path HTTP/1.1"`` (and ``host: "..."``) parts of nginx error.log lines in
    the finding's evidence and its consequences'. Only GET/HEAD, at most three distinct paths, never
    a path whose secrets were masked.
    """
    out = []
    seen = set()
    for f in flatten([finding]):
        for line in _l(f.get("evidence")):
            line = str(line)
            m = _REQUEST.search(line)
            if not m or "********" in m.group(2):
                continue
            h = _HOST_HEADER.search(line)
            item = {"method": m.group(1), "path": m.group(2), "host_header": h.group(1) if h else None}
            key = (item["method"], item["path"], item["host_header"])
            if key not in seen:
                seen.add(key)
                out.append(item)
            if len(out) >= MAX_REPLAYS:
                return out
    return out


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------

def _plain(value, depth=0):
    """``value`` if it is plain JSON data (str, int, float, bool, None, list, dict with str keys), else raise."""
    if depth > 12:
        raise ValueError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and math.isnan(value):
            raise ValueError("NaN is not a value")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"key {k!r} is not a string")
            out[k] = _plain(v, depth + 1)
        return out
    raise ValueError(f"a {type(value).__name__} is not plain data")


def normalize_step(step, finding_host, play_hosts):
    """``(step, None)`` with ``{role, short, host, vars}``, or ``(None, reason)`` when the step is not valid here."""
    if not isinstance(step, dict):
        return None, "a fix step is not an object"
    role = short_role(step.get("role"))
    if role is None:
        return None, f"'{_text(step.get('role'), 100)}' is not a remediation role of {COLLECTION} ({', '.join(ROLES)})"
    host = step.get("host")
    host = finding_host if host in (None, "") else str(host)
    if not _HOST_NAME.match(host):
        return None, f"the step's host {_text(host, 80)!r} is not an inventory host name"
    if host not in play_hosts:
        return None, (f"the change is needed on {host}, which is not in this play (add it to the inventory / --limit "
                      f"and run again)")
    raw = step.get("vars")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, f"the vars of the {role} step are not an object"
    try:
        values = _plain(raw)
        size = len(json.dumps(values))
    except (ValueError, TypeError, RecursionError) as exc:
        return None, f"the vars of the {role} step are not plain data: {_text(exc, 200)}"
    if size > MAX_VARS_BYTES:
        return None, f"the vars of the {role} step are {size} bytes (more than {MAX_VARS_BYTES})"
    clean = {}
    for name, value in values.items():
        if not _VAR_NAME.match(name) or not name.startswith(role + "_"):
            return None, f"variable {_text(name, 80)!r} is not one of role {role}'s (they start with '{role}_')"
        if name.endswith(RESERVED_SUFFIXES):
            continue
        clean[name] = value
    return {"role": f"{COLLECTION}.{role}", "short": role, "host": host, "vars": clean}, None


def _finding_steps(f, prefer):
    fix = _d(f.get("fix"))
    steps = fix.get("steps")
    alternative = fix.get("alternative_steps")
    if prefer == "app" and _l(alternative):
        return _l(alternative), "app"
    if _l(steps):
        return _l(steps), "nginx" if _l(alternative) else None
    return [], None


def _order(groups):
    """Flatten per-finding step groups in request-path order; a finding keeps its own step order; no duplicates.

    Groups are ordered by the place of their first step in the request path (a dependency's start before
    an app's unit change, the app before its socket, the socket before nginx), then as the diagnosis
    ordered the findings (most fundamental first).
    """
    ranked = sorted(enumerate(groups), key=lambda ig: (ROLE_RANK[ig[1]["steps"][0]["short"]], ig[0]))
    out = []
    index = {}
    for _i, group in ranked:
        for s in group["steps"]:
            key = (s["role"], json.dumps(s["vars"], sort_keys=True))
            if key in index:
                out[index[key]]["findings"].append(group["ref"])
                continue
            index[key] = len(out)
            out.append({"role": s["role"], "host": s["host"], "vars": s["vars"], "findings": [group["ref"]]})
    return out


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------

def _manual(record, reason):
    record.update(status="manual", reason=reason)
    return record


def plan(diagnosis, play_hosts, codes=None, prefer="nginx", live=None, classes=None):
    """Plan the remediation.

    ``diagnosis``: the findings to act on (a diagnosis dict). ``live``: the diagnosis made just now on
    these hosts (default: ``diagnosis`` itself); a finding is acted on only while it is a root there.
    ``play_hosts``: the inventory hosts of the play (steps for other hosts become manual entries).
    ``classes``: ``(known, automatable, opt_in)`` code sets (default: from the catalog).

    Returns ``{"prefer", "codes", "findings": [record], "hosts": {host: {"steps": [...], "findings": [i], "manual": [i]}}}``
    where a record is ``{id, host, code, route, severity, summary, fix_summary, status, reason, steps,
    changes_on, replay}`` and ``status`` is ``planned``, ``manual``, ``skipped`` (not selected) or ``gone``
    (no longer in the live diagnosis).
    """
    if prefer not in PREFER:
        raise PlanError(f"badgateway_remediate_prefer must be one of {', '.join(PREFER)}, not {_text(prefer, 40)!r}")
    known, automatable, opt_in = classes if classes is not None else catalog_classes()
    selected = select_codes(codes, known, automatable, opt_in)
    play_hosts = [str(h) for h in play_hosts]
    hosts = diagnosis_hosts(diagnosis)
    live_hosts = diagnosis_hosts(live, "the live diagnosis") if live is not None else hosts
    live_roots = {finding_key(h, f) for h, v in live_hosts.items() for f in _l(v.get("findings")) if isinstance(f, dict)}
    live_any = {finding_key(h, f): f for h, v in live_hosts.items() for f in flatten(v.get("findings"))}

    records = []
    groups = {h: [] for h in play_hosts}
    for host, result in hosts.items():
        for f in _l(result.get("findings")):
            if not isinstance(f, dict) or f.get("severity") not in ACTIONABLE:
                continue
            code = _text(f.get("code"), 80)
            fhost = str(f.get("host") or host)
            rec = {"id": len(records), "host": fhost, "code": code, "route": route_of(f),
                   "severity": f.get("severity"), "summary": _text(f.get("summary")),
                   "fix_summary": _text(_d(f.get("fix")).get("summary")), "status": "planned", "reason": "",
                   "steps": [], "changes_on": [], "replay": replay_requests(f), "side": None}
            records.append(rec)
            key = finding_key(fhost, f)
            if fhost not in play_hosts:
                _manual(rec, f"{fhost} is not in this play")
                continue
            if key not in live_roots:
                parent = live_any.get(key)
                rec.update(status="gone", reason="no longer found on the host now" if parent is None else
                           "now a consequence of another finding; fix that one first")
                continue
            if code not in known:
                _manual(rec, f"unknown finding code {code}: fix by hand")
                continue
            if code not in selected:
                if code in opt_in:
                    rec.update(status="skipped", reason=f"opt-in class: add {code} to badgateway_remediate_codes to fix it "
                                                        f"automatically (the change can hide a slow app; check why it is slow first)")
                elif code in automatable:
                    rec.update(status="skipped", reason="not in badgateway_remediate_codes")
                else:
                    _manual(rec, "not safe to fix automatically")
                continue
            if code not in automatable and code not in opt_in:
                _manual(rec, "not safe to fix automatically")
                continue
            raw_steps, side = _finding_steps(f, prefer)
            if not raw_steps:
                _manual(rec, "no automatic fix for this case")
                continue
            steps = []
            for raw in raw_steps:
                step, why = normalize_step(raw, fhost, play_hosts)
                if step is None:
                    steps = None
                    _manual(rec, why)
                    break
                steps.append(step)
            if steps is None:
                continue
            rec["side"] = side
            rec["steps"] = [{"role": s["role"], "host": s["host"], "vars": s["vars"]} for s in steps]
            rec["changes_on"] = list(dict.fromkeys(s["host"] for s in steps))
            for target in rec["changes_on"]:
                groups[target].append({"ref": rec["id"], "steps": [s for s in steps if s["host"] == target]})

    out_hosts = {}
    for h in play_hosts:
        out_hosts[h] = {"steps": _order(groups[h]),
                        "findings": [r["id"] for r in records if r["host"] == h],
                        "manual": [r["id"] for r in records if r["host"] == h and r["status"] == "manual"]}
    return {"schema_version": 1, "prefer": prefer, "codes": sorted(selected), "findings": records, "hosts": out_hosts}


def plan_summary(the_plan):
    """One line per host of the play: what will change, what is left to do by hand."""
    records = the_plan.get("findings", [])
    lines = []
    for host, h in the_plan.get("hosts", {}).items():
        steps = h.get("steps", [])
        fixes = [records[i] for i in h.get("findings", []) if records[i]["status"] == "planned"]
        manual = [records[i] for i in h.get("manual", [])]
        parts = []
        if steps:
            parts.append("apply " + ", ".join(f"{s['role'].rsplit('.', 1)[-1]}" for s in steps))
        if fixes:
            parts.append("for " + ", ".join(sorted({r['code'] for r in fixes})))
        if manual:
            parts.append("by hand: " + "; ".join(f"{r['code']} ({r['reason']}): {r['fix_summary'] or '-'}" for r in manual))
        skipped = [records[i] for i in h.get("findings", []) if records[i]["status"] in ("skipped", "gone")]
        if skipped:
            parts.append("not acted on: " + ", ".join(f"{r['code']} ({r['reason']})" for r in skipped))
        lines.append(f"{host}: " + (" - ".join(parts) if parts else "nothing to remediate"))
    return lines


# ---------------------------------------------------------------------------
# the tasks file of a host's steps
# ---------------------------------------------------------------------------

def _yaml(value):
    """Plain data as YAML flow text with every string tagged ``!unsafe`` (never templated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return "!unsafe " + json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(json.dumps(k) + ": " + _yaml(v) for k, v in value.items()) + "}"
    raise ValueError(f"cannot write a {type(value).__name__}")


def steps_tasks_yaml(host, steps, records):
    """The tasks file that applies ``steps`` (one host's, from :func:`plan`) with ``include_role``.

    Each role also gets ``<role>_run_id`` and ``<role>_backup_dir`` from the remediate role's run
    (``remediate_run``, ``remediate_backup_dir``): every change of the run is backed up under one id.
    """
    lines = ["---", f"# badgateway.doctor remediation steps for {json.dumps(host)} (written by remediation_plan; every value",
             "# is data from the diagnosis, tagged !unsafe so that it is never templated)"]
    if not steps:
        lines.append("[]")
    for n, step in enumerate(steps, start=1):
        role = short_role(step["role"])
        if role is None:
            raise ValueError(f"not a remediation role: {step['role']!r}")
        for name in step["vars"]:
            if not _VAR_NAME.match(name) or not name.startswith(role + "_"):
                raise ValueError(f"not a variable of {role}: {name!r}")
        codes = sorted({records[i]["code"] for i in step["findings"] if re.match(r"^[A-Z0-9_]{1,80}$", records[i]["code"])})
        run_vars = ", ".join(f'"{role}{suffix}": "{{{{ {var} }}}}"' for suffix, var in RUN_VARS)
        values = _yaml(step["vars"])[1:-1]
        lines += [
            f"- name: {json.dumps(f'step {n}/{len(steps)}: {role} for ' + (', '.join(codes) or 'the diagnosis'))}",
            "  ansible.builtin.include_role:",
            f"    name: {COLLECTION}.{role}",
            f"  vars: {{{values + ', ' if values else ''}{run_vars}}}",
        ]
    return "\n".join(lines) + "\n"
