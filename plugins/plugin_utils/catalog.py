# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure catalog: one entry per finding code, the single source of truth.

Every finding code, its layer, how fundamental it is (``priority``), what users see, which other
codes it explains (folds under itself), the remediation role that fixes it and whether that fix is
applied by default (``automatable``) or only when asked for (``opt_in``). The rules read their
codes, layers, priorities and causes from here; the README catalog table and ``docs/catalog.md``
are generated from it (``tests/unit/plugins/plugin_utils/catalog_docs.py``, checked by a test).

Entry fields:

``code``        the stable finding code.
``title``       a short name of the failure class.
``layer``       the layer of the request path it breaks: proxy | socket | app | system | network.
``priority``    0 is the most fundamental; a finding can only be explained by one of lower priority.
``users_see``   what users see (502, 504, intermittent ...), as the docs say it.
``evidence``    the facts the rule uses (docs).
``fix``         what to change (docs; a finding's ``fix.summary`` says it for the host at hand).
``explains``    codes this one folds as consequences when they share a subject (app, endpoint, route, file).
``role``        the remediation role (short name, ``badgateway.doctor.<role>``) that fixes it, or None.
``automatable`` the fix is safe to apply by default.
``opt_in``      the fix exists but is applied only when asked for (timeouts, workers, backlog: raising
                them can hide a slow app).
"""

from __future__ import annotations

import collections

COLLECTION = "badgateway.doctor"

SEVERITIES = ("critical", "warning", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# Layer order for sorting findings of equal severity: the order of the request path as the
# finding schema lists the layers (proxy first, the network link between hosts last).
LAYERS = ("proxy", "socket", "app", "system", "network")
LAYER_RANK = {name: i for i, name in enumerate(LAYERS)}

# The request path hop by hop (reports draw it), and the hop a layer breaks.
HOPS = ("client", "nginx", "endpoint", "listener", "app")
LAYER_HOP = {"proxy": "nginx", "socket": "endpoint", "network": "listener", "app": "app", "system": "app"}

# Remediation roles of this collection (each one concern; roles/<name>/meta/argument_specs.yml).
ROLES = ("app_service", "app_unit", "socket_permissions", "nginx_proxy", "nginx_reload", "container_service")

Entry = collections.namedtuple(
    "Entry", "code title layer priority users_see evidence fix explains role automatable opt_in")

# The codes an app that is down (or a dead upstream) shows up as, and what a boot failure adds.
_DOWN = ("APP_STOPPED", "APP_CRASH_LOOP", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE")
_BOOT = _DOWN + ("APP_BOOT_IMPORT_ERROR",)
# What a container that does not serve its route shows up as on the host side (and in the other container codes).
_CONTAINER_DOWN = ("APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "UPSTREAM_TIMEOUT",
                   "SOCKET_MISSING", "TARGET_MISMATCH_SOCKET", "CONTAINER_UNHEALTHY", "CONTAINER_NOT_LISTENING",
                   "CONTAINER_LOOPBACK_BIND")
# Why an app cannot start: the crash loop's fix is the fix of the one of these folded under it.
BOOT_CAUSES = ("APP_EXEC_MISSING", "APP_WORKDIR_MISSING", "APP_ENV_FILE_MISSING", "DEPENDENCY_DOWN",
               "APP_BOOT_IMPORT_ERROR", "OOM_KILL")


def _entry(code, *, title, layer, priority, users_see, evidence, fix, explains=(), role=None, automatable=False,
           opt_in=False):
    return Entry(code, title, layer, priority, users_see, evidence, fix, frozenset(explains), role, automatable, opt_in)


_ENTRIES = (
    _entry("APP_STOPPED", title="app service stopped", layer="app", priority=21,
           users_see="502 (critical when an nginx route on any inventory host uses the app; info otherwise)",
           evidence="`systemctl show` ActiveState/SubState/Result; nginx `connect() … (111)` / `(2)` lines for its binds; probes; "
                    "no listener on the route's endpoint",
           fix="`systemctl enable --now <unit>`",
           explains=set(_DOWN) - {"APP_STOPPED", "APP_CRASH_LOOP"}, role="app_service", automatable=True),
    _entry("APP_CRASH_LOOP", title="app service crash-looping", layer="app", priority=20,
           users_see="502, or intermittent while it is up between restarts",
           evidence="NRestarts, SubState `auto-restart`, Result `start-limit-hit`, `unit_failed` / `exec_failed` / `start_limit_hit` "
                    "journal events, the exception every start dies with. Headline when systemd never gives up (Restart=always or "
                    "> 5 restarts); otherwise the boot error is the root and the loop its consequence",
           fix="the fix of its cause when one is folded under it; else read why it exits, `systemctl reset-failed` + restart",
           explains=set(_DOWN) - {"APP_CRASH_LOOP"}),
    _entry("APP_BOOT_IMPORT_ERROR", title="app fails to load (import error)", layer="app", priority=10,
           users_see="502",
           evidence="journal: `ModuleNotFoundError`, `ImportError`, `ImproperlyConfigured`, `Worker failed to boot`, uvicorn "
                    "`Error loading ASGI app`; the `module:app` path",
           fix="correct the module path / `--chdir` / venv packages",
           explains=_DOWN),
    _entry("APP_ENV_FILE_MISSING", title="EnvironmentFile missing", layer="app", priority=8,
           users_see="502",
           evidence="unit `EnvironmentFile=` (required, no `-`) that does not exist; `Failed to load environment files`",
           fix="restore the file or make it optional",
           explains=_BOOT),
    _entry("APP_EXEC_MISSING", title="ExecStart binary missing", layer="app", priority=6,
           users_see="502",
           evidence="`ExecStart` binary missing / not executable; `status=203/EXEC`",
           fix="recreate the venv / fix `ExecStart=`",
           explains=_BOOT),
    _entry("APP_WORKDIR_MISSING", title="WorkingDirectory missing", layer="app", priority=7,
           users_see="502",
           evidence="`WorkingDirectory=` missing; `status=200/CHDIR`",
           fix="deploy the app there or fix `WorkingDirectory=`",
           explains=_BOOT),
    _entry("DEPENDENCY_DOWN", title="database / backing service down", layer="app", priority=9,
           users_see="502 (the app does not start), 500s when it runs",
           evidence="journal: `OperationalError`, `ConnectionRefusedError`, \"could not connect to server\" at boot; "
                    "`Requires=`/`After=` on database units",
           fix="start the database; order the units (`Requires=`/`After=`) or retry at boot",
           explains=_BOOT, role="app_service", automatable=True),
    _entry("SOCKET_MISSING", title="unix socket missing", layer="socket", priority=39,
           users_see="502",
           evidence="the route's unix socket path does not exist (first missing component) or nothing listens on it (stale file); "
                    "`(2: No such file or directory)` lines",
           fix="start the app that creates it / point nginx at the real socket",
           explains=("NO_LIVE_UPSTREAMS",), role="app_service", automatable=True),
    _entry("TARGET_MISMATCH_PORT", title="nginx targets another port than the app's", layer="proxy", priority=25,
           users_see="502",
           evidence="nothing listens on the route's host:port while an app server listens on another port (or on another address of "
                    "the same family, e.g. 127.0.0.1 only while nginx dials the host's IP)",
           fix="make `proxy_pass` and `--bind` agree",
           explains=("NO_LIVE_UPSTREAMS",), role="nginx_proxy", automatable=True),
    _entry("TARGET_MISMATCH_SOCKET", title="nginx targets another socket than the app's", layer="proxy", priority=24,
           users_see="502",
           evidence="the route's socket path has no listener while an app server binds another unix socket",
           fix="make `proxy_pass` and `--bind` agree",
           explains=("NO_LIVE_UPSTREAMS", "SOCKET_MISSING"), role="nginx_proxy", automatable=True),
    _entry("IP_FAMILY_MISMATCH", title="IPv4 / IPv6 mismatch", layer="proxy", priority=26,
           users_see="502 when no address works; otherwise intermittent (refused on one family, retried on the other; errors in "
                     "the log, added latency)",
           evidence="the route's name resolves to `::1`/`127.0.0.1`; listeners on the port in the other family only; "
                    "`upstream: \"http://[::1]:…\"` lines",
           fix="use the literal address in `proxy_pass`, or bind both families",
           explains=("NO_LIVE_UPSTREAMS",), role="nginx_proxy", automatable=True),
    _entry("SOCKET_DIR_PERMISSION", title="socket directory not searchable by nginx", layer="socket", priority=30,
           users_see="502",
           evidence="`(13: Permission denied)` lines; the path walk: the directory nginx's worker user cannot search (mode, owner, "
                    "ACL, the user's groups); direct probe OK as root but nginx fails",
           fix="`RuntimeDirectoryMode=` / group / ACL on the directory",
           explains=("NO_LIVE_UPSTREAMS",), role="socket_permissions", automatable=True),
    _entry("SOCKET_FILE_PERMISSION", title="socket not writable by nginx", layer="socket", priority=31,
           users_see="502",
           evidence="`(13: Permission denied)`; socket mode/owner vs nginx's user and groups",
           fix="umask / `SocketGroup=`/`SocketMode=`",
           explains=("NO_LIVE_UPSTREAMS",), role="socket_permissions", automatable=True),
    _entry("RUNTIME_DIRECTORY_MISSING", title="socket directory without RuntimeDirectory=", layer="socket", priority=5,
           users_see="502 when the directory is gone now (e.g. after a reboot); otherwise a warning: 502 after the next reboot",
           evidence="socket under `/run/<dir>/` and neither the app's unit nor a `.socket` unit has `RuntimeDirectory=` covering "
                    "it; directory missing or root-owned; the app's bind errors",
           fix="add `RuntimeDirectory=<dir>`",
           explains=set(_DOWN) | {"SOCKET_DIR_PERMISSION"}, role="app_unit", automatable=True),
    _entry("PRIVATE_TMP_SOCKET", title="socket in a private /tmp", layer="socket", priority=23,
           users_see="502",
           evidence="socket in `/tmp` or `/var/tmp` while nginx's or the app's unit has `PrivateTmp=yes`; `/proc/net/unix` lists "
                    "the socket but nginx's view has no file",
           fix="move the socket to `/run/<app>/` with `RuntimeDirectory=`",
           explains=("SOCKET_MISSING", "NO_LIVE_UPSTREAMS"), role="app_unit", automatable=True),
    _entry("WORKER_TIMEOUT", title="app server kills slow workers", layer="app", priority=34,
           users_see="intermittent 502 on slow requests (502 when the probe fails)",
           evidence="gunicorn `[CRITICAL] WORKER TIMEOUT`; `--timeout` vs `proxy_read_timeout`; `upstream prematurely closed` "
                    "folded in",
           fix="make slow requests faster; raise `--timeout` below `proxy_read_timeout`",
           explains=("PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS"), role="app_unit", opt_in=True),
    _entry("UPSTREAM_TIMEOUT", title="upstream timed out (504)", layer="app", priority=38,
           users_see="504 (intermittent 504 from the log alone)",
           evidence="`upstream timed out (110: Connection timed out)`; probe through nginx 504 / direct probe timeout; "
                    "`proxy_read_timeout` with file:line",
           fix="speed up the request, or raise `proxy_read_timeout` on that location",
           explains=("NO_LIVE_UPSTREAMS",), role="nginx_proxy", opt_in=True),
    _entry("OOM_KILL", title="OOM kill", layer="system", priority=12,
           users_see="intermittent 502 while the app stays up, 502 when it is down",
           evidence="kernel `Killed process N (gunicorn)` (counted only when this host corroborates it: the app's pid, a gunicorn "
                    "`was sent SIGKILL! Perhaps out of memory?`, or Result `oom-kill`; otherwise info, since containers share the "
                    "kernel log); `MemoryMax=`, workers",
           fix="lower workers / `--max-requests`; raise `MemoryMax=` if there is room",
           explains=_DOWN),
    _entry("KEEPALIVE_RACE", title="keep-alive race", layer="proxy", priority=35,
           users_see="intermittent 502 (reset / prematurely closed)",
           evidence="upstream `keepalive` in use (HTTP/1.1, `Connection \"\"`) with nginx keeping idle connections longer than the "
                    "app's keep-alive (gunicorn sync workers are exempt: they close every connection)",
           fix="nginx `keepalive_timeout` below the app's keep-alive",
           explains=("PREMATURE_CLOSE",), role="nginx_proxy", automatable=True),
    _entry("PROTOCOL_MISMATCH", title="protocol mismatch", layer="proxy", priority=33,
           users_see="502",
           evidence="`uwsgi_pass` / `fastcgi_pass` / `scgi_pass` to gunicorn/uvicorn (HTTP), `proxy_pass` to a uwsgi-protocol "
                    "socket or PHP-FPM; `prematurely closed` lines",
           fix="use the directive the app server speaks",
           explains=("PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS", "HEADER_TOO_BIG", "WORKER_TIMEOUT", "UPSTREAM_TIMEOUT"),
           role="nginx_proxy", automatable=True),
    _entry("BACKLOG_FULL", title="listen backlog full", layer="socket", priority=37,
           users_see="intermittent 502 under load (502 when the probe fails)",
           evidence="`(11: Resource temporarily unavailable)` lines; listen queue current = max",
           fix="more workers / async workers; then `--backlog` and `net.core.somaxconn`",
           explains=("NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"), role="app_unit", opt_in=True),
    _entry("HEADER_TOO_BIG", title="upstream header too big", layer="proxy", priority=36,
           users_see="502 on responses with large headers",
           evidence="`upstream sent too big header`; `proxy_buffer_size` with file:line",
           fix="raise `proxy_buffer_size` / `proxy_buffers`, or send smaller headers",
           explains=("NO_LIVE_UPSTREAMS",), role="nginx_proxy", automatable=True),
    _entry("NO_LIVE_UPSTREAMS", title="no live upstreams", layer="proxy", priority=41,
           users_see="502 until `fail_timeout` passes",
           evidence="`no live upstreams` lines for the upstream group; its servers and `max_fails`/`fail_timeout`",
           fix="fix the servers' failures (usually folded under their cause)"),
    _entry("PREMATURE_CLOSE", title="upstream closed / reset the connection", layer="app", priority=40,
           users_see="intermittent 502",
           evidence="`upstream prematurely closed connection`, `recv() failed (104: Connection reset by peer)`, direct probe "
                    "`ECONNRESET` (usually folded under a worker timeout, OOM kill, keepalive race or protocol mismatch)",
           fix="read the app server's log at those times",
           explains=("NO_LIVE_UPSTREAMS",)),
    _entry("NGINX_DOWN", title="nginx enabled but not running", layer="proxy", priority=2,
           users_see="connection refused or time-outs on every route (not 502: nothing answers HTTP)",
           evidence="`nginx.service` enabled (or failed / restarting) and no nginx master process; the unit journal's lines of the "
                    "last start attempt: `bind() to 0.0.0.0:80 failed (98: Address already in use)` (and who holds the port), "
                    "`[emerg] ... in file:line`, `open() \"/run/nginx.pid\" failed (13: Permission denied)`",
           fix="remove the cause the journal names (free the port, fix the file:line, make the log / pid path writable), then "
               "`systemctl start nginx`",
           explains=("NGINX_CONFIG_INVALID", "NGINX_CONFIG_STALE", "FACTS_INCOMPLETE")),
    _entry("NGINX_CONFIG_INVALID", title="nginx configuration invalid", layer="proxy", priority=3,
           users_see="nothing yet when nginx still runs the old config, but the next reload/restart fails; no service when nginx "
                     "is down",
           evidence="`nginx -t` output with file:line, `[emerg]` lines",
           fix="fix the file:line, `nginx -t`, reload",
           explains=("NGINX_CONFIG_STALE", "FACTS_INCOMPLETE")),
    _entry("NGINX_CONFIG_STALE", title="nginx configuration not reloaded", layer="proxy", priority=22,
           users_see="what runs is not what the files say (critical when the upstream answers directly but nginx fails: the proxy "
                     "side)",
           evidence="config files modified after the oldest worker started (mtimes vs worker start); findings derived from those "
                    "files are folded under it",
           fix="`nginx -t && systemctl reload nginx`",
           explains=("TARGET_MISMATCH_PORT", "TARGET_MISMATCH_SOCKET", "IP_FAMILY_MISMATCH", "PROTOCOL_MISMATCH", "HEADER_TOO_BIG",
                     "KEEPALIVE_RACE", "UPSTREAM_TIMEOUT", "SOCKET_MISSING", "NO_LIVE_UPSTREAMS", "CROSS_HOST_LOOPBACK_BIND",
                     "CROSS_HOST_NOT_LISTENING", "PREMATURE_CLOSE"),
           role="nginx_reload", automatable=True),
    _entry("CROSS_HOST_LOOPBACK_BIND", title="app on another host bound to loopback", layer="network", priority=27,
           users_see="502",
           evidence="the route's address belongs to another inventory host whose listeners on that port are bound to loopback only",
           fix="bind the app on the host's address (or 0.0.0.0 behind a firewall)",
           explains=("NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"), role="app_unit", automatable=True),
    _entry("CROSS_HOST_NOT_LISTENING", title="nothing listens on the other host", layer="network", priority=28,
           users_see="502",
           evidence="the other inventory host has nothing on that port (its app servers' binds, stopped units)",
           fix="start the app there or make the ports agree",
           explains=("NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT"), role="app_service", automatable=True),
    _entry("CROSS_HOST_UNCHECKED", title="target on another host not checked", layer="network", priority=42,
           users_see="info: could not check",
           evidence="the route's address is not local and belongs to no inventory host (or that host is unreachable)",
           fix="add the host to the inventory"),
    _entry("SELINUX_BLOCKS_UPSTREAM", title="SELinux blocks the upstream", layer="system", priority=32,
           users_see="502 (critical with `(13)` on a TCP upstream or a proxy-side probe failure; warning otherwise)",
           evidence="SELinux enforcing, `httpd_can_network_connect` off, TCP upstreams",
           fix="`setsebool -P httpd_can_network_connect 1` or label the port",
           explains=("NO_LIVE_UPSTREAMS",)),
    _entry("PHP_FPM_SOCKET_OWNER", title="PHP-FPM socket owner", layer="socket", priority=29,
           users_see="502",
           evidence="pool `listen.owner`/`listen.group`/`listen.mode` vs nginx's user and groups; `(13)` lines",
           fix="set `listen.owner`/`listen.group` to nginx's user",
           explains=("SOCKET_FILE_PERMISSION", "NO_LIVE_UPSTREAMS"), role="socket_permissions", automatable=True),
    _entry("CONTAINER_LOOPBACK_BIND", title="app in a container bound to loopback", layer="network", priority=16,
           users_see="502",
           evidence="the `containers` facts: the route's host:port is published by a running container whose network namespace "
                    "listens on the container port on 127.0.0.1 / ::1 only (`/proc/<pid>/net/tcp*`); without those facts: the port "
                    "is published by a container proxy (`docker-proxy`, `rootlessport`, …) and connections are reset",
           fix="bind the app to 0.0.0.0 inside the container (Compose `command:` / image CMD)",
           explains=("PREMATURE_CLOSE", "NO_LIVE_UPSTREAMS", "APP_STOPPED", "TARGET_MISMATCH_PORT", "CONTAINER_UNHEALTHY")),
    _entry("CONTAINER_STOPPED", title="app container stopped", layer="app", priority=14,
           users_see="502",
           evidence="the route's host:port is published by (or its unix socket is in a bind mount of) a container whose state is "
                    "`exited` / `created` / `dead` / `paused` (Engine API inspect: exit code, restart count and policy, its last "
                    "log lines)",
           fix="start it (`docker start` / `podman start` / `docker compose up -d`); a restart policy `no` keeps it down: set "
               "`restart: unless-stopped`",
           explains=_CONTAINER_DOWN, role="container_service", automatable=True),
    _entry("CONTAINER_CRASH_LOOP", title="app container crash-looping", layer="app", priority=13,
           users_see="502, or errors between restarts",
           evidence="state `restarting`, or a restart count of 3 or more with a restart policy, not healthy; the exception in "
                    "its last log lines",
           fix="read why it exits (`logs --tail 50`) and fix the image, command or environment; restarting changes nothing",
           explains=set(_CONTAINER_DOWN) | {"CONTAINER_STOPPED"}),
    _entry("CONTAINER_OOM_KILLED", title="app container OOM-killed", layer="app", priority=11,
           users_see="502 while it is down, intermittent 502 when it restarts",
           evidence="Engine API `State.OOMKilled` of the container behind the route (its memory limit), exit code 137",
           fix="raise the container's memory limit (`mem_limit:`, `--memory`) or lower the app's memory use (fewer workers)",
           explains=set(_CONTAINER_DOWN) | {"CONTAINER_STOPPED", "CONTAINER_CRASH_LOOP", "OOM_KILL"}),
    _entry("CONTAINER_UNHEALTHY", title="app container unhealthy", layer="app", priority=17,
           users_see="504 / 502 or slow answers (critical when the probe through nginx fails, warning otherwise)",
           evidence="health status `unhealthy`, failing streak and the last health check's output (masked)",
           fix="read the health check's output and the app's log; restart only once the cause is known",
           explains=("NO_LIVE_UPSTREAMS", "UPSTREAM_TIMEOUT", "PREMATURE_CLOSE", "APP_STOPPED")),
    _entry("CONTAINER_NOT_LISTENING", title="nothing listens inside the container", layer="network", priority=15,
           users_see="502",
           evidence="the published port's container port has no listener in the container's network namespace "
                    "(`/proc/<pid>/net/tcp*`); what does listen there; the container's command",
           fix="make the app listen on 0.0.0.0:<container port>, or publish the port it listens on",
           explains=("APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "CONTAINER_UNHEALTHY")),
    _entry("CONTAINER_PORT_UNPUBLISHED", title="published port changed", layer="proxy", priority=18,
           users_see="502",
           evidence="no container publishes the route's host port and nothing on the host listens on it, while containers publish "
                    "other ports (the mapping changed)",
           fix="point nginx at the port published now, or publish the old port again and recreate the container",
           explains=("APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS")),
    _entry("CONTAINER_NGINX_LOOPBACK", title="nginx in a container proxies to its own loopback", layer="proxy", priority=19,
           users_see="502",
           evidence="an nginx master process below a container's init, its configuration read through `/proc/<pid>/root` "
                    "(`-c` or `/etc/nginx/nginx.conf`): a route to 127.0.0.1 / ::1 / localhost with nothing listening on that port "
                    "in the container's network namespace; where the app does listen (another container, the host)",
           fix="proxy to the app's Compose service name (`http://web:8000`), or to the host through its gateway name; "
               "127.0.0.1 in a container is the container itself",
           explains=("NO_LIVE_UPSTREAMS", "PREMATURE_CLOSE", "UPSTREAM_TIMEOUT")),
    _entry("CONTAINER_NAME_ONLY_IN_NETWORK", title="upstream name only resolves in a container network", layer="proxy",
           priority=1,
           users_see="nginx refuses the configuration (`host not found in upstream`): the next reload / restart fails; 502 with a "
                     "resolver",
           evidence="the route's host is a container name, Compose service or network alias that does not resolve on the host "
                    "where nginx runs; `nginx -t`",
           fix="nginx on the host: proxy to the published port (127.0.0.1:<host port>); or run nginx in the same Compose project",
           explains=("NGINX_DOWN", "NGINX_CONFIG_INVALID", "NGINX_CONFIG_STALE", "FACTS_INCOMPLETE", "CROSS_HOST_UNCHECKED",
                     "APP_STOPPED", "TARGET_MISMATCH_PORT", "NO_LIVE_UPSTREAMS")),
    _entry("CONTAINER_BIND_SOURCE_MISSING", title="socket's bind-mount source missing or replaced", layer="socket", priority=4,
           users_see="502",
           evidence="the route's unix socket lies in a bind mount's host directory that is missing, or was deleted and recreated "
                    "after the container started (device/inode through `/proc/<pid>/root` differ): the container still serves "
                    "the socket in the old directory",
           fix="recreate the container (`up -d --force-recreate`) so that it mounts the current directory",
           explains=("SOCKET_MISSING", "TARGET_MISMATCH_SOCKET", "APP_STOPPED", "NO_LIVE_UPSTREAMS",
                     "RUNTIME_DIRECTORY_MISSING")),
    _entry("HOST_UNREACHABLE", title="host unreachable", layer="network", priority=0,
           users_see="unknown: nothing could be checked (status `unreachable`)",
           evidence="the connection error",
           fix="make the host reachable and run again"),
    _entry("FACTS_INCOMPLETE", title="facts incomplete", layer="system", priority=43,
           users_see="findings may miss the cause (warning for core sections or non-root; info for logs/probes/system notes; "
                     "critical when gathering failed or an nginx failure has no explanation)",
           evidence="the fact sources' `errors`, missing sections, `is_root`",
           fix="run as root; fix the failing sources"),
    _entry("NGINX_NOT_SERVING", title="nginx installed but not in use", layer="proxy", priority=44,
           users_see="info: this host serves no HTTP through nginx (an app-only host)",
           evidence="nginx installed, its unit disabled and stopped, no master process: the configuration files on disk are not "
                    "served, so no route finding is raised from them",
           fix="nothing on an app-only host; otherwise `systemctl enable --now nginx`"),
)

CATALOG = collections.OrderedDict((e.code, e) for e in _ENTRIES)

# Derived views (what the rules and the reports use).
CODES = tuple(CATALOG)
PRIORITY = tuple(sorted(CODES, key=lambda c: CATALOG[c].priority))
PRIORITY_RANK = {c: CATALOG[c].priority for c in CODES}
CAUSES = {c: set(e.explains) for c, e in CATALOG.items() if e.explains}
AUTOMATABLE = tuple(c for c, e in CATALOG.items() if e.automatable)
OPT_IN = tuple(c for c, e in CATALOG.items() if e.opt_in)


def entry(code):
    """The catalog entry of ``code`` (KeyError for an unknown code: a rule must use a catalogued one)."""
    return CATALOG[code]


def role_fqcn(role):
    """``app_service`` -> ``badgateway.doctor.app_service``."""
    return f"{COLLECTION}.{role}"
