# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules at the nginx hop (layer ``proxy``): nginx itself (serving or not), the configuration, the pass directive and its
buffers, upstream groups."""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import (
    EXEC_OPTION_KINDS,
    app_unit,
    directive_prefix,
    header_buffers,
    nginx_proxy,
    nginx_reload,
    route_set_edit,
    seconds,
    sequence,
    size_text,
    upstream_set_edit,
)
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import (
    HTTP_APP_KINDS,
    WHAT_USERS_SEE,
    as_dict,
    as_list,
    event_text,
    finding,
    iso,
    num,
    proc_text,
    users_text,
)


# why nginx did not start, as the unit journal's line says it (facts: nginx.service.start_failure.cause)
START_CAUSES = {
    "address_in_use": "its port is taken",
    "address_unavailable": "it listens on an address this host does not have",
    "permission_denied": "it may not open a path or port it needs",
    "missing_path": "a path it needs does not exist",
    "config_error": "its configuration is invalid",
    "read_only": "a path it writes is on a read-only file system",
    "no_space": "the disk is full",
    "too_many_files": "it ran out of file descriptors",
}


def _start_fix(view, failure, unit):
    cause, target = failure.get("cause"), failure.get("target")
    if cause == "address_in_use":
        port = str(target or "").rsplit(":", 1)[-1]
        holders = [t for t in view.tcp if port.isdigit() and t.get("port") == int(port)]
        evidence = [f"{t.get('address')}:{t.get('port')} is held by {proc_text(t.get('processes'))}" for t in holders]
        return evidence, f"free {target or 'the port'} (stop what holds it, or move nginx's listen), then systemctl start {unit}"
    if cause == "config_error":
        return [], f"fix {target or 'the file:line nginx names'}, check with nginx -t, then systemctl start {unit}"
    if cause in ("permission_denied", "missing_path", "read_only"):
        return [], (f"make {target or 'the path'} exist and be writable by nginx's master (root, unless the unit sets User=), "
                    f"then systemctl start {unit}")
    return [], f"read journalctl -u {unit}, remove the cause, then systemctl start {unit}"


def rule_nginx_down(view):
    """NGINX_DOWN: nginx should serve (enabled, or failed / restarting) but no master runs."""
    if view.nginx_state != "down":
        return []
    service = as_dict(view.nginx.get("service"))
    state = as_dict(service.get("state"))
    failure = as_dict(service.get("start_failure"))
    unit = service.get("unit") or "nginx.service"
    if failure:
        why = START_CAUSES.get(failure.get("cause"), "it stopped with an error")
        reason = f"it failed to start because {why}" + (f" ({failure['message']})" if failure.get("message") else "")
    elif state.get("active_state") == "inactive":
        reason = "it was stopped (its journal shows no failed start)"
    else:
        reason = f"it is {state.get('active_state') or 'not running'} (Result={state.get('result')})"
    extra, fix = _start_fix(view, failure, unit)
    evidence = [f"{unit}: UnitFileState={state.get('unit_file_state')}, ActiveState={state.get('active_state')}, "
                f"SubState={state.get('sub_state')}, Result={state.get('result')}; no nginx master process"]
    lines = [str(ln) for ln in as_list(failure.get("lines"))]
    if lines:
        evidence.append(f"journal of {unit}, last start attempt ({iso(failure.get('at'))}): {lines[0]}")
        evidence += [f"  {ln}" for ln in lines[1:]]
    evidence += extra
    n = len(view.routes)
    f = finding(
        code="NGINX_DOWN", severity="critical", host=view.name, route=None,
        summary=(f"nginx is not running although {unit} is {'enabled' if service.get('enabled') else state.get('active_state')}: "
                 f"{reason}; clients get connection refused or time-outs (not 502) on "
                 f"{'its route' if n == 1 else f'all {n} routes'}"),
        evidence=evidence, fix=fix,
        subjects={("nginx", view.name), ("stale", view.name), ("facts", view.name + ":nginx-only")}
        | {("route", r.get("id")) for r in view.routes})
    if failure.get("cause") != "config_error":
        # the files may be invalid too, but that is not why nginx is down now: a cause of its own
        f["_explains"] = set(catalog.CAUSES["NGINX_DOWN"]) - {"NGINX_CONFIG_INVALID"}
    return [f]


def rule_nginx_not_serving(view):
    """NGINX_NOT_SERVING (info): installed, disabled, stopped - its files' routes are not served, not checked."""
    if view.nginx_state != "unused":
        return []
    service = as_dict(view.nginx.get("service"))
    state = as_dict(service.get("state"))
    n = len(view.unserved_routes)
    test = as_dict(view.nginx.get("test"))
    return [finding(
        code="NGINX_NOT_SERVING", severity="info", host=view.name, route=None,
        summary=(f"nginx is installed but {service.get('unit') or 'its unit'} is disabled and stopped: this host serves no HTTP "
                 f"through nginx (an app-only host); the {n} route{'' if n == 1 else 's'} in its configuration files "
                 f"{'is' if n == 1 else 'are'} not served and were not checked"),
        evidence=[f"{service.get('unit')}: UnitFileState={state.get('unit_file_state')}, ActiveState={state.get('active_state')}",
                  "nginx -t fails on these files too" if test.get("ok") is False else None],
        fix="nothing on an app-only host; to serve through nginx here: systemctl enable --now nginx",
        subjects={("nginx", view.name)})]


