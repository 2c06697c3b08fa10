# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules about the app server and the app behind it (layer ``app``, OOM on ``system``)."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    ROLE_APP_SERVICE,
    ROLE_APP_UNIT,
    as_dict,
    as_list,
    ep_text,
    event_text,
    finding,
    iso,
    WHAT_USERS_SEE,
)

IMPORT_EXCEPTIONS = ("ModuleNotFoundError", "ImportError", "ImproperlyConfigured", "AppImportError",
                     "SyntaxError", "NameError", "AttributeError", "KeyError")
DEPENDENCY_EXCEPTIONS = ("OperationalError", "ConnectionRefusedError", "InterfaceError", "ConnectionError",
                         "CannotConnectNowError", "ServerSelectionTimeoutError")
WRAPPER_EXCEPTIONS = ("SystemExit", "HaltServer", "KeyboardInterrupt")
DEPENDENCY_WORDS = ("could not connect to server", "connection refused", "can't connect to", "is the server running",
                    "connection to server at")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _app_label(app):
    return app.get("unit") or app.get("name") or app.get("kind") or "app server"


def _state_text(app):
    st = as_dict(app.get("state"))
    if not st:
        return f"{_app_label(app)}: running={app.get('running')} (no systemd state)"
    parts = [f"ActiveState={st.get('active_state')}", f"SubState={st.get('sub_state')}", f"Result={st.get('result')}",
             f"NRestarts={st.get('n_restarts')}"]
    if st.get("exec_main_status") is not None:
        parts.append(f"ExecMainStatus={st.get('exec_main_status')}" + (f" ({st.get('exec_main_code')})" if st.get("exec_main_code") else ""))
    if st.get("active_enter"):
        parts.append(f"since {iso(st.get('active_enter'))}")
    return f"systemctl show {_app_label(app)}: " + " ".join(parts)


def _binds_text(app):
    return ", ".join(ep_text(b) for b in as_list(app.get("binds"))) or "no bind found"


def _unit_line(app, key, label=None):
    us = as_dict(app.get("unit_settings"))
    if key not in us or us.get(key) in (None, [], ""):
        return None
    where = f" ({us.get('fragment_path')})" if us.get("fragment_path") else ""
    return f"{label or key}={us.get(key)}{where}"


def _crash_looping(view, app):
    """The unit failed repeatedly: it is cycling now, or systemd gave up (start limit)."""
    st = as_dict(app.get("state"))
    restarts = st.get("n_restarts") or 0
    limit = view.app_events(app, ("start_limit_hit",))
    if st.get("result") == "start-limit-hit" or limit:
        return True
    if _cycling(view, app):
        return True
    return restarts >= 3


def _cycling(view, app):
    """systemd keeps restarting the unit right now (restart pending, or up only moments ago after restarts)."""
    st = as_dict(app.get("state"))
    restarts = st.get("n_restarts") or 0
    if st.get("sub_state") == "auto-restart" or (st.get("active_state") in ("activating", "deactivating") and restarts > 0):
        return True
    collected = view.facts.get("collected_at")
    enter = st.get("active_enter")
    if restarts >= 2 and st.get("active_state") == "active" and isinstance(collected, (int, float)) and isinstance(enter, (int, float)):
        return collected - enter < 30
    return False


def endless_loop(view, app):
    """Cycling with nothing to stop it (Restart=always, or more restarts than systemd's default start limit of 5).

    Such a unit is reported as APP_CRASH_LOOP with the boot error as its consequence; a unit that
    systemd gave up on is reported by its boot error (the crash loop is then the consequence).
    """
    st = as_dict(app.get("state"))
    restart = as_dict(app.get("unit_settings")).get("restart")
    return _cycling(view, app) and (restart == "always" or (st.get("n_restarts") or 0) > 5)


def _app_routes(view, app):
    """Local routes and routes on other inventory hosts that reach this app."""
    local = view.routes_to_app(app)
    remote = [r for (_h, r, ep) in getattr(view, "remote_refs", []) if any(_bind_ok(b, ep) for b in as_list(app.get("binds")))]
    return local, remote


def _bind_ok(bind, ep):
    # remote references are matched on the port (the address is one of this host's, checked by the caller)
    bind, ep = as_dict(bind), as_dict(ep)
    return bind.get("kind") == "tcp" and bind.get("port") == ep.get("port")


