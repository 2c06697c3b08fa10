# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules joining the ``containers`` facts with nginx's routes (controller side, pure functions).

Each rule reads one host's view (``view.routes``, ``view.route_endpoints(route)``,
``view.route_subjects(route, ep)``, ``view.route_where(route)``, ``view.probe_evidence(route)``,
``view.facts["containers"]``) and returns findings; the codes and what they explain are in the catalog.

* ``CONTAINER_STOPPED`` / ``CONTAINER_CRASH_LOOP`` / ``CONTAINER_OOM_KILLED`` / ``CONTAINER_UNHEALTHY``:
  the route's host:port is published by a container that is not serving (with its last log lines).
* ``CONTAINER_NOT_LISTENING`` / ``CONTAINER_LOOPBACK_BIND``: published port -> container port where
  nothing listens in the container's network namespace, or only its loopback does.
* ``CONTAINER_PORT_UNPUBLISHED``: the route's host port is published by no container any more while
  containers publish others (the mapping changed).
* ``CONTAINER_NAME_ONLY_IN_NETWORK``: the route's host name is a Compose service / container name or
  network alias that only resolves inside the engine's networks, not on the host nginx runs on.
* ``CONTAINER_BIND_SOURCE_MISSING``: the route's unix socket is served from a bind mount whose host
  side is missing or was replaced (the container still writes into the old, deleted directory).
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import ep_addresses
from ansible_collections.badgateway.doctor.plugins.plugin_utils._addresses import is_loopback as _is_loopback
from ansible_collections.badgateway.doctor.plugins.plugin_utils._fix_steps import container_service, listen_text, sequence
from ansible_collections.badgateway.doctor.plugins.plugin_utils._rules_common import as_dict, as_list, finding, num

NOT_SERVING = ("exited", "created", "dead", "paused", "removing")
CRASH_LOOP_RESTARTS = 3
RECENT_START = 300          # s: a running container that started this recently after restarts may be looping
WILDCARD = ("0.0.0.0", "::", "")
MAX_LOG_LINES = 8


# ---------------------------------------------------------------- small helpers

def _ep_addresses(ep):
    """The addresses of a tcp endpoint (resolved, or its IP literal; 127.0.0.1 for localhost)."""
    return [addr for _fam, addr in ep_addresses(ep)]


def containers(view):
    return [as_dict(c) for c in as_list(as_dict(view.facts.get("containers")).get("containers")) if isinstance(c, dict)]


def _label(c):
    comp = as_dict(c.get("compose"))
    name = c.get("name") or c.get("short_id") or "?"
    if comp.get("project") and comp.get("service"):
        return f"container {name} (Compose project {comp['project']}, service {comp['service']})"
    return f"container {name}"


def _publishes(c, ep):
    """The port entries of container ``c`` that publish the tcp endpoint ``ep`` of a local route."""
    port = ep.get("port")
    addrs = _ep_addresses(ep)
    out = []
    for p in as_list(c.get("ports")):
        p = as_dict(p)
        if p.get("protocol", "tcp") != "tcp" or p.get("host_port") != port or port is None:
            continue
        hip = str(p.get("host_ip") or "")
        if hip in WILDCARD or not addrs or hip in addrs or (_is_loopback(hip) and any(_is_loopback(a) for a in addrs)):
            out.append(p)
    return out


def publishers(view, ep):
    """The containers (of the ``containers`` facts) that publish the tcp endpoint ``ep``."""
    return [c for c in containers(view) if _publishes(c, ep)]


def _mapping(p):
    return f"{p.get('host_ip') or '0.0.0.0'}:{p.get('host_port')} -> {p.get('container_port')}/{p.get('protocol', 'tcp')}"


