# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers of the host: the ``containers`` section of the facts contract.

Asks every Docker-compatible engine found on the host (Docker's ``/var/run/docker.sock``, rootful
Podman's ``/run/podman/podman.sock``, rootless Podman's ``/run/user/UID/podman/podman.sock``, or the
sockets given) over its Engine API (``_engine_api``: standard library, read only), and reads what the
engine does not say from ``/proc``: the listeners of each running container's network namespace
(``/proc/<pid>/net/{tcp,tcp6,unix}``, parsed by ``listeners``), and whether a bind mount's host side
is still the directory the container sees (device and inode through ``/proc/<pid>/root``).

Secrets: the containers' environment values are never returned (names only); command lines go
through ``_mask.mask_argv``, health-check output and log lines through ``_mask.mask_text``, capped.

Public API: ``collect_containers(sockets=None, ...)`` (never raises), ``container_facts(inspect, ...)``
(pure but for the optional ``/proc`` reads; for tests), ``parse_time(text)``, ``DEFAULT_SOCKETS``.
"""
from __future__ import annotations

import calendar
import glob
import os
import re
import socket
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils._container_nginx import (
    container_nginx, masters_below, process_tree, stat_in_root,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_api import EngineClient, EngineError, engine_kind
from ansible_collections.badgateway.doctor.plugins.module_utils._engine_owner import SUBUID, Owner, rootless_problem, rootless_uid
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv, mask_text
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import PROC, error, read_text
from ansible_collections.badgateway.doctor.plugins.module_utils.listeners import parse_proc_net_tcp, parse_proc_net_unix

DEFAULT_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
ROOTLESS_GLOB = "/run/user/*/podman/podman.sock"
COMPOSE_LABELS = {
    "com.docker.compose.project": "project",
    "com.docker.compose.service": "service",
    "com.docker.compose.project.working_dir": "working_dir",
    "com.docker.compose.project.config_files": "config_files",
    "com.docker.compose.container-number": "number",
    "com.docker.compose.oneoff": "oneoff",
    # podman-compose's own labels (it sets the com.docker.compose ones too)
    "io.podman.compose.project": "project",
}
MAX_LINE = 400
MAX_HEALTH_OUTPUT = 1000
MAX_SOCKETS_PER_MOUNT = 20
# States in which the logs say why the container is not serving.
_TROUBLED_STATES = ("exited", "dead", "restarting", "created", "stopped", "paused", "removing")

_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


def parse_time(text):
    """RFC 3339 time of the Engine API (nanoseconds, ``Z`` or an offset) -> epoch seconds; None for
    the zero time (``0001-01-01T00:00:00Z``), empty or unparsable text."""
    if not isinstance(text, str):
        return None
    m = _TIME.match(text.strip())
    if not m:
        return None
    year, mon, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    if year < 1970:
        return None
    try:
        epoch = calendar.timegm((year, mon, day, hour, minute, sec, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if m.group(7):
        epoch += float("0." + m.group(7)[:9])
    tz = m.group(8)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "+" else 1
        digits = tz[1:].replace(":", "")
        epoch += sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
    return round(epoch, 3)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _s(value):
    """``value`` when it is a string an engine could mean (no NUL), else None: an engine's claims are not trusted
    to have the types its documentation promises."""
    return value if isinstance(value, str) and value and "\0" not in value else None


def _d(value):
    return value if isinstance(value, dict) else {}


def _l(value):
    return value if isinstance(value, list) else []


def masked_lines(lines):
    """Log lines masked as one text (a PEM private key spans lines: masked line by line, its body would leak)."""
    return mask_text("\n".join(str(x) for x in lines)).splitlines()


def _line(text, cap=MAX_LINE):
    text = mask_text(str(text)).rstrip()
    return text if len(text) <= cap else text[:cap] + "..."


# ---------------------------------------------------------------- pure parts of one container

def _ports(settings, host_config):
    """Published ports (host address:port -> container port) and exposed-only ports."""
    out = []
    seen = set()
    for spec, bindings in sorted(_d(_d(settings).get("Ports")).items() or _d(_d(host_config).get("PortBindings")).items()):
        port_text, _sep, proto = str(spec).partition("/")
        cport = _int(port_text, None)
        if cport is None:
            continue
        proto = proto or "tcp"
        if not bindings:
            key = (cport, proto, None, None)
            if key not in seen:
                seen.add(key)
                out.append({"container_port": cport, "protocol": proto, "host_ip": None, "host_port": None})
            continue
        for b in _l(bindings):
            b = _d(b)
            hport = _int(b.get("HostPort"), None)
            hip = _s(b.get("HostIp")) or "0.0.0.0"
            key = (cport, proto, hip, hport)
            if key in seen:
                continue
            seen.add(key)
            out.append({"container_port": cport, "protocol": proto, "host_ip": hip, "host_port": hport})
    return out


def _networks(settings):
    out = []
    for name, net in sorted(_d(_d(settings).get("Networks")).items()):
        net = _d(net)
        out.append({
            "name": name,
            "ip": _s(net.get("IPAddress")),
            "prefix_len": _int(net.get("IPPrefixLen"), None) or None,
            "ipv6": _s(net.get("GlobalIPv6Address")),
            "gateway": _s(net.get("Gateway")),
            "aliases": [a for a in _l(net.get("Aliases")) if _s(a)],
        })
    return out


def _health(state):
    health = _d(_d(state).get("Health"))
    status = _s(health.get("Status"))
    if not status:
        return None
    log = [_d(x) for x in _l(health.get("Log"))]
    last = log[-1] if log else {}
    return {
        "status": status,
        "failing_streak": _int(health.get("FailingStreak")),
        "last": {
            "exit_code": _int(last.get("ExitCode"), None),
            "output": _line(last.get("Output") or "", MAX_HEALTH_OUTPUT) if last else None,
            "start": parse_time(last.get("Start")),
            "end": parse_time(last.get("End")),
        } if last else None,
    }


def _compose(labels):
    out = {}
    for label, key in COMPOSE_LABELS.items():
        if label in labels and key not in out:
            out[key] = str(labels[label])
    return out or None


def _env_keys(env):
    keys = []
    for item in _l(env):
        key = str(item).split("=", 1)[0]
        if key and key not in keys:
            keys.append(key)
    return keys


def _state(state):
    state = _d(state)
    status = str(state.get("Status") or "").lower() or None
    # Podman says "stopped" where Docker says "exited"; both name a container that has ended.
    if status == "stopped":
        status = "exited"
    if state.get("Restarting"):
        status = "restarting"
    return status


def container_facts(info, listing=None, engine=None, proc=PROC, read_proc=True, tree=None, owner=None, errors=None):
    """The fact entry of one container from its inspection (``GET /containers/{id}/json``).

    ``listing`` is its entry of ``/containers/json`` (fallbacks), ``engine`` the socket path.
    With ``read_proc`` the container's listeners and bind-mount identities are read from ``/proc``,
    and, with ``tree`` (``_container_nginx.process_tree``), the nginx that runs in it.
    ``owner`` (:class:`Owner`): the engine is a user's rootless one, whose claims are checked before root
    acts on them (its pid must be the user's, a mount source the user's); what is refused goes to ``errors``.
    """
    errors = [] if errors is None else errors
    info = _d(info)
    listing = _d(listing)
    state = _d(info.get("State"))
    config = _d(info.get("Config"))
    host_config = _d(info.get("HostConfig"))
    settings = _d(info.get("NetworkSettings"))
    labels = _d(config.get("Labels")) or _d(listing.get("Labels"))
    name = str(info.get("Name") or (_l(listing.get("Names")) or [""])[0]).lstrip("/")
    cid = str(info.get("Id") or listing.get("Id") or "")
    status = _state(state) or (str(listing.get("State") or "").lower() or None)
    argv = [str(x) for x in ([info.get("Path")] if info.get("Path") else []) + _l(info.get("Args"))]
    policy = _d(host_config.get("RestartPolicy"))
    pid = max(_int(state.get("Pid")), 0)
    entry = {
        "id": cid,
        "short_id": cid[:12],
        "name": name,
        "engine": engine,
        "image": _s(config.get("Image")) or _s(listing.get("Image")),
        "command": mask_argv(argv),
        "state": status,
        "running": bool(state.get("Running")) and status != "restarting",
        "restarting": status == "restarting",
        "paused": bool(state.get("Paused")),
        "exit_code": _int(state.get("ExitCode"), None),
        "oom_killed": bool(state.get("OOMKilled")),
        "error": _line(state.get("Error")) if state.get("Error") else None,
        "started_at": parse_time(state.get("StartedAt")),
        "finished_at": parse_time(state.get("FinishedAt")),
        "pid": pid or None,
        "restart_count": _int(info.get("RestartCount")),
        "restart_policy": {"name": _s(policy.get("Name")) or "no", "max_retries": _int(policy.get("MaximumRetryCount"))},
        "health": _health(state),
        "compose": _compose(labels),
        "network_mode": _s(host_config.get("NetworkMode")),
        "networks": _networks(settings),
        "ports": _ports(settings, host_config),
        "mounts": _mounts(info.get("Mounts"), owner),
        "env_keys": _env_keys(config.get("Env")),
        "listeners": None,
        "nginx": None,
        "logs": None,
        "engine_uid": owner.uid if owner else None,
        "engine_user": owner.user if owner else None,
    }
    if owner:
        for m in entry["mounts"]:
            if m["type"] == "bind" and m["source"] and m["source_kind"] is None:
                errors.append(error("container", engine, "container %s of the rootless engine of uid %d claims the bind "
                                    "mount source %s, which that user does not own: not inspected"
                                    % (name, owner.uid, _line(m["source"], 200))))
    if read_proc and pid and status in ("running", "paused") and owner and not owner.owns_pid(pid, proc):
        errors.append(error("container", engine, "container %s of the rootless engine of uid %d claims the pid %d, "
                            "which is not a process of that user (or its subordinate uids): its listeners and nginx "
                            "are not read" % (name, owner.uid, pid)))
        read_proc = False
    if read_proc and pid and status in ("running", "paused"):
        entry["listeners"] = container_listeners(pid, entry["mounts"], proc)
        _check_mounts(entry["mounts"], pid, proc)
        masters = masters_below(pid, tree) if tree else []
        if masters:
            entry["nginx"] = container_nginx(masters[0], proc)
    return entry


def _mounts(mounts, owner=None):
    out = []
    for m in _l(mounts):
        m = _d(m)
        mtype = _s(m.get("Type")) or "bind"
        source = _s(m.get("Source"))
        entry = {
            "type": mtype,
            "name": _s(m.get("Name")),
            "source": source,
            "destination": _s(m.get("Destination")),
            "rw": bool(m.get("RW", True)),
            "source_kind": None,
            "sockets": [],
            "replaced": None,
        }
        if mtype == "bind" and source and (owner is None or _owned_by(source, owner.uid)):
            entry["source_kind"], entry["sockets"] = _source_kind(source)
        out.append(entry)
    return out


def _owned_by(path, uid):
    """``path`` is ``uid``'s, or missing (a missing source is a fact worth reporting, and nothing is listed)."""
    try:
        return os.lstat(path).st_uid == uid
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _source_kind(source):
    """What the host side of a bind mount is now (missing / directory / socket / file ...) and the
    unix sockets in it (a directory: its entries, not recursive, capped)."""
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return "missing", []
    except OSError:
        return "unreadable", []
    if stat.S_ISSOCK(st.st_mode):
        return "socket", [source]
    if stat.S_ISDIR(st.st_mode):
        socks = []
        try:
            with os.scandir(source) as it:
                for de in it:
                    try:
                        if stat.S_ISSOCK(de.stat(follow_symlinks=False).st_mode):
                            socks.append(de.path)
                    except OSError:
                        continue
                    if len(socks) >= MAX_SOCKETS_PER_MOUNT:
                        break
        except OSError:
            pass
        return "directory", sorted(socks)
    if stat.S_ISLNK(st.st_mode):
        return "symlink", []
    return "file" if stat.S_ISREG(st.st_mode) else "other", []


