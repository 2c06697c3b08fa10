# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules at the app hop (layer ``app``): is the app server's unit running, and why does it not start?"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import app_service, sequence
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    WHAT_USERS_SEE,
    app_label,
    as_dict,
    as_list,
    event_text,
    finding,
    num,
    state_text,
)

IMPORT_EXCEPTIONS = ("ModuleNotFoundError", "ImportError", "ImproperlyConfigured", "AppImportError",
                     "SyntaxError", "NameError", "AttributeError", "KeyError")
DEPENDENCY_EXCEPTIONS = ("OperationalError", "ConnectionRefusedError", "InterfaceError", "ConnectionError",
                         "CannotConnectNowError", "ServerSelectionTimeoutError")
WRAPPER_EXCEPTIONS = ("SystemExit", "HaltServer", "KeyboardInterrupt")
DEPENDENCY_WORDS = ("could not connect to server", "connection refused", "can't connect to", "is the server running",
                    "connection to server at")
# a word in a unit's name -> (the service's default ports, the names its listening processes have)
DEPENDENCY_SERVICES = {
    "postgres": ((5432,), ("postgres", "postmaster")),
    "mysql": ((3306,), ("mysqld", "mariadbd")),
    "mariadb": ((3306,), ("mariadbd", "mysqld")),
    "redis": ((6379,), ("redis-server",)),
    "mongo": ((27017,), ("mongod",)),
    "rabbit": ((5672,), ("beam.smp",)),
    "memcache": ((11211,), ("memcached",)),
}
DEPENDENCY_UNIT_WORDS = tuple(DEPENDENCY_SERVICES)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _binds_text(app):
    return ", ".join(ep_text(b) for b in as_list(app.get("binds"))) or "no bind found"


def _unit_line(app, key, label=None):
    us = as_dict(app.get("unit_settings"))
    if key not in us or us.get(key) in (None, [], ""):
        return None
    where = f" ({us.get('fragment_path')})" if us.get("fragment_path") else ""
    return f"{label or key}={us.get(key)}{where}"


def crash_looping(view, app):
    """The unit failed repeatedly: it is cycling now, or systemd gave up (start limit)."""
    st = as_dict(app.get("state"))
    restarts = num(st.get("n_restarts"), 0)
    limit = view.app_events(app, ("start_limit_hit",))
    if st.get("result") == "start-limit-hit" or limit:
        return True
    if view.app_cycling(app):
        return True
    return restarts >= 3


def endless_loop(view, app):
    """Cycling with nothing to stop it (Restart=always, or more restarts than systemd's default start limit of 5).

    Such a unit is reported as APP_CRASH_LOOP with the boot error as its consequence; a unit that
    systemd gave up on is reported by its boot error (the crash loop is then the consequence).
    """
    st = as_dict(app.get("state"))
    restart = as_dict(app.get("unit_settings")).get("restart")
    return view.app_cycling(app) and (restart == "always" or num(st.get("n_restarts"), 0) > 5)


def _app_routes(view, app):
    """Local routes and routes on other inventory hosts that reach this app."""
    local = view.routes_to_app(app)
    remote = [r for (_h, r, ep) in view.remote_refs if any(_bind_ok(b, ep) for b in as_list(app.get("binds")))]
    return local, remote


def _bind_ok(bind, ep):
    # remote references are matched on the port (the address is one of this host's, checked by the caller)
    bind, ep = as_dict(bind), as_dict(ep)
    return bind.get("kind") == "tcp" and bind.get("port") == ep.get("port")


def _route_context(view, app):
    """(route id for the finding, evidence lines about the routes, users-see key, referenced by a route?)."""
    local, remote = _app_routes(view, app)
    evidence = []
    route_id = None
    users = "502"
    for r in local:
        route_id = route_id or r.get("id")
        evidence.append(f"nginx route '{r.get('id')}': {view.route_where(r)}")
        for ep in view.route_endpoints(r):
            for ev in view.events_of(("connect_refused", "no_such_file"), ep):
                evidence.append(event_text(ev))
        evidence.extend(view.probe_evidence(r))
        users = view.route_users_see(r, users)
    for (h, r, ep) in view.remote_refs:
        if r in remote:
            route_id = route_id or f"{h}: {r.get('id')}"
            evidence.append(f"nginx on {h} route '{r.get('id')}' proxies to {ep_text(ep)} on this host")
    # de-duplicate while keeping order
    seen = set()
    evidence = [e for e in evidence if not (e in seen or seen.add(e))]
    return route_id, evidence, users, bool(local or remote)