def _state_text(c):
    parts = [f"state {c.get('state')}"]
    if c.get("exit_code") is not None and c.get("state") != "running":
        parts.append(f"exit code {c.get('exit_code')}")
    if c.get("oom_killed"):
        parts.append("OOMKilled")
    parts.append(f"restarts {c.get('restart_count') or 0}")
    policy = as_dict(c.get("restart_policy"))
    parts.append(f"restart policy {policy.get('name') or 'no'}")
    health = as_dict(c.get("health"))
    if health.get("status") and c.get("state") == "running":
        parts.append(f"health {health.get('status')}")
    return f"{_label(c)}: " + ", ".join(parts)


_TELLING = re.compile(r"(?i)error|exception|traceback|no module|fail|refused|denied|killed|fatal|panic|cannot|can't")
# the summary line of an exception (Python's ``ModuleNotFoundError: No module named 'x'``, Java's, Go's panics)
_EXCEPTION = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception|Exit|Interrupt)|panic|fatal error)\b[^\n]*:")


def _telling(lines):
    """The log lines worth showing (at most MAX_LOG_LINES, in their order): the last exception summaries
    first, then the last lines that say something went wrong, then the very last lines."""
    picks = [i for i, x in enumerate(lines) if _EXCEPTION.search(x)][-2:]
    picks += [i for i, x in enumerate(lines) if _TELLING.search(x) and i not in picks][-3:]
    picks += [i for i in range(max(0, len(lines) - 3), len(lines)) if i not in picks]
    return [lines[i] for i in sorted(set(picks[:MAX_LOG_LINES]))]


def _evidence(view, route, c, extra=()):
    ev = [f"nginx route '{route.get('id')}': {view.route_where(route)}", _state_text(c)]
    ev += list(extra)
    health = as_dict(c.get("health"))
    last = as_dict(health.get("last"))
    if health.get("status") == "unhealthy" and last:
        ev.append(f"last health check: exit {last.get('exit_code')}, failing streak {health.get('failing_streak')}: "
                  f"{mask_text(str(last.get('output') or '').strip()[:300]) or '(no output)'}")
    logs = as_dict(c.get("logs"))
    lines = [str(x) for x in as_list(logs.get("lines")) if str(x).strip()]
    if lines:
        ev += [f"log: {mask_text(x[:300])}" for x in _telling(lines)]
    elif logs.get("error"):
        ev.append(f"logs not read: {logs['error']}")
    return ev + list(view.probe_evidence(route))


def _subjects(view, route, ep, c):
    return set(view.route_subjects(route, ep)) | {("container", c.get("name") or c.get("id"))}


def _engine_cli(c):
    return "podman" if "podman" in str(c.get("engine") or "") else "docker"


def _q(value):
    """``value`` quoted for a shell command of a fix text (names and labels come from the engine: any text)."""
    return shlex.quote(str(value))


def _compose_cmd(c, what):
    comp = as_dict(c.get("compose"))
    if comp.get("project") and comp.get("service"):
        where = f"cd {_q(comp['working_dir'])} && " if comp.get("working_dir") else ""
        return f"{where}docker compose -p {_q(comp['project'])} {what} {_q(comp['service'])}"
    return None


def _make(view, code, severity, route, ep, c, summary, evidence, fix, steps=()):
    return finding(code=code, severity=severity, host=view.name, route=route.get("id"), summary=summary, evidence=evidence,
                   fix=fix, steps=steps, subjects=_subjects(view, route, ep, c) if c else set(view.route_subjects(route, ep)))


def _local_tcp(view):
    """(route, endpoint) for every tcp endpoint of this host's routes that targets this host."""
    for r in view.routes:
        for ep in view.route_endpoints(r):
            if ep.get("kind") == "tcp" and ep.get("port") is not None and view.endpoint_is_local(ep):
                yield r, ep


# ---------------------------------------------------------------- the host's view of what containers serve

def _serves(c, cport):
    """The container listens on ``cport`` on an address its published port reaches (or its listeners are unknown)."""
    lst = as_dict(c.get("listeners"))
    if not lst or lst.get("error"):
        return True
    return any(as_dict(t).get("port") == cport and not _is_loopback(as_dict(t).get("address"))
               for t in as_list(lst.get("tcp")))