def _check_mounts(mounts, pid, proc):
    """``replaced``: the host side of a bind mount is no longer what the container sees (deleted and
    recreated, or a new mount over it): compared by device and inode through ``/proc/<pid>/root``."""
    root = os.path.join(proc, str(pid), "root")
    for m in mounts:
        if m["type"] != "bind" or not m["source"] or not m["destination"] or m["source_kind"] is None:
            continue
        if m["source_kind"] == "missing":
            m["replaced"] = True
            continue
        try:
            inside = stat_in_root(root, m["destination"])     # the container's links stay inside its root
            outside = os.stat(m["source"])
        except OSError:
            continue
        m["replaced"] = (inside.st_dev, inside.st_ino) != (outside.st_dev, outside.st_ino)


def container_listeners(pid, mounts=(), proc=PROC):
    """Listeners of the container's network namespace, read through its pid.

    ``shares_host_network``: the container uses the host's namespace (``--network host``), so these
    are the host's own listeners. Unix socket paths are as the container sees them; ``host_path``
    maps one to the host through a bind mount when one covers it.
    """
    base = os.path.join(proc, str(pid))
    out = {"tcp": [], "unix": [], "shares_host_network": None, "error": None}
    try:
        out["shares_host_network"] = os.readlink(os.path.join(base, "ns", "net")) == os.readlink(os.path.join(proc, "self", "ns", "net"))
    except OSError:
        pass
    try:
        for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
            path = os.path.join(base, "net", name)
            try:
                text = read_text(path)
            except FileNotFoundError:
                if name == "tcp6":
                    continue
                raise
            for e in parse_proc_net_tcp(text, family):
                item = {"family": e["family"], "address": e["address"], "port": e["port"]}
                if item not in out["tcp"]:
                    out["tcp"].append(item)
        for e in parse_proc_net_unix(read_text(os.path.join(base, "net", "unix"))):
            if not e["path"] or e["abstract"]:
                continue
            out["unix"].append({"path": e["path"], "host_path": _host_path(e["path"], mounts)})
    except OSError as exc:
        out["error"] = "cannot read the listeners of pid %s: %s" % (pid, exc.strerror or exc)
    out["tcp"].sort(key=lambda e: (e["port"], e["family"], e["address"]))
    out["unix"].sort(key=lambda e: e["path"])
    return out