def _route_context(view, app):
    """(route id for the finding, evidence lines about the routes, users-see key)."""
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
    for (h, r, ep) in getattr(view, "remote_refs", []):
        if r in remote:
            route_id = route_id or f"{h}: {r.get('id')}"
            evidence.append(f"nginx on {h} route '{r.get('id')}' proxies to {ep_text(ep)} on this host")
    # de-duplicate while keeping order
    seen = set()
    evidence = [e for e in evidence if not (e in seen or seen.add(e))]
    return route_id, evidence, users, bool(local or remote)


def _is_past(view, app, events):
    """All events happened before the app's current start: history, not the present."""
    st = as_dict(app.get("state"))
    start = st.get("active_enter")
    if not view.app_running(app) or not start or not events:
        return False
    return all((ev.get("last") or 0) < start for ev in events)


def _unit_subjects(view, app):
    return view.app_subjects(app)


def _service_fix(app):
    unit = app.get("unit")
    if unit:
        return (f"start it and keep it enabled: systemctl enable --now {unit}; then check journalctl -u {unit}",
                ROLE_APP_SERVICE, {"badgateway_app_service_unit": unit, "badgateway_app_service_state": "started"})
    return (f"start {_app_label(app)} (it has no systemd unit; consider one with Restart=on-failure)", None, None)


def _down_severity(view, app, referenced):
    if not referenced:
        return "info"
    return "critical"


# ---------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------

def rule_app_state(view):
    """APP_STOPPED / APP_CRASH_LOOP: the unit that serves a route is not running (or keeps restarting)."""
    out = []
    for app in view.apps:
        route_id, route_ev, users, referenced = _route_context(view, app)
        running = view.app_running(app)
        st = as_dict(app.get("state"))
        label = _app_label(app)
        evidence = [_state_text(app)] + route_ev
        crash = _crash_looping(view, app)
        if crash:
            evs = view.app_events(app, ("start_limit_hit", "unit_failed", "exec_failed", "worker_boot_failed"))
            evidence += [event_text(e) for e in evs]
            if running:
                sev = "warning" if referenced else "info"
                summary = (f"{label} keeps restarting (NRestarts={st.get('n_restarts')}); it is up now, "
                           f"{WHAT_USERS_SEE['intermittent']} while it restarts")
            else:
                sev = _down_severity(view, app, referenced)
                summary = (f"{label} is crash-looping (SubState={st.get('sub_state')}, Result={st.get('result')}, "
                           f"NRestarts={st.get('n_restarts')}); nothing serves {_binds_text(app)}: "
                           f"{WHAT_USERS_SEE[users if users in ('502', '504') else '502']}")
            unit = app.get("unit")
            causes = sorted({str(as_dict(e.get("detail")).get("exception")) for e in _latest_exceptions(view.app_events(
                app, ("python_exception",))) if as_dict(e.get("detail")).get("exception")
                and not str(as_dict(e.get("detail")).get("exception")).endswith(WRAPPER_EXCEPTIONS)})
            if causes:
                summary += f"; every start dies with {'/'.join(causes)}"
            f = finding(
                "APP_CRASH_LOOP", sev, "app", view.name, route_id, summary, evidence,
                f"read why it exits: journalctl -u {unit or label} -n 50; fix that cause, then systemctl reset-failed {unit or label} "
                "&& systemctl restart it",
                ROLE_APP_SERVICE if unit else None,
                {"badgateway_app_service_unit": unit, "badgateway_app_service_state": "restarted"} if unit else None,
                _unit_subjects(view, app))
            if endless_loop(view, app):
                # systemd never gives up on it: the loop is the headline, the boot error its consequence
                f["_rank_override"] = "RUNTIME_DIRECTORY_MISSING"
                f["_explains"] = {"APP_EXEC_MISSING", "APP_WORKDIR_MISSING", "APP_ENV_FILE_MISSING", "DEPENDENCY_DOWN",
                                  "APP_BOOT_IMPORT_ERROR", "OOM_KILL", "APP_STOPPED", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS",
                                  "PREMATURE_CLOSE"}
                f["evidence"].insert(1, f"Restart={as_dict(app.get('unit_settings')).get('restart')}: systemd restarts it "
                                        f"without end (NRestarts={st.get('n_restarts')})")
            out.append(f)
        elif not running:
            fix_summary, role, fvars = _service_fix(app)
            sev = _down_severity(view, app, referenced)
            where = f"nothing serves {_binds_text(app)}"
            if referenced:
                summary = f"{label} is {st.get('active_state') or 'not running'} ({st.get('result') or 'no result'}); {where}: {WHAT_USERS_SEE['502']}"
            else:
                summary = f"{label} is {st.get('active_state') or 'not running'}; no nginx route uses it ({where})"
            out.append(finding("APP_STOPPED", sev, "app", view.name, route_id, summary, evidence,
                               fix_summary, role, fvars, _unit_subjects(view, app)))
    return out