def add_container_listeners(view):
    """Add what running containers serve to the host's listener tables of ``view``.

    A port published through the engine's NAT (Podman's netavark, Docker without docker-proxy) has no
    listening socket in the host's namespace, and a unix socket an app binds inside a container is in
    the container's namespace: both serve nginx all the same. Each added entry names its container
    (``container``) so the evidence says where the listener is.

    A rootless engine (``engine_uid``) is an unprivileged user's: its answers are claims. Its published port counts
    only when the host's own listener facts show that port held by a process of that user (rootless Podman's
    ``rootlessport``), and a unix socket only through a bind mount whose source the facts checked (owned by the user).
    """
    for c in containers(view):
        if c.get("state") != "running" or c.get("restarting"):
            continue
        rootless = c.get("engine_uid") is not None
        procs = [{"pid": c.get("pid"), "name": f"container {c.get('name')}", "cmdline": [], "user": None, "unit": None}]
        for p in as_list(c.get("ports")):
            p = as_dict(p)
            if p.get("protocol", "tcp") != "tcp" or not p.get("host_port") or not _serves(c, p.get("container_port")):
                continue
            if rootless and not _held_by_owner(view, c, p["host_port"]):
                continue
            hip = str(p.get("host_ip") or "0.0.0.0")
            view.tcp.append({"family": "inet6" if ":" in hip else "inet", "address": hip, "port": p["host_port"],
                             "v4mapped": False, "inode": None, "backlog": {"current": None, "max": None},
                             "processes": procs, "container": c.get("name")})
        replaced = {as_dict(m).get("destination") for m in as_list(c.get("mounts")) if as_dict(m).get("replaced")}
        for u in as_list(as_dict(c.get("listeners")).get("unix")):
            u = as_dict(u)
            if not u.get("host_path") or any(str(u.get("path", "")).startswith(str(d).rstrip("/") + "/") for d in replaced if d):
                continue
            if not _mount_checked(c, _mount_serving(c, str(u["host_path"]))):
                continue
            view.unix.append({"path": u["host_path"], "abstract": False, "inode": None,
                              "backlog": {"current": None, "max": None}, "processes": procs, "container": c.get("name")})


def _held_by_owner(view, c, port):
    """The host's listener facts show ``port`` held by a process of the user that runs container ``c``'s engine."""
    names = {str(c.get("engine_uid"))} | ({str(c["engine_user"])} if c.get("engine_user") else set())
    return any(str(as_dict(proc).get("user")) in names and not t.get("container")
               for t in view.tcp_on_port(port) for proc in as_list(as_dict(t).get("processes")))


# ---------------------------------------------------------------- rules

def _mount_serving(c, path):
    """The bind mount of container ``c`` whose host side holds the unix socket ``path``, or None."""
    for m in as_list(c.get("mounts")):
        m = as_dict(m)
        src = str(m.get("source") or "").rstrip("/")
        if m.get("type") == "bind" and src and (path == src or path.startswith(src + "/")):
            return m
    return None


def network_names(c):
    """The names container ``c`` has on its networks: {name: network names} (its name, Compose service, aliases)."""
    nets = {str(as_dict(n).get("name")) for n in as_list(c.get("networks")) if as_dict(n).get("name")}
    names = [c.get("name"), as_dict(c.get("compose")).get("service")]
    names += [a for n in as_list(c.get("networks")) for a in as_list(as_dict(n).get("aliases"))]
    return {str(n): nets for n in names if n}


def reached_by_name(cs, c, ep):
    """The container other than ``c`` that the tcp endpoint ``ep`` of ``c``'s nginx names: by a name on a network
    they share, or by its address on one."""
    host = str(ep.get("host") or "").strip("[]")
    mine = {str(as_dict(n).get("name")) for n in as_list(c.get("networks"))}
    for d in cs:
        if d is c:
            continue
        if network_names(d).get(host, set()) & mine:
            return d
        if any(as_dict(n).get("ip") == host or as_dict(n).get("ipv6") == host for n in as_list(d.get("networks"))):
            return d
    return None