def _host_path(path, mounts):
    best = None
    for m in mounts or ():
        dest = (m.get("destination") or "").rstrip("/")
        if m.get("type") != "bind" or not m.get("source") or not dest:
            continue
        if path == dest or path.startswith(dest + "/"):
            if best is None or len(dest) > len(best[0]):
                best = (dest, m["source"])
    if best is None:
        return None
    return best[1].rstrip("/") + path[len(best[0]):]


# ---------------------------------------------------------------- collection

def _needs_logs(c):
    health = c.get("health") or {}
    return (c.get("state") in _TROUBLED_STATES or c.get("restart_count") or c.get("oom_killed")
            or health.get("status") == "unhealthy")


def discover_sockets(sockets=None):
    """The engine sockets to ask: the given ones, else the default paths that exist and every
    rootless Podman socket; de-duplicated by real path (``/var/run`` is ``/run`` on most hosts)."""
    if sockets:
        candidates = list(sockets)
    else:
        candidates = [p for p in DEFAULT_SOCKETS if os.path.exists(p)] + sorted(glob.glob(ROOTLESS_GLOB))
    out, seen = [], set()
    for path in candidates:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        out.append(path)
    return out


def collect_containers(sockets=None, log_lines=20, max_containers=100, timeout=5.0, proc=PROC,
                       require_engine=False, subuid=SUBUID):
    """Return the ``containers`` section: ``{engines: [...], containers: [...], errors: [...]}``.

    ``sockets``: engine sockets to ask (default: see :func:`discover_sockets`); a given socket that is
    missing is an error, a default one is simply not there. ``require_engine``: no engine found at all
    is an error too (the ``container_facts`` module asks for containers, so it wants one). Never raises.
    """
    errors = []
    result = {"engines": [], "containers": [], "errors": errors}
    try:
        paths = discover_sockets(sockets)
        if not paths and require_engine:
            errors.append(error("containers", None, "no container engine socket found (looked at %s and %s)"
                                % (", ".join(DEFAULT_SOCKETS), ROOTLESS_GLOB)))
        for path in paths:
            _collect_engine(path, result, log_lines, max_containers, timeout, proc, subuid)
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback on the target
        errors.append(error("containers", None, "unexpected error while collecting containers: %r" % (exc,)))
    result["containers"].sort(key=lambda c: (c.get("name") or "", c.get("id") or ""))
    return result