def rule_nginx_config_invalid(view):
    test = as_dict(view.nginx.get("test"))
    if not view.nginx.get("present") or test.get("ok") is not False or view.nginx_state in ("unused", "absent"):
        return []
    lines = [ln for ln in str(test.get("output") or "").splitlines() if ln.strip()]
    evs = [e for e in view.events if e.get("class") == "nginx_emerg"]
    running = bool(view.nginx.get("master_pid"))
    first = next((ln for ln in lines if "[emerg]" in ln or "[crit]" in ln), lines[0] if lines else "nginx -t failed")
    tail = ("nginx keeps running the old configuration, but the next reload or restart fails" if running
            else "nginx is not running: clients cannot connect at all")
    return [finding(
        code="NGINX_CONFIG_INVALID", severity="critical", host=view.name, route=None,
        summary=f"nginx -t fails: {first.replace('nginx: ', '')}; {tail}",
        evidence=[f"nginx -t (rc {test.get('rc')}): {ln}" for ln in lines[:6]] + [event_text(e) for e in evs],
        fix="fix the reported file:line, check with nginx -t, then reload (systemctl reload nginx)",
        subjects={("nginx", view.name), ("stale", view.name), ("facts", view.name + ":nginx-only")})]


def rule_nginx_config_stale(view):
    if not view.nginx.get("stale"):
        return []
    conf_path = view.nginx.get("conf_path")
    stale = view.stale_files
    subj = {("stale", view.name)} | {("file", p) for p in stale}
    if conf_path in stale:
        subj |= {("file", r.get("file")) for r in view.routes if r.get("file")}
    affected = [r for r in view.routes if ("file", r.get("file")) in subj]
    proxy_side = [r for r in affected if view.probe_verdict(r) == "proxy"]
    sev = "critical" if proxy_side else "warning"
    started = view.nginx.get("workers_started")
    evidence = [f"{as_dict(s).get('path')} modified {iso(as_dict(s).get('mtime'))}" for s in as_list(view.nginx.get("stale_files"))]
    evidence.append(f"nginx workers (pids {', '.join(str(p) for p in as_list(view.nginx.get('worker_pids'))[:5])}) started {iso(started)}")
    for r in proxy_side:
        evidence += view.probe_evidence(r)
    if proxy_side:
        summary = (f"nginx runs an older configuration than the files on disk ({', '.join(stale[:3])} changed after the workers started); "
                   f"the upstream answers directly but through nginx it fails: {users_text(view, proxy_side[0])}")
    else:
        summary = (f"the nginx configuration was edited but not reloaded ({', '.join(stale[:3])} changed after the workers started): "
                   "what runs is not what the files say, and the next reload changes behaviour")
    return [finding(
        code="NGINX_CONFIG_STALE", severity=sev, host=view.name, route=proxy_side[0].get("id") if proxy_side else None,
        summary=summary, evidence=evidence,
        fix="check and apply the files: nginx -t && systemctl reload nginx (findings on these routes describe the files, which run "
            "after the reload)",
        steps=sequence(nginx_reload(view.name, view)), subjects=subj)]


def _uwsgi_protocol(app):
    cmd = [str(c) for c in as_list(app.get("cmdline"))]
    if any(c.startswith(("--http", "--http-socket")) for c in cmd):
        return "http"
    if any(c.startswith(("--fastcgi-socket",)) for c in cmd):
        return "fastcgi"
    return "uwsgi"