def _through_nginx(cs, c):
    """(nginx route, endpoint, container) for every route of the nginx running in container ``c`` that reaches
    another container by its name or address."""
    for nr in as_list(as_dict(c.get("nginx")).get("routes")):
        nr = as_dict(nr)
        for nep in (as_dict(x) for x in as_list(nr.get("endpoints"))):
            d = reached_by_name(cs, c, nep) if nep.get("kind") == "tcp" else None
            if d is not None:
                yield nr, nep, d


def _nginx_in_front(view, d):
    """Names of the running containers whose nginx proxies to container ``d`` by a fixed name (no variable): nginx
    resolved it once, at its start or last reload."""
    cs = containers(view)
    out = []
    for c in cs:
        if c.get("state") != "running" or c is d:
            continue
        if any(target is d and not nr.get("dynamic") for nr, _nep, target in _through_nginx(cs, c)):
            out.append(str(c.get("name") or c.get("id")))
    return out


def _claim_checked(view, c, ports):
    """May container ``c``'s published ``ports`` be taken as serving a route? Always for a root engine's container.
    A rootless engine's answers are its user's claims: while the container runs, the host's listener facts must show
    a port held by that user; a stopped one holds nothing to check, and its claim is taken for the diagnosis only
    (``rootless_note`` says so, and no step starts it)."""
    if c.get("engine_uid") is None or c.get("state") != "running" or c.get("restarting"):
        return True
    return any(_held_by_owner(view, c, p.get("host_port")) for p in ports)


def _mount_checked(c, m):
    """May the bind mount ``m`` of container ``c`` be taken as serving a socket? Always for a root engine's container;
    for a rootless engine's, only when the facts checked its source as that user's (``source_kind``)."""
    return c.get("engine_uid") is None or as_dict(m).get("source_kind") is not None


def _rootless_user(c):
    """The user of container ``c``'s rootless engine (its name, else ``uid N``), or None for a root engine."""
    if c.get("engine_uid") is None:
        return None
    return c.get("engine_user") or f"uid {c.get('engine_uid')}"


def rootless_note(c):
    """The evidence line of a rootless engine's container (None for a root engine's)."""
    user = _rootless_user(c)
    if user is None:
        return None
    return (f"engine: the rootless engine of {user} (uid {c.get('engine_uid')}) - its answers are that user's claims; "
            f"a published port is checked against the host's listeners only while the container runs")


def served_routes(view):
    """(route, endpoint, container, how) for every route endpoint a container serves: a tcp endpoint of
    this host published by it, a container behind the nginx of such a container (Compose's nginx in
    front of the app, by service name), or a unix socket under one of its bind mounts (for a rootless
    engine, a mount whose source the facts checked as its user's)."""
    cs = containers(view)
    if not cs:
        return
    for r in view.routes:
        for ep in view.route_endpoints(r):
            for c in cs:
                if ep.get("kind") == "tcp" and ep.get("port") is not None and view.endpoint_is_local(ep):
                    ports = _publishes(c, ep)
                    if ports and _claim_checked(view, c, ports):
                        how = f"{ep.get('host')}:{ep.get('port')} is published by {_label(c)} ({_mapping(ports[0])})"
                        yield r, ep, c, how
                        for nr, nep, d in _through_nginx(cs, c):
                            yield r, ep, d, (f"{how}, whose nginx proxies to {nep.get('host')}:{nep.get('port')} "
                                             f"({nr.get('file')}:{nr.get('line')}), which is {_label(d)}")
                elif ep.get("kind") == "unix" and ep.get("path"):
                    m = _mount_serving(c, str(ep["path"]))
                    if m and _mount_checked(c, m):
                        yield r, ep, c, (f"unix:{ep['path']} is served by {_label(c)} through its bind mount "
                                         f"{m.get('source')} -> {m.get('destination')}")