def _collect_engine(path, result, log_lines, max_containers, timeout, proc, subuid=SUBUID):
    errors = result["errors"]
    client = EngineClient(path, timeout=timeout)
    uid = rootless_uid(path)
    engine = {"socket": path, "reachable": False, "kind": None, "version": None, "api_version": None,
              "containers": 0, "truncated": False, "rootless": uid is not None, "uid": uid}
    result["engines"].append(engine)
    owner = None
    if uid is not None:
        problem = rootless_problem(path, uid)
        if problem:
            errors.append(error("engine", path, problem))
            return
        owner = Owner(uid, subuid)
    try:
        client.check_socket()
        version = client.version()
        engine.update(reachable=True, kind=engine_kind(version), version=str(version.get("Version") or "") or None,
                      api_version=str(version.get("ApiVersion") or "") or None)
        listing = client.containers(all_=True)
    except EngineError as exc:
        errors.append(error("engine", path, str(exc)))
        return
    engine["containers"] = len(listing)
    tree = process_tree(proc) if any(str(c.get("State") or "").lower() == "running" for c in listing) else None
    if len(listing) > max_containers:
        engine["truncated"] = True
        errors.append(error("engine", path, "%d containers; only the first %d are described (max_containers)"
                            % (len(listing), max_containers)))
    for item in listing[:max_containers]:
        cid = _s(item.get("Id"))
        if not cid:
            continue
        try:
            entry = _describe(client, cid, item, path, log_lines, proc, tree, owner, errors)
        except EngineError as exc:
            if exc.status == 404:
                continue   # removed between the listing and the inspection
            errors.append(error("engine", path, str(exc)))
            continue
        except Exception as exc:  # pylint: disable=broad-except  # one malformed container must not cost the others
            errors.append(error("container", path, "cannot describe container %s: %s"
                                % (_line(cid, 80), _line(repr(exc), 200))))
            continue
        result["containers"].append(entry)


def _describe(client, cid, item, path, log_lines, proc, tree, owner, errors):
    info = client.inspect(cid)
    entry = container_facts(info, item, engine=path, proc=proc, tree=tree, owner=owner, errors=errors)
    if log_lines and _needs_logs(entry):
        try:
            tty = bool(_d(info.get("Config")).get("Tty"))
            lines = masked_lines(client.logs(cid, tail=log_lines, tty=tty))
            entry["logs"] = {"lines": [_line(x) for x in lines], "error": None}
        except EngineError as exc:
            entry["logs"] = {"lines": [], "error": str(exc)}
    return entry