def _to_proxy_pass(view, r):
    """nginx_proxy: the route's pass directive becomes proxy_pass to the same target (an HTTP app server).

    Only towards HTTP: uwsgi_pass or fastcgi_pass also need their params (uwsgi_params, SCRIPT_FILENAME), which an
    automatic edit cannot know.
    """
    if not r.get("file") or not isinstance(r.get("line"), int) or r.get("dynamic"):
        return None
    return nginx_proxy(view.name, [{"file": r["file"], "line": r["line"], "directive": r.get("directive") or "proxy_pass",
                                    "new_directive": "proxy_pass"}])


def rule_protocol_mismatch(view):
    out = []
    for r in view.routes:
        directive = r.get("directive") or "proxy_pass"
        for ep in view.route_endpoints(r):
            for app in view.apps_binding(ep):
                kind = app.get("kind")
                speaks = "http" if kind in HTTP_APP_KINDS else ("fastcgi" if kind == "php-fpm" else (
                    _uwsgi_protocol(app) if kind == "uwsgi" else None))
                wants = {"proxy_pass": "http", "uwsgi_pass": "uwsgi", "fastcgi_pass": "fastcgi", "scgi_pass": "scgi",
                         "grpc_pass": "grpc"}.get(directive)
                grpc_ok = wants == "grpc" and speaks == "http" and kind == "hypercorn"
                if speaks is None or wants is None or speaks == wants or grpc_ok:
                    continue
                right = {"http": "proxy_pass http://", "uwsgi": "uwsgi_pass (with include uwsgi_params)",
                         "fastcgi": "fastcgi_pass"}.get(speaks, speaks)
                evs = view.events_of(("premature_close", "reset_by_peer"), ep)
                out.append(finding(
                    code="PROTOCOL_MISMATCH", severity="critical", host=view.name, route=r.get("id"),
                    summary=f"route '{r.get('id')}' talks {wants} ({directive}) to {app.get('unit') or app.get('name')}, which "
                            f"speaks {speaks}: the reply is not understood and {users_text(view, r)}",
                    evidence=[f"nginx route '{r.get('id')}': {view.route_where(r)}",
                              f"{app.get('unit') or app.get('name')} ({kind}) binds {ep_text(ep)}: "
                              f"{' '.join(as_list(app.get('cmdline'))[:8])}"]
                    + [event_text(e) for e in evs] + view.probe_evidence(r),
                    fix=f"use {right} for this location (or make the app server speak {wants})",
                    steps=sequence(_to_proxy_pass(view, r)) if speaks == "http" else (),
                    subjects=view.route_subjects(r, ep) | view.app_subjects(app)))
    return out


def rule_header_too_big(view):
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            evs = view.events_of(("too_big_header",), ep)
            if not evs:
                continue
            via = view.route_probes(r, "nginx")
            sev = "critical" if any(p.get("status") == 502 for p in via) else "warning"
            bs = as_dict(r.get("buffers")).get("buffer_size")
            prefix = (r.get("directive") or "proxy_pass").split("_")[0]
            new, (number, size), busy = header_buffers(r.get("buffers"))
            users = (WHAT_USERS_SEE['502'] if sev == 'critical'
                     else "users get 502 on the responses with large headers (cookies, redirects)")
            out.append(finding(
                code="HEADER_TOO_BIG", severity=sev, host=view.name, route=r.get("id"),
                summary=f"the app's response headers on route '{r.get('id')}' exceed {prefix}_buffer_size {bs} bytes (\"upstream "
                        f"sent too big header\"): {users}",
                evidence=[event_text(e) for e in evs] + [
                    f"{prefix}_buffer_size {bs}, {prefix}_buffers {as_dict(as_dict(r.get('buffers')).get('buffers'))}, "
                    f"busy {as_dict(r.get('buffers')).get('busy_buffers_size')} ({r.get('file')}:{r.get('line')})"]
                + view.probe_evidence(r),
                fix=f"raise {prefix}_buffer_size to {size_text(new)} (and {prefix}_buffers {number} {size_text(size)}, "
                    f"{prefix}_busy_buffers_size {size_text(busy)}) in this location, or shrink the headers (cookies) the app sends",
                steps=sequence(_buffers_step(view, r, new, number, size, busy)),
                subjects=view.route_subjects(r, ep)))
    return out


def _buffers_step(view, r, new, number, size, busy):
    """nginx_proxy: the three buffer sizes set together in the route's location (nginx -t checks them against each other)."""
    prefix = directive_prefix(r)
    if prefix is None:
        return None
    if prefix == "grpc":     # gRPC has only grpc_buffer_size
        settings = {"grpc_buffer_size": size_text(new)}
    else:
        settings = {f"{prefix}_buffer_size": size_text(new), f"{prefix}_buffers": f"{number} {size_text(size)}",
                    f"{prefix}_busy_buffers_size": size_text(busy)}
    return nginx_proxy(view.name, [route_set_edit(r, settings)])