def rule_container_state(view):
    """The routes' endpoints are served by a container that is stopped, crash-looping, OOM-killed or unhealthy:
    one finding per container, on the first of its routes (configuration order), naming the others."""
    groups = {}
    for r, ep, c, mapping in served_routes(view):
        groups.setdefault(id(c), (c, []))[1].append((r, ep, mapping))
    out = []
    for c, served in groups.values():
        f = _state_finding(view, c, served)
        if f is not None:
            for r, ep, _m in served[1:]:
                f["_subjects"] |= set(view.route_subjects(r, ep))
            out.append(f)
    return out


def _started_recently(view, c):
    """The running container ``c`` (re)started within the diagnosis window (the logs' ``since``) or the last
    RECENT_START seconds before the facts were collected: its restart count is cumulative, so restarts long ago say
    nothing about a loop now. Unknown times: not recent."""
    started, collected = c.get("started_at"), view.facts.get("collected_at")
    if not isinstance(started, (int, float)) or not isinstance(collected, (int, float)):
        return False
    since = as_dict(as_dict(view.facts.get("logs")).get("window")).get("since")
    oldest = collected - RECENT_START
    if isinstance(since, (int, float)) and 0 < since < oldest:
        oldest = since
    return started >= oldest


def _state_finding(view, c, served):
    r, ep, mapping = served[0]
    state = c.get("state")
    restarts = num(c.get("restart_count"), 0)
    policy = as_dict(c.get("restart_policy")).get("name") or "no"
    health = as_dict(c.get("health")).get("status")
    cli = _engine_cli(c)
    name = _q(c.get("name") or c.get("id") or "?")
    others = list(dict.fromkeys(str(x[0].get("id")) for x in served[1:] if x[0].get("id") != r.get("id")))
    also = f" (so are the routes {', '.join(repr(o) for o in others)})" if others else ""
    ev = _evidence(view, r, c, list(dict.fromkeys(m for _r, _e, m in served)))
    rootless = rootless_note(c)
    if rootless:
        ev.insert(2, rootless)
    if c.get("oom_killed") and state != "running":
        return _make(
            view, "CONTAINER_OOM_KILLED", "critical", r, ep, c,
            f"route '{r.get('id')}': {mapping}, which was killed by the kernel's OOM killer (its memory limit): "
            f"users get 502 Bad Gateway{also}", ev,
            f"raise the container's memory limit (Compose `mem_limit:` / `deploy.resources.limits.memory`, "
            f"`{cli} run --memory`) or lower the app's memory use (fewer workers), then `{cli} start {name}`")
    if state == "restarting" or (restarts >= CRASH_LOOP_RESTARTS and state in ("restarting", "exited", "running")
                                 and policy != "no" and not (state == "running" and health == "healthy")
                                 and (state != "running" or _started_recently(view, c))):
        return _make(
            view, "CONTAINER_CRASH_LOOP", "critical", r, ep, c,
            f"route '{r.get('id')}': {mapping}, which is crash-looping ({restarts} restarts, policy {policy}"
            + (f", last exit code {c.get('exit_code')}" if state != "running" else "")
            + f"): users get 502 Bad Gateway, or errors between restarts{also}", ev,
            f"read why it exits (`{cli} logs --tail 50 {name}`; the last lines are in the evidence) and fix the "
            f"image, command or environment in the Compose file or run command; restarting it changes nothing")
    if state in NOT_SERVING:
        what = "paused" if state == "paused" else f"{state} (exit code {c.get('exit_code')})"
        start = _compose_cmd(c, "up -d") or f"{cli} start {name}"
        # wait for what nginx dials directly (a published port, a socket in a bind mount), not for the port of
        # another container's nginx in front of it; a dead or removed container needs recreating, not a start
        listen = list(dict.fromkeys(listen_text(e) for _r, e, _m in served
                                    if (e.get("kind") == "unix" or _publishes(c, e)) and listen_text(e)))
        # never for a rootless engine's container: started by root's remediation, a user's container claiming the
        # route's port would take nginx's traffic; its user starts it (the fix says how)
        steps = sequence(container_service(view.name, c, listen or None, _nginx_in_front(view, c))) \
            if state not in ("dead", "removing") and not rootless else []
        how = f"`{cli} unpause {name}`" if state == "paused" else f"start it: `{start}`"
        if rootless:
            how += f", run by {_rootless_user(c)} (its rootless engine's user), not by root"
        return _make(
            view, "CONTAINER_STOPPED", "critical", r, ep, c,
            f"route '{r.get('id')}': {mapping}, which is {what}: users get 502 Bad Gateway{also}", ev,
            how
            + (f"; its restart policy is '{policy}', so it stays down after it exits or the host reboots: set "
               f"`restart: unless-stopped` in the Compose file (`--restart unless-stopped`)" if policy in ("no", "") else ""),
            steps)
    if state == "running" and health == "unhealthy":
        bad = any(not as_dict(p).get("ok") for x in served for p in view.route_probes(x[0], "nginx"))
        return _make(
            view, "CONTAINER_UNHEALTHY", "critical" if bad else "warning", r, ep, c,
            f"route '{r.get('id')}': {mapping}, which is running but unhealthy (its own health check fails "
            f"{as_dict(c.get('health')).get('failing_streak')} times in a row): "
            + ("users get errors" if bad else "users may get errors or slow answers") + also, ev,
            f"read the health check's output (evidence) and the app's log (`{cli} logs --tail 50 {name}`); "
            f"restart it only after the cause is known (`{cli} restart {name}`)")
    return None