def is_past(view, app, events):
    """All events happened before the app's current start: history, not the present."""
    st = as_dict(app.get("state"))
    start = st.get("active_enter")
    if not view.app_running(app) or not start or not events:
        return False
    return all((ev.get("last") or 0) < start for ev in events)


def _service_fix(app):
    unit = app.get("unit")
    if unit:
        return f"start it and keep it enabled: systemctl enable --now {unit}; then check journalctl -u {unit}"
    return f"start {app_label(app)} (it has no systemd unit; consider one with Restart=on-failure)"


def _latest_exceptions(events):
    """Drop exception events that ended before the most recent exception class began (an earlier failure)."""
    exc = [e for e in events if e.get("class") in ("python_exception", "import_error") and not str(
        as_dict(e.get("detail")).get("exception") or "").endswith(WRAPPER_EXCEPTIONS)]
    if not exc:
        return events
    latest = max(exc, key=lambda e: e.get("last") or 0)
    start = latest.get("first") or latest.get("last") or 0
    return [e for e in events if e.get("class") not in ("python_exception", "import_error") or (e.get("last") or 0) >= start]


def _exception_of(ev):
    return str(as_dict(ev.get("detail")).get("exception") or "")


def _is_dependency_event(ev):
    exc = _exception_of(ev)
    text = " ".join(str(s) for s in as_list(ev.get("samples"))).lower()
    if any(exc.endswith(x) for x in DEPENDENCY_EXCEPTIONS):
        return True
    return ev.get("class") == "python_exception" and any(w in text for w in DEPENDENCY_WORDS) and not any(
        exc.endswith(x) for x in IMPORT_EXCEPTIONS)


# ---------------------------------------------------------------------------
# is it running?
# ---------------------------------------------------------------------------

def rule_app_state(view):
    """APP_STOPPED / APP_CRASH_LOOP: the unit that serves a route is not running (or keeps restarting)."""
    out = []
    for app in view.apps:
        route_id, route_ev, users, referenced = _route_context(view, app)
        running = view.app_running(app)
        st = as_dict(app.get("state"))
        label = app_label(app)
        evidence = [state_text(app)] + route_ev
        if crash_looping(view, app):
            out.append(_crash_loop(view, app, route_id, evidence, users, referenced))
        elif not running:
            where = f"nothing serves {_binds_text(app)}"
            if referenced:
                summary = (f"{label} is {st.get('active_state') or 'not running'} ({st.get('result') or 'no result'}); {where}: "
                           f"{WHAT_USERS_SEE['502']}")
            else:
                summary = f"{label} is {st.get('active_state') or 'not running'}; no nginx route uses it ({where})"
            out.append(finding(
                code="APP_STOPPED", severity="critical" if referenced else "info", host=view.name, route=route_id,
                summary=summary, evidence=evidence, fix=_service_fix(app),
                # a unit no route uses may be stopped on purpose: start it only when nginx needs it
                steps=sequence(app_service(view.name, app, "start")) if referenced else (),
                subjects=view.app_subjects(app)))
    return out