def rule_keepalive_race(view):
    out = []
    for r in view.routes:
        if not r.get("keepalive_in_use"):
            continue
        up = as_dict(view.upstreams.get(r.get("upstream")))
        nginx_idle = num(up.get("keepalive_timeout"), 60.0)     # nginx's default keepalive_timeout of an upstream
        for ep in view.route_endpoints(r):
            for app in view.apps_binding(ep):
                ka = num(app.get("keepalive"))
                wc = str(app.get("worker_class") or ("sync" if app.get("kind") == "gunicorn" else ""))
                if ka is None or app.get("kind") == "gunicorn" and wc in ("sync", ""):
                    continue   # gunicorn's sync worker closes every connection after the response: no reuse, no race
                if float(ka) >= nginx_idle:
                    continue
                evs = view.events_of(("premature_close", "reset_by_peer"), ep)
                out.append(finding(
                    code="KEEPALIVE_RACE", severity="warning", host=view.name, route=r.get("id"),
                    summary=f"upstream '{r.get('upstream')}' keeps idle connections {nginx_idle:g} s but "
                            f"{app.get('unit') or app.get('name')} closes them after {float(ka):g} s: nginx reuses a connection the "
                            f"app is closing and {WHAT_USERS_SEE['intermittent']} (reset / prematurely closed)",
                    evidence=[f"upstream {r.get('upstream')} ({up.get('file')}:{up.get('line')}): keepalive {up.get('keepalive')}, "
                              f"keepalive_timeout {nginx_idle:g} s; route '{r.get('id')}' proxy_http_version {r.get('http_version')}, "
                              f"Connection \"\" {r.get('connection_header_cleared')}",
                              f"{app.get('unit') or app.get('name')}: keep-alive {float(ka):g} s "
                              f"({as_dict(app.get('settings_source')).get('keepalive', 'default')}), worker class {wc or app.get('kind')}"]
                    + [event_text(e) for e in evs],
                    fix=f"make nginx drop idle connections first: keepalive_timeout {max(1, int(float(ka)) - 1)}s in upstream "
                        f"'{r.get('upstream')}', or raise the app's keep-alive above {nginx_idle:g} s",
                    steps=sequence(nginx_proxy(view.name, [upstream_set_edit(
                        view, r.get("upstream"), {"keepalive_timeout": seconds(max(1, int(float(ka)) - 1))})])),
                    alternative_steps=sequence(app_unit(view.name, app, exec_options={"keep_alive": int(nginx_idle) + 5})
                                               if app.get("kind") in EXEC_OPTION_KINDS else None),
                    subjects=view.route_subjects(r, ep) | view.app_subjects(app)))
    return out


def rule_no_live_upstreams(view):
    out = []
    for r in view.routes:
        name = r.get("upstream")
        if not name:
            continue
        ws = view.nginx.get("workers_started")
        evs = [e for e in view._current(view.events, ws if isinstance(ws, (int, float)) else None, 1.2)
               if e.get("class") == "no_live_upstreams" and any(
            f"//{name}/" in str(t) or str(t).rstrip("/").endswith(f"//{name}") or str(t) == name for t in as_list(e.get("targets")))]
        if not evs:
            continue
        up = as_dict(view.upstreams.get(name))
        sev = "critical" if view.probe_verdict(r) in ("app", "proxy", "unknown") else "warning"
        servers = [f"{as_dict(s).get('address')} {as_dict(s).get('params') or ''}".strip() for s in as_list(up.get("servers"))]
        out.append(finding(
            code="NO_LIVE_UPSTREAMS", severity=sev, host=view.name, route=r.get("id"),
            summary=f"every server of upstream '{name}' was marked failed (\"no live upstreams\"): "
                    f"{users_text(view, r) if sev == 'critical' else WHAT_USERS_SEE['intermittent']} until fail_timeout passes",
            evidence=[event_text(e) for e in evs] + [f"upstream {name} ({up.get('file')}:{up.get('line')}): {'; '.join(servers)}"]
            + view.probe_evidence(r),
            fix="fix the servers' failures (see the other findings); with a single server consider max_fails=0 / fail_timeout=0 so "
                "one error does not take it out of rotation",
            subjects=view.route_subjects(r)))
    return out