def _reached_ports(view):
    """(route, endpoint, container, container port, how, published port or None) for every container port a route of
    this host reaches: through a port the container publishes, or through the nginx of a container that publishes
    the route's port and proxies to this one by name."""
    cs = containers(view)
    for r, ep in _local_tcp(view):
        for c in cs:
            for p in _publishes(c, ep):
                how = f"{ep.get('host')}:{ep.get('port')} is published by {_label(c)} ({_mapping(p)})"
                yield r, ep, c, p.get("container_port"), how, p
                for nr, nep, d in _through_nginx(cs, c):
                    yield r, ep, d, nep.get("port"), (f"{how}, whose nginx proxies to {nep.get('host')}:{nep.get('port')} "
                                                      f"({nr.get('file')}:{nr.get('line')}), which is {_label(d)}"), None


def rule_container_listen(view):
    """Published port -> container port where nothing listens, or only the container's loopback does."""
    out = []
    for r, ep, c, cport, mapping, p in _reached_ports(view):
        lst = as_dict(c.get("listeners"))
        if c.get("state") != "running" or not lst or lst.get("error") or lst.get("shares_host_network"):
            continue
        inside = [as_dict(t) for t in as_list(lst.get("tcp")) if as_dict(t).get("port") == cport]
        listening = "; ".join(f"{t.get('address')}:{t.get('port')}" for t in as_list(lst.get("tcp"))) or "nothing"
        ev = _evidence(view, r, c, [mapping, f"listening inside the container's network namespace: {listening}"])
        cmd = " ".join(str(x) for x in as_list(c.get("command")))
        if cmd:
            ev.insert(2, f"container command: {cmd[:300]}")
        if not inside:
            publish = (f" (Compose `ports: [\"{p.get('host_ip') or '0.0.0.0'}:{p.get('host_port')}:<app port>\"]`)"
                       if p else "")
            out.append(_make(
                view, "CONTAINER_NOT_LISTENING", "critical", r, ep, c,
                f"route '{r.get('id')}': {mapping}, but nothing listens on port {cport} inside the container: "
                f"users get 502 Bad Gateway",
                ev,
                f"make the app listen on 0.0.0.0:{cport} inside the container, or "
                + (f"publish the port it does listen on{publish}" if p else "proxy to the port it does listen on")))
        elif all(_is_loopback(t.get("address")) for t in inside):
            out.append(_make(
                view, "CONTAINER_LOOPBACK_BIND", "critical", r, ep, c,
                f"route '{r.get('id')}': {mapping}, but the app inside listens on "
                f"{', '.join(str(t.get('address')) for t in inside)}:{cport} only - the container's own loopback, which "
                + ("the published port never reaches" if p else "other containers never reach")
                + ": users get 502 Bad Gateway",
                ev,
                f"bind the app to 0.0.0.0:{cport} inside the container (e.g. gunicorn `--bind 0.0.0.0:{cport}`, uvicorn "
                f"`--host 0.0.0.0`) in the Compose `command:` / image CMD; keep publishing the port on 127.0.0.1 of the "
                f"host if it must not be reachable from outside"))
    return out