def _crash_loop(view, app, route_id, evidence, users, referenced):
    st = as_dict(app.get("state"))
    label = app_label(app)
    evs = view.app_events(app, ("start_limit_hit", "unit_failed", "exec_failed", "worker_boot_failed"))
    evidence = evidence + [event_text(e) for e in evs]
    if view.app_running(app):
        sev = "warning" if referenced else "info"
        summary = (f"{label} keeps restarting (NRestarts={st.get('n_restarts')}); it is up now, "
                   f"{WHAT_USERS_SEE['intermittent']} while it restarts")
    else:
        sev = "critical" if referenced else "info"
        summary = (f"{label} is crash-looping (SubState={st.get('sub_state')}, Result={st.get('result')}, "
                   f"NRestarts={st.get('n_restarts')}); nothing serves {_binds_text(app)}: "
                   f"{WHAT_USERS_SEE[users if users in ('502', '504') else '502']}")
    unit = app.get("unit")
    causes = sorted({_exception_of(e) for e in _latest_exceptions(view.app_events(app, ("python_exception",)))
                     if _exception_of(e) and not _exception_of(e).endswith(WRAPPER_EXCEPTIONS)})
    if causes:
        summary += f"; every start dies with {'/'.join(causes)}"
    f = finding(
        code="APP_CRASH_LOOP", severity=sev, host=view.name, route=route_id, summary=summary, evidence=evidence,
        fix=f"read why it exits: journalctl -u {unit or label} -n 50; fix that cause, then systemctl reset-failed {unit or label} "
            "&& systemctl restart it",
        subjects=view.app_subjects(app))
    if endless_loop(view, app):
        # systemd never gives up on it: the loop is the headline, the boot error its consequence
        f["_rank_override"] = "RUNTIME_DIRECTORY_MISSING"
        f["_explains"] = set(catalog.BOOT_CAUSES) | {"APP_STOPPED", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE"}
        f["evidence"].insert(1, f"Restart={as_dict(app.get('unit_settings')).get('restart')}: systemd restarts it "
                                f"without end (NRestarts={st.get('n_restarts')})")
    return f


# ---------------------------------------------------------------------------
# why does it not start?
# ---------------------------------------------------------------------------

def _boot_context(view, app):
    """(down?, severity, route_id, route evidence) for a boot-cause finding."""
    route_id, route_ev, _users, referenced = _route_context(view, app)
    down = (not view.app_running(app)) or crash_looping(view, app)
    sev = ("critical" if referenced else "warning") if down else "warning"
    return down, sev, route_id, route_ev


def _down_text(down, label):
    if down:
        return f"{label} cannot start, so {WHAT_USERS_SEE['502']}"
    return f"{label} is running now but the next restart will fail"


def rule_app_exec_missing(view):
    out = []
    for app in view.apps:
        us = as_dict(app.get("unit_settings"))
        st = as_dict(app.get("state"))
        evs = [e for e in view.app_events(app, ("exec_failed",)) if "203" in str(as_dict(e.get("detail")).get("status", "")) or
               any("203/EXEC" in str(s) for s in as_list(e.get("samples")))]
        if st.get("exec_main_status") not in (None, 0, 203):
            evs = []    # the last main process got further than exec: older 203 lines are history
        if us.get("exec_binary_ok") is not False and st.get("exec_main_status") != 203 and not evs:
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = app_label(app)
        binary = us.get("exec_binary") or (as_list(app.get("cmdline")) or ["?"])[0]
        evidence = [f"ExecStart binary {binary} does not exist or is not executable" if us.get("exec_binary_ok") is False else None,
                    _unit_line(app, "exec_start", "ExecStart"), state_text(app)] + [event_text(e) for e in evs] + route_ev
        out.append(finding(
            code="APP_EXEC_MISSING", severity=sev, host=view.name, route=route_id,
            summary=f"{label}: ExecStart binary {binary} is missing (status 203/EXEC); {_down_text(down, label)}",
            evidence=evidence,
            fix=f"recreate the virtualenv / reinstall the app server so that {binary} exists, or correct ExecStart=; then restart "
                f"{label}",
            subjects=view.app_subjects(app)))
    return out


def rule_app_workdir_missing(view):
    out = []
    for app in view.apps:
        us = as_dict(app.get("unit_settings"))
        st = as_dict(app.get("state"))
        evs = [e for e in view.app_events(app, ("exec_failed",)) if "200" in str(as_dict(e.get("detail")).get("status", ""))]
        if st.get("exec_main_status") not in (None, 0, 200):
            evs = []
        if us.get("working_directory_exists") is not False and st.get("exec_main_status") != 200 and not evs:
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = app_label(app)
        wd = us.get("working_directory") or "?"
        evidence = ([f"WorkingDirectory={wd} does not exist ({us.get('fragment_path')})", state_text(app)]
                    + [event_text(e) for e in evs] + route_ev)
        out.append(finding(
            code="APP_WORKDIR_MISSING", severity=sev, host=view.name, route=route_id,
            summary=f"{label}: WorkingDirectory {wd} does not exist (status 200/CHDIR); {_down_text(down, label)}",
            evidence=evidence,
            fix=f"deploy the app to {wd} or correct WorkingDirectory= in {us.get('fragment_path') or label}; then restart {label}",
            subjects=view.app_subjects(app)))
    return out


def rule_app_env_file_missing(view):
    out = []
    for app in view.apps:
        missing = [as_dict(e) for e in as_list(as_dict(app.get("unit_settings")).get("environment_files"))
                   if as_dict(e).get("exists") is False and not as_dict(e).get("optional")]
        if not missing:
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = app_label(app)
        paths = ", ".join(str(m.get("path")) for m in missing)
        evs = view.app_events(app, ("unit_failed", "exec_failed"))
        evidence = [f"EnvironmentFile={m.get('path')} (required, no '-' prefix) does not exist" for m in missing]
        evidence += [state_text(app)] + [event_text(e) for e in evs] + route_ev
        out.append(finding(
            code="APP_ENV_FILE_MISSING", severity=sev, host=view.name, route=route_id,
            summary=f"{label}: EnvironmentFile {paths} is missing, systemd refuses to start it; {_down_text(down, label)}",
            evidence=evidence,
            fix=f"restore {paths} (or mark it optional with EnvironmentFile=-{missing[0].get('path')}); then restart {label}",
            subjects=view.app_subjects(app)))
    return out


def rule_app_boot_import_error(view):
    out = []
    for app in view.apps:
        evs = _latest_exceptions(view.app_events(app, ("import_error", "lifespan_failed", "worker_boot_failed",
                                                       "python_exception")))
        if any(_is_dependency_event(e) for e in evs):
            evs = [e for e in evs if e.get("class") != "worker_boot_failed"]   # the boot failure is the dependency's
        evs = [e for e in evs if not _is_dependency_event(e) and (e.get("class") != "python_exception" or any(
            _exception_of(e).endswith(x) for x in IMPORT_EXCEPTIONS))]
        if not evs or is_past(view, app, evs):
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = app_label(app)
        excs = sorted({_exception_of(e) for e in evs if _exception_of(e)})
        # the app server's own words when it names no exception ("Failed to find attribute 'x' in 'wsgi'.")
        said = sorted({str(as_dict(e.get("detail")).get("reason"))[:160] for e in evs
                       if e.get("class") in ("import_error", "lifespan_failed") and as_dict(e.get("detail")).get("reason")})
        exc_text = "/".join(excs) if excs else ("; ".join(said[:2]) if said else "worker failed to boot")
        what = f" (app {app.get('app')})" if app.get("app") else ""
        out.append(finding(
            code="APP_BOOT_IMPORT_ERROR", severity=sev, host=view.name, route=route_id,
            summary=f"{label} fails to load the application{what}: {exc_text}; {_down_text(down, label)}",
            evidence=([event_text(e) for e in evs] + [state_text(app), _unit_line(app, "working_directory", "WorkingDirectory")]
                      + route_ev),
            fix=f"fix the import: check the module:app path '{app.get('app') or '?'}', WorkingDirectory/--chdir and the virtualenv's "
                f"packages (run it by hand as the unit's user), then restart {label}",
            subjects=view.app_subjects(app)))
    return out


def dependency_units(app):
    """The database / backing-service units the app's unit orders itself after or requires (sorted)."""
    us = as_dict(app.get("unit_settings"))
    return sorted({str(d) for d in as_list(us.get("requires")) + as_list(us.get("after"))
                   if any(k in str(d) for k in DEPENDENCY_UNIT_WORDS)})


def down_dependency_units(view, app):
    """The database units of :func:`dependency_units` that this host shows down: no listener on the
    service's port and no listening process of it (empty when the listener facts are missing)."""
    if not view.listeners:
        return []
    out = []
    for unit in dependency_units(app):
        word = next(w for w in DEPENDENCY_UNIT_WORDS if w in unit)
        ports, procs = DEPENDENCY_SERVICES[word]
        by_port = [t for t in view.tcp if t.get("port") in ports]
        by_process = [x for x in view.tcp + view.unix
                      if any(str(as_dict(p).get("name") or "").startswith(procs) for p in as_list(x.get("processes")))]
        if not by_port and not by_process:
            out.append(unit)
    return out


def rule_dependency_down(view):
    out = []
    for app in view.apps:
        evs = [e for e in _latest_exceptions(view.app_events(app, ("python_exception", "worker_boot_failed", "import_error")))
               if _is_dependency_event(e)]
        if not evs or is_past(view, app, evs):
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = app_label(app)
        deps = dependency_units(app)
        dep_text = f" (unit order: {', '.join(deps)})" if deps else ""
        if down:
            excs = ", ".join(sorted({_exception_of(e) or "connection refused" for e in evs}))
            summary = (f"{label} cannot reach its database/backing service at boot ({excs}); it does not start, so "
                       f"{WHAT_USERS_SEE['502']}")
        else:
            summary = f"{label} reports its database/backing service refusing connections; requests that need it fail (500/502)"
        down_units = down_dependency_units(view, app)
        # start the database units that are down, then the app (which gave up at boot); nothing when it is not known which
        steps = [app_service(view.name, app, "start", unit=u, listen=None) for u in down_units]
        if steps and down:
            steps.append(app_service(view.name, app, "restart"))
        out.append(finding(
            code="DEPENDENCY_DOWN", severity=sev, host=view.name, route=route_id, summary=summary,
            evidence=[event_text(e) for e in evs] + [state_text(app)] + route_ev
            + [f"{u}: nothing listens on its port on this host" for u in down_units],
            steps=sequence(*steps),
            fix=f"start/repair the database it connects to{dep_text}; add Requires=/After= on the database unit (or retry at boot), "
                f"then restart {label}",
            subjects=view.app_subjects(app)))
    return out