def _boot_context(view, app):
    """(down?, severity, route_id, route evidence, users) for a boot-cause finding."""
    route_id, route_ev, users, referenced = _route_context(view, app)
    down = (not view.app_running(app)) or _crash_looping(view, app)
    if down:
        sev = "critical" if referenced else "warning"
    else:
        sev = "warning"
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
        label = _app_label(app)
        binary = us.get("exec_binary") or (as_list(app.get("cmdline")) or ["?"])[0]
        evidence = [f"ExecStart binary {binary} does not exist or is not executable" if us.get("exec_binary_ok") is False else None,
                    _unit_line(app, "exec_start", "ExecStart"), _state_text(app)] + [event_text(e) for e in evs] + route_ev
        out.append(finding(
            "APP_EXEC_MISSING", sev, "app", view.name, route_id,
            f"{label}: ExecStart binary {binary} is missing (status 203/EXEC); {_down_text(down, label)}",
            evidence,
            f"recreate the virtualenv / reinstall the app server so that {binary} exists, or correct ExecStart=; then restart {label}",
            ROLE_APP_UNIT if app.get("unit") else None,
            {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_exec_binary": binary} if app.get("unit") else None,
            view.app_subjects(app)))
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
        label = _app_label(app)
        wd = us.get("working_directory") or "?"
        evidence = [f"WorkingDirectory={wd} does not exist ({us.get('fragment_path')})", _state_text(app)] + [event_text(e) for e in evs] + route_ev
        out.append(finding(
            "APP_WORKDIR_MISSING", sev, "app", view.name, route_id,
            f"{label}: WorkingDirectory {wd} does not exist (status 200/CHDIR); {_down_text(down, label)}",
            evidence,
            f"deploy the app to {wd} or correct WorkingDirectory= in {us.get('fragment_path') or label}; then restart {label}",
            ROLE_APP_UNIT if app.get("unit") else None,
            {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_working_directory": wd} if app.get("unit") else None,
            view.app_subjects(app)))
    return out


def rule_app_env_file_missing(view):
    out = []
    for app in view.apps:
        missing = [as_dict(e) for e in as_list(as_dict(app.get("unit_settings")).get("environment_files"))
                   if as_dict(e).get("exists") is False and not as_dict(e).get("optional")]
        if not missing:
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = _app_label(app)
        paths = ", ".join(str(m.get("path")) for m in missing)
        evs = view.app_events(app, ("unit_failed", "exec_failed"))
        evidence = [f"EnvironmentFile={m.get('path')} (required, no '-' prefix) does not exist" for m in missing]
        evidence += [_state_text(app)] + [event_text(e) for e in evs] + route_ev
        out.append(finding(
            "APP_ENV_FILE_MISSING", sev, "app", view.name, route_id,
            f"{label}: EnvironmentFile {paths} is missing, systemd refuses to start it; {_down_text(down, label)}",
            evidence,
            f"restore {paths} (or mark it optional with EnvironmentFile=-{missing[0].get('path')}); then restart {label}",
            ROLE_APP_UNIT if app.get("unit") else None,
            {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_environment_files": [m.get("path") for m in missing]}
            if app.get("unit") else None,
            view.app_subjects(app)))
    return out


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


def rule_app_boot_import_error(view):
    out = []
    for app in view.apps:
        evs = _latest_exceptions(view.app_events(app, ("import_error", "worker_boot_failed", "python_exception")))
        if any(_is_dependency_event(e) for e in evs):
            evs = [e for e in evs if e.get("class") != "worker_boot_failed"]   # the boot failure is the dependency's
        evs = [e for e in evs if not _is_dependency_event(e) and (e.get("class") != "python_exception" or any(
            _exception_of(e).endswith(x) for x in IMPORT_EXCEPTIONS))]
        if not evs or _is_past(view, app, evs):
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = _app_label(app)
        excs = sorted({_exception_of(e) for e in evs if _exception_of(e)})
        exc_text = "/".join(excs) if excs else "worker failed to boot"
        what = f" (app {app.get('app')})" if app.get("app") else ""
        out.append(finding(
            "APP_BOOT_IMPORT_ERROR", sev, "app", view.name, route_id,
            f"{label} fails to load the application{what}: {exc_text}; {_down_text(down, label)}",
            [event_text(e) for e in evs] + [_state_text(app), _unit_line(app, "working_directory", "WorkingDirectory")] + route_ev,
            f"fix the import: check the module:app path '{app.get('app') or '?'}', WorkingDirectory/--chdir and the virtualenv's "
            f"packages (run it by hand as the unit's user), then restart {label}",
            None, None, view.app_subjects(app)))
    return out


def rule_dependency_down(view):
    out = []
    for app in view.apps:
        evs = [e for e in _latest_exceptions(view.app_events(app, ("python_exception", "worker_boot_failed", "import_error")))
               if _is_dependency_event(e)]
        if not evs or _is_past(view, app, evs):
            continue
        down, sev, route_id, route_ev = _boot_context(view, app)
        label = _app_label(app)
        us = as_dict(app.get("unit_settings"))
        deps = [d for d in as_list(us.get("requires")) + as_list(us.get("after")) if any(
            k in str(d) for k in ("postgres", "mysql", "mariadb", "redis", "mongo", "rabbit", "memcache"))]
        dep_text = f" (unit order: {', '.join(sorted(set(deps)))})" if deps else ""
        if down:
            users = WHAT_USERS_SEE["502"]
            excs = ", ".join(sorted({_exception_of(e) or "connection refused" for e in evs}))
            summary = f"{label} cannot reach its database/backing service at boot ({excs}); it does not start, so {users}"
        else:
            summary = f"{label} reports its database/backing service refusing connections; requests that need it fail (500/502)"
        out.append(finding(
            "DEPENDENCY_DOWN", sev, "app", view.name, route_id, summary,
            [event_text(e) for e in evs] + [_state_text(app)] + route_ev,
            f"start/repair the database it connects to{dep_text}; add Requires=/After= on the database unit (or retry at boot), then restart {label}",
            None, None, view.app_subjects(app)))
    return out


def rule_worker_timeout(view):
    out = []
    for app in view.apps:
        evs = view.app_events(app, ("worker_timeout",))
        if not evs or _is_past(view, app, evs):
            continue
        label = _app_label(app)
        local = view.routes_to_app(app)
        route_id = local[0].get("id") if local else None
        sev = "warning"
        users = WHAT_USERS_SEE["intermittent"]
        evidence = [event_text(e) for e in evs]
        evidence.append(f"{label}: --timeout {app.get('timeout')} s ({as_dict(app.get('settings_source')).get('timeout', 'default')}),"
                        f" workers {app.get('workers')}, worker class {app.get('worker_class') or 'sync'}")
        for r in local:
            read = as_dict(r.get("timeouts")).get("read")
            evidence.append(f"nginx route '{r.get('id')}': proxy_read_timeout {read} s ({r.get('file')}:{r.get('line')})")
            evidence.extend(view.probe_evidence(r))
            if view.probe_verdict(r) in ("app", "proxy"):
                sev = "critical"
                users = WHAT_USERS_SEE["502"]
        count = sum(int(e.get("count") or 0) for e in evs)
        out.append(finding(
            "WORKER_TIMEOUT", sev, "app", view.name, route_id,
            f"{label} killed {count} worker(s) that exceeded --timeout {app.get('timeout')} s (WORKER TIMEOUT); nginx then sees the "
            f"connection closed and {users}",
            evidence,
            "find the slow requests (DB queries, outbound calls) and make them faster or move them to a background job; if slow is "
            "legitimate, raise gunicorn --timeout and keep nginx proxy_read_timeout a bit above it",
            ROLE_APP_UNIT if app.get("unit") else None,
            {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_timeout": app.get("timeout")} if app.get("unit") else None,
            view.app_subjects(app)))
    return out


def _oom_matches(app, ev):
    detail = as_dict(ev.get("detail"))
    proc = str(detail.get("process") or "")
    if detail.get("pid") is not None and detail.get("pid") in as_list(app.get("pids")):
        return True
    unit = app.get("unit")
    if unit and (unit in str(detail.get("unit") or "") or unit in str(detail.get("cgroup") or "") or unit in " ".join(
            str(s) for s in as_list(ev.get("samples")))):
        return True
    names = {str(app.get("kind") or "")}
    binary = as_dict(app.get("unit_settings")).get("exec_binary") or (as_list(app.get("cmdline")) or [""])[0]
    if binary:
        names.add(str(binary).rsplit("/", 1)[-1])
    return bool(proc) and (proc in names or proc.split(":", maxsplit=1)[0] in names)


def rule_oom_kill(view):
    """OOM_KILL: the kernel killed the app's processes for memory.

    A kernel line alone names a process only by its name, and containers share one kernel (and
    its ring buffer): it counts when this host corroborates it (the killed pid was the app's, the
    app server logged a worker SIGKILL, or systemd recorded Result=oom-kill). Uncorroborated it is
    reported as info.
    """
    out = []
    for app in view.apps:
        st = as_dict(app.get("state"))
        kernel = view._current([e for e in view.events if e.get("class") == "oom_kill" and _oom_matches(app, e)],
                               *view.app_anchor(app))
        sigkill = view.app_events(app, ("worker_sigkill",))
        timeouts = view.app_events(app, ("worker_timeout",))
        pid_match = any(as_dict(e.get("detail")).get("pid") in as_list(app.get("pids")) for e in kernel)
        result_oom = st.get("result") == "oom-kill"
        sigkill_oom = bool(sigkill) and (bool(kernel) or not timeouts)   # SIGKILL after WORKER TIMEOUT is the timeout's
        corroborated = result_oom or pid_match or sigkill_oom
        evs = kernel + (sigkill if sigkill_oom else [])
        if not corroborated and not kernel:
            continue
        if evs and _is_past(view, app, evs) and not result_oom:
            continue
        label = _app_label(app)
        local = view.routes_to_app(app)
        route_id = local[0].get("id") if local else None
        running = view.app_running(app)
        mem = as_dict(app.get("unit_settings")).get("memory_max")
        total = as_dict(view.system.get("memory")).get("total")
        evidence = [event_text(e) for e in evs]
        evidence.append(f"{label}: MemoryMax={mem if mem is not None else 'unset'}, workers {app.get('workers')}, "
                        f"max_requests {app.get('max_requests')}; host memory total {total}")
        evidence.append(_state_text(app))
        for r in local:
            evidence.extend(view.probe_evidence(r))
        limit = f" (MemoryMax={mem})" if mem else ""
        if not corroborated:
            out.append(finding(
                "OOM_KILL", "info", "system", view.name, route_id,
                f"the kernel log shows OOM kills of a process named like {label}'s, but nothing on this host confirms it was "
                f"{label} (containers share the kernel log)",
                evidence, "check dmesg / journalctl -k on the host that runs the killed pid", None, None, view.app_subjects(app)))
            continue
        sev = "critical" if not running and local else "warning"
        users = WHAT_USERS_SEE["502"] if not running else WHAT_USERS_SEE["intermittent"]
        out.append(finding(
            "OOM_KILL", sev, "system", view.name, route_id,
            f"the kernel OOM killer killed {label} processes{limit}; in-flight requests are cut and {users}",
            evidence,
            "find the request that allocates (memory profile), lower --workers or set --max-requests to recycle workers; raise "
            "MemoryMax= only if the host has room",
            ROLE_APP_UNIT if app.get("unit") else None,
            {"badgateway_app_unit_name": app.get("unit"), "badgateway_app_unit_memory_max": mem} if app.get("unit") else None,
            view.app_subjects(app)))
    return out


def _route_app_subjects(view, ep):
    subj = set()
    for app in view.apps_binding(ep):
        subj |= view.app_subjects(app)
    return subj


def rule_upstream_timeout(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("upstream_timeout",), ep)
            via = view.route_probes(r, "nginx")
            p504 = [p for p in via if p.get("status") == 504]
            direct_to = [p for p in view.route_probes(r, "direct") if p.get("error") in ("ETIMEDOUT", "timeout")]
            if not evs and not p504 and not direct_to:
                continue
            read = as_dict(r.get("timeouts")).get("read")
            apps = view.apps_binding(ep)
            app_t = ", ".join(f"{_app_label(a)} --timeout {a.get('timeout')}" for a in apps if a.get("timeout") is not None)
            sev = "critical" if p504 or direct_to else "warning"
            users = WHAT_USERS_SEE["504"] if sev == "critical" else WHAT_USERS_SEE["intermittent504"]
            evidence = [event_text(e) for e in evs] + [
                f"nginx route '{r.get('id')}': proxy_read_timeout {read} s, connect {as_dict(r.get('timeouts')).get('connect')} s "
                f"({r.get('file')}:{r.get('line')})"]
            if app_t:
                evidence.append(app_t)
            evidence += view.probe_evidence(r)
            out.append(finding(
                "UPSTREAM_TIMEOUT", sev, "app", view.name, r.get("id"),
                f"{ep_text(ep)} does not answer within proxy_read_timeout {read} s on route '{r.get('id')}': {users}",
                evidence,
                "make the slow requests faster (or asynchronous); if they are legitimately slow raise proxy_read_timeout on this "
                "location and keep the app server's own timeout below it",
                None, None, view.route_subjects(r, ep) | _route_app_subjects(view, ep)))
    return out


def rule_premature_close(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("premature_close", "reset_by_peer"), ep)
            direct_reset = [p for p in view.route_probes(r, "direct") if p.get("error") == "ECONNRESET"]
            if not evs and not direct_reset:
                continue
            sev = "critical" if view.probe_verdict(r) in ("app", "proxy") else "warning"
            users = WHAT_USERS_SEE["502"] if sev == "critical" else WHAT_USERS_SEE["intermittent"]
            out.append(finding(
                "PREMATURE_CLOSE", sev, "app", view.name, r.get("id"),
                f"{ep_text(ep)} closes or resets connections before answering on route '{r.get('id')}': {users}",
                [event_text(e) for e in evs] + view.probe_evidence(r),
                "look at the app server's log at the same times (worker killed, crash, timeout); see the other findings for the cause",
                None, None, view.route_subjects(r, ep) | _route_app_subjects(view, ep)))
    return out


def rule_backlog_full(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("resource_unavailable",), ep)
            if ep.get("kind") == "unix":
                ls = view.unix_listeners(ep.get("path"))
            else:
                ls = [t for t in view.tcp_on_port(ep.get("port")) if view.endpoint_is_local(ep)]
            full = [x for x in ls if (as_dict(x.get("backlog")).get("max") or 0) > 0 and
                    (as_dict(x.get("backlog")).get("current") or 0) >= as_dict(x.get("backlog")).get("max")]
            if not evs and not full:
                continue
            sev = "critical" if view.probe_verdict(r) in ("app", "proxy") else "warning"
            users = WHAT_USERS_SEE["502"] if sev == "critical" else WHAT_USERS_SEE["intermittent"]
            apps = view.apps_binding(ep)
            evidence = [event_text(e) for e in evs]
            evidence += [f"listen queue of {ep_text(ep)}: {as_dict(x.get('backlog')).get('current')}/{as_dict(x.get('backlog')).get('max')} "
                         f"({x.get('path') or x.get('address')})" for x in full]
            evidence += [f"{_app_label(a)}: workers {a.get('workers')}, backlog {a.get('backlog')}, worker class {a.get('worker_class')}" for a in apps]
            evidence += view.probe_evidence(r)
            out.append(finding(
                "BACKLOG_FULL", sev, "socket", view.name, r.get("id"),
                f"the listen queue of {ep_text(ep)} is full (EAGAIN, 11: Resource temporarily unavailable): the app cannot accept "
                f"fast enough and {users}",
                evidence,
                "add workers (or an async worker class) so requests are accepted faster; raise --backlog and net.core.somaxconn only "
                "together with that",
                ROLE_APP_UNIT if apps and apps[0].get("unit") else None,
                {"badgateway_app_unit_name": apps[0].get("unit"), "badgateway_app_unit_workers": apps[0].get("workers")}
                if apps and apps[0].get("unit") else None,
                view.route_subjects(r, ep) | _route_app_subjects(view, ep)))
    return out


RULES = (rule_app_state, rule_app_exec_missing, rule_app_workdir_missing, rule_app_env_file_missing,
         rule_app_boot_import_error, rule_dependency_down, rule_worker_timeout, rule_oom_kill,
         rule_upstream_timeout, rule_premature_close, rule_backlog_full)