def rule_container_port_unpublished(view):
    """The route's host port is published by no container and nothing listens there, while containers publish others."""
    cs = containers(view)
    if not cs:
        return []
    out = []
    for r, ep in _local_tcp(view):
        port = ep.get("port")
        if any(_publishes(c, ep) for c in cs) or view.tcp_on_port(port):
            continue
        if hasattr(view, "apps_binding") and view.apps_binding(ep):
            continue    # an app server of the host is meant to serve it (its own rules speak)
        others = [(c, as_dict(p)) for c in cs for p in as_list(c.get("ports"))
                  if as_dict(p).get("host_port") and as_dict(p).get("protocol", "tcp") == "tcp"]
        if not others:
            continue
        running = [(c, p) for c, p in others if c.get("state") == "running"] or others
        ev = [f"nginx route '{r.get('id')}': {view.route_where(r)}",
              f"no container publishes port {port} and nothing on the host listens on it"]
        ev += [f"{_label(c)} ({c.get('state')}) publishes {_mapping(p)}" for c, p in running[:6]]
        ev += list(view.probe_evidence(r))
        cands = sorted({(str(c.get("name") or c.get("short_id") or "?"), str(p.get("host_port"))) for c, p in running})
        hint = (f"point nginx at the port that is published now ({', '.join(f'{n}: {hp}' for n, hp in cands[:3])}) with "
                f"`{r.get('directive') or 'proxy_pass'}` at {r.get('file')}:{r.get('line')}, or publish {port} again in the "
                f"Compose file (`ports: [\"127.0.0.1:{port}:<container port>\"]`) and recreate the container")
        f = _make(view, "CONTAINER_PORT_UNPUBLISHED", "critical", r, ep, None,
                  f"route '{r.get('id')}' proxies to {ep.get('host')}:{port}, which no container publishes any more "
                  f"(the mapping changed: containers publish {', '.join(str(hp) for _n, hp in cands[:4])}): "
                  f"users get 502 Bad Gateway",
                  ev, hint)
        f["_subjects"] |= {("container", c.get("name")) for c, _p in running}
        out.append(f)
    return out


def rule_container_name(view):
    """The route's host name only resolves inside a container network (a Compose service name / alias)."""
    cs = containers(view)
    if not cs:
        return []
    names = {}
    for c in cs:
        comp = as_dict(c.get("compose"))
        aliases = [a for net in as_list(c.get("networks")) for a in as_list(as_dict(net).get("aliases"))]
        for n in [c.get("name"), comp.get("service")] + aliases:
            if n:
                names.setdefault(str(n), c)
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            host = str(ep.get("host") or "")
            if ep.get("kind") != "tcp" or host not in names or _ep_addresses(ep):
                continue
            c = names[host]
            nets = ", ".join(str(as_dict(n).get("name")) for n in as_list(c.get("networks"))) or "its network"
            pub = [as_dict(p) for p in as_list(c.get("ports")) if as_dict(p).get("host_port")
                   and as_dict(p).get("container_port") == ep.get("port")]
            ev = [f"nginx route '{r.get('id')}': {view.route_where(r)}",
                  f"'{host}' does not resolve on {view.name}; it is a name of {_label(c)} on the network(s) {nets}, "
                  f"resolved only by the engine's DNS inside those networks", _state_text(c)]
            ev += [f"published: {_mapping(p)}" for p in as_list(c.get("ports")) if as_dict(p).get("host_port")]
            test = as_dict(view.nginx.get("test")) if hasattr(view, "nginx") else {}
            last = str(test.get("output") or "").strip().splitlines()[-1:]
            if test.get("ok") is False and last:
                ev.append(f"nginx -t: {mask_text(last[0][:300])}")
            fix = (f"nginx runs on the host: proxy to the published port instead (`{r.get('directive') or 'proxy_pass'} "
                   f"http://127.0.0.1:{pub[0].get('host_port')}` at {r.get('file')}:{r.get('line')})" if pub else
                   f"nginx runs on the host: publish the container's port {ep.get('port')} on 127.0.0.1 (Compose `ports:`) "
                   f"and proxy to it")
            fix += "; or run nginx as a service of the same Compose project so that the name resolves"
            out.append(_make(view, "CONTAINER_NAME_ONLY_IN_NETWORK", "critical", r, ep, c,
                             f"route '{r.get('id')}' proxies to '{host}:{ep.get('port')}', a name that only resolves inside the "
                             f"container network {nets}, not on the host where nginx runs: nginx cannot load this configuration "
                             f"(\"host not found in upstream\") or users get 502 Bad Gateway",
                             ev, fix))
    return out


def rule_container_bind_source(view):
    """The route's unix socket is served from a bind mount whose host side is missing or was replaced."""
    out = []
    for r in view.routes:
        for ep in view.route_endpoints(r):
            path = str(ep.get("path") or "")
            if ep.get("kind") != "unix" or not path:
                continue
            for c in containers(view):
                for m in as_list(c.get("mounts")):
                    m = as_dict(m)
                    src = str(m.get("source") or "").rstrip("/")
                    if m.get("type") != "bind" or not src or not (path == src or path.startswith(src + "/")):
                        continue
                    if not (m.get("replaced") or m.get("source_kind") == "missing"):
                        continue
                    inside = path.replace(src, str(m.get("destination") or "").rstrip("/"), 1)
                    served = [u for u in as_list(as_dict(c.get("listeners")).get("unix")) if as_dict(u).get("path") == inside]
                    why = ("is missing on the host" if m.get("source_kind") == "missing" else
                           "is no longer the directory the container sees (deleted and recreated after the container started)")
                    ev = [f"nginx route '{r.get('id')}': {view.route_where(r)}", _state_text(c),
                          f"bind mount {src} -> {m.get('destination')}: the host side {why}"]
                    if served:
                        ev.append(f"inside the container the app listens on {inside}: in the old directory nginx cannot reach")
                    ev += list(view.probe_evidence(r))
                    out.append(_make(
                        view, "CONTAINER_BIND_SOURCE_MISSING", "critical", r, ep, c,
                        f"route '{r.get('id')}' uses the unix socket {path}, served from {_label(c)} through the bind mount "
                        f"{src} -> {m.get('destination')}, whose host side {why}: users get 502 Bad Gateway",
                        ev,
                        f"recreate the container so that it mounts the current {src} "
                        f"(`{_compose_cmd(c, 'up -d --force-recreate') or _engine_cli(c) + ' restart ' + _q(c.get('name') or c.get('id') or '?')}`); "
                        f"keep the socket directory out of paths that are wiped (a tmpfs /run directory recreated at boot "
                        f"before the container starts)"))
    return out


RULES = (rule_container_name, rule_container_bind_source, rule_container_state, rule_container_listen,
         rule_container_port_unpublished)
