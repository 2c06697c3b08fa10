# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app server kinds: one spec each. Adding a kind is adding one ``Kind(...)`` here.

Option spellings, value types and defaults come from each server's own source (see
``tests/unit/plugins/module_utils/fixtures/app_servers/``, which the unit tests check these specs
against): gunicorn ``gunicorn/config.py``, uvicorn ``uvicorn/main.py``, hypercorn
``src/hypercorn/__main__.py`` and ``config.py``, daphne ``daphne/cli.py``, uWSGI ``core/uwsgi.c`` /
``core/init.c`` and its python and http plugins. Fact keys: ``bind`` (and ``host``/``port``/``uds``/
``fd``/``endpoint`` and uWSGI's socket keys) for the binds; ``timeout``, ``graceful_timeout``,
``keepalive``, ``workers``, ``max_requests``, ``backlog``, ``worker_class``, ``app`` as returned;
``config``/``ini``, ``chdir``, ``protocol``, ``umask`` used while reading. Options with key None
are read over and dropped; SECRET ones are never kept.
"""

from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.module_utils import _apps_binds as binds
from ansible_collections.badgateway.doctor.plugins.module_utils._apps_spec import (
    INT, LIST, MODE, SECONDS, SECRET, ConfigFile, Kind, Opt)


def _words(text):
    return tuple(text.split())


GUNICORN = Kind(
    "gunicorn",
    programs=("gunicorn",),
    titles=("gunicorn: ", "gunicorn:", "[gunicorn"),   # setproctitle'd master / workers
    options=(
        Opt("bind", ("-b", "--bind"), LIST),
        Opt("workers", ("-w", "--workers"), INT),
        Opt("worker_class", ("-k", "--worker-class")),
        Opt("timeout", ("-t", "--timeout"), SECONDS),
        Opt("graceful_timeout", ("--graceful-timeout",), SECONDS),
        Opt("keepalive", ("--keep-alive",), SECONDS, setting="keepalive"),
        Opt("max_requests", ("--max-requests",), INT),
        Opt("backlog", ("--backlog",), INT),
        Opt("umask", ("-m", "--umask"), MODE),
        Opt("protocol", ("--protocol",)),              # 24.0+: http or uwsgi, what the binds speak
        Opt("config", ("-c", "--config"), setting=()),
        Opt("chdir", ("--chdir",)),
        Opt("app", setting="wsgi_app"),                # config file only; else the positional
        Opt(None, ("-e", "--env"), SECRET, setting="raw_env"),
        Opt(None, ("--proxy-protocol",), optional=True, choices=("off", "v1", "v2", "auto")),   # a switch before 24.1
        Opt(None, _words("""-g --group -u --user -n --name -p --pid --access-logfile --access-logformat
            --error-logfile --log-file --log-level --log-config --log-config-json --log-syslog-to --log-syslog-prefix
            --log-syslog-facility --logger-class --threads --worker-connections --max-requests-jitter --limit-request-line
            --limit-request-fields --limit-request-field_size --reload-engine --reload-extra-file --worker-tmp-dir
            --forwarded-allow-ips --proxy-allow-from --uwsgi-allow-from --forwarder-headers --header-map --keyfile
            --certfile --ssl-version --cert-reqs --ca-certs --ciphers --statsd-host --statsd-prefix --dogstatsd-tags
            --pythonpath --paste --paster --paste-global --root-path --http-protocols --http-parser
            --http2-max-concurrent-streams --http2-initial-window-size --http2-max-frame-size
            --http2-max-header-list-size --asgi-loop --asgi-lifespan --asgi-disconnect-grace-period --dirty-app
            --dirty-workers --dirty-timeout --dirty-threads --dirty-graceful-timeout --control-socket
            --control-socket-mode"""), setting=()),
    ),
    switches=_words("""-D --daemon -R --enable-stdio-inheritance --reload --spew --check-config --print-config --preload
        --no-sendfile --reuse-port --initgroups --disable-redirect-access-to-syslog --capture-output --log-syslog
        --suppress-ragged-eofs --do-handshake-on-connect --permit-obsolete-folding --strip-header-spaces
        --permit-unconventional-http-method --permit-unconventional-http-version --casefold-http-method
        --enable-backlog-metric --no-control-socket -v --version -h --help"""),
    defaults={"bind": ["127.0.0.1:8000"], "workers": 1, "worker_class": "sync", "timeout": 30, "graceful_timeout": 30,
              "keepalive": 2, "max_requests": 0, "backlog": 2048, "umask": 0},
    env_defaults={"PORT": ("bind", "0.0.0.0:%s"), "WEB_CONCURRENCY": ("workers", "%s")},
    env_args="GUNICORN_CMD_ARGS",
    config=ConfigFile("config", reader="python", default="gunicorn.conf.py", schemes={"python:": None, "file:": "python"}),
    binds=binds.address_list,
    socket_activation=True,     # gunicorn takes the sockets of LISTEN_FDS instead of its binds
)

UVICORN = Kind(
    "uvicorn",
    programs=("uvicorn",),
    options=(
        Opt("host", ("--host",)),
        Opt("port", ("--port",), INT),
        Opt("uds", ("--uds",)),
        Opt("fd", ("--fd",), INT),
        Opt("workers", ("--workers",), INT),
        Opt("backlog", ("--backlog",), INT),
        Opt("max_requests", ("--limit-max-requests",), INT),
        Opt("keepalive", ("--timeout-keep-alive",), SECONDS),
        Opt("graceful_timeout", ("--timeout-graceful-shutdown",), SECONDS),
        Opt("chdir", ("--app-dir",)),
        Opt("app", setting="app"),                     # UVICORN_APP; else the positional
        Opt(None, ("--ssl-keyfile-password",), SECRET),
        Opt(None, _words("""--reload-dir --reload-include --reload-exclude --reload-delay --loop --http --ws --ws-max-size
            --ws-max-queue --ws-ping-interval --ws-ping-timeout --ws-per-message-deflate --lifespan --interface --env-file
            --log-config --log-level --forwarded-allow-ips --root-path --limit-concurrency --ssl-keyfile --ssl-certfile
            --ssl-version --ssl-cert-reqs --ssl-ca-certs --ssl-ciphers --header --h11-max-incomplete-event-size"""),
            setting=()),
    ),
    switches=_words("""--reload --access-log --no-access-log --use-colors --no-use-colors --proxy-headers --no-proxy-headers
        --server-header --no-server-header --date-header --no-date-header --factory --version --help"""),
    defaults={"host": "127.0.0.1", "port": 8000, "workers": 1, "keepalive": 5, "backlog": 2048},
    env_defaults={"WEB_CONCURRENCY": ("workers", "%s")},
    env_prefix="UVICORN_",      # click auto_envvar_prefix: UVICORN_PORT, UVICORN_TIMEOUT_KEEP_ALIVE, ...
    binds=binds.host_port,
)

HYPERCORN = Kind(
    "hypercorn",
    programs=("hypercorn",),
    options=(
        Opt("bind", ("-b", "--bind"), LIST),
        Opt("bind", ("--insecure-bind",), LIST, setting="insecure_bind"),
        Opt("workers", ("-w", "--workers"), INT),
        Opt("worker_class", ("-k", "--worker-class")),
        Opt("keepalive", ("--keep-alive",), SECONDS, setting="keep_alive_timeout"),
        Opt("graceful_timeout", ("--graceful-timeout",), SECONDS),
        Opt("max_requests", ("--max-requests",), INT),
        Opt("backlog", ("--backlog",), INT),
        Opt("umask", ("-m", "--umask"), MODE),
        Opt("config", ("-c", "--config"), setting=()),
        Opt(None, ("--keyfile-password",), SECRET),
        Opt(None, _words("""--access-log --access-logfile --access-logformat --ca-certs --certfile --cert-reqs --ciphers
            --error-log --error-logfile --log-file --read-timeout --max-requests-jitter -g --group --keyfile --log-config
            --log-level -p --pid --quic-bind --root-path --server-name --statsd-host --statsd-prefix -u --user
            --verify-mode --websocket-ping-interval"""), setting=()),
    ),
    switches=_words("-D --daemon --debug --reload -h --help"),
    defaults={"bind": ["127.0.0.1:8000"], "workers": 1, "worker_class": "asyncio", "keepalive": 5, "graceful_timeout": 3,
              "backlog": 100},
    config=ConfigFile("config", reader="toml", schemes={"python:": None, "file:": "python"}),
    binds=binds.address_list,
)

DAPHNE = Kind(
    "daphne",
    programs=("daphne",),
    options=(
        Opt("host", ("-b", "--bind")),
        Opt("port", ("-p", "--port"), INT),
        Opt("uds", ("-u", "--unix-socket")),
        Opt("fd", ("--fd",), INT),
        Opt("endpoint", ("-e", "--endpoint"), LIST),
        Opt("timeout", ("-t", "--http-timeout"), SECONDS),
        Opt(None, _words("""--websocket_timeout --websocket_connect_timeout -v --verbosity --access-log --log-fmt
            --ping-interval --ping-timeout --websocket-max-message-size --websocket-max-frame-size
            --application-close-timeout --root-path --proxy-headers-host --proxy-headers-port -s --server-name"""),
            setting=()),
    ),
    switches=_words("--proxy-headers --no-server-name -h --help"),
    defaults={"host": "127.0.0.1", "port": 8000},
    binds=binds.daphne,
)

UWSGI = Kind(
    "uwsgi",
    programs=("uwsgi",),
    titles=("uWSGI ", "uwsgi "),
    setting_style="long",          # ini keys and UWSGI_* variables are the long option names
    options=(
        Opt("socket", ("-s", "--socket", "--uwsgi-socket"), LIST, protocol="default"),
        Opt("http_socket", ("--http-socket", "--http11-socket"), LIST, protocol="http"),
        Opt("http", ("--http",), LIST, protocol="http"),                  # the http router
        Opt("fastcgi_socket", ("--fastcgi-socket",), LIST, protocol="fastcgi"),
        Opt("scgi_socket", ("--scgi-socket",), LIST, protocol="scgi"),
        Opt("protocol", ("--protocol", "--socket-protocol")),             # what --socket speaks (default uwsgi)
        Opt("workers", ("-p", "--processes", "--workers"), INT),
        Opt("timeout", ("-t", "--harakiri"), SECONDS),
        Opt("backlog", ("-l", "--listen"), INT),
        Opt("max_requests", ("-R", "--max-requests"), INT),
        Opt("app", ("-w", "--module", "--wsgi", "--wsgi-file", "--file")),
        Opt("ini", ("--ini",)),
        Opt("chdir", ("--chdir",)),
        Opt("umask", ("--umask",), MODE),
        Opt(None, ("--env",), SECRET),
        Opt(None, ("-S", "--set")),                                        # sets an option or a placeholder
        Opt(None, ("-C", "--chmod-socket", "--http-keepalive", "--need-app"), optional=True),
        Opt(None, _words("""-H --home --virtualenv --venv --uid --gid --chown-socket --pythonpath --callable --threads
            --logto --pidfile --stats --plugin --plugins -b --buffer-size --https --mount --static-map -d --daemonize
            --shared-socket --py-autoreload --touch-reload --reload-on-rss --max-worker-lifetime --cheaper
            --offload-threads --log-format --post-buffering --procname-prefix -x --xml -y --yaml -j --json"""),
            setting=()),
    ),
    switches=_words("""-M --master --vacuum --die-on-term -T --enable-threads --lazy-apps -i --single-interpreter
        --strict --thunder-lock --no-orphans --manage-script-name -L --disable-logging --harakiri-verbose"""),
    defaults={"workers": 1, "backlog": 100, "max_requests": 0},
    env_prefix="UWSGI_",           # core/utils.c parse_sys_envs: UWSGI_HTTP_SOCKET -> --http-socket, before the command line
    config=ConfigFile("ini", reader="ini", section="uwsgi", positional_suffixes=(".ini",)),
    lists_add_up=True,             # every --socket adds a socket, from every layer
    app_positional=False,
    protocol="uwsgi",
    binds=binds.uwsgi_sockets,
)

PHP_FPM = Kind(
    "php-fpm",
    programs=("php-fpm",),
    program_pattern=r"^php[\d.]*-?fpm(?![a-z])",  # php-fpm8.2, php8.2-fpm
    titles=("php-fpm: ",),
    title_is_args=True,            # "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"
    python_module=False,
    options=(
        Opt("config", ("-y", "--fpm-config")),
        Opt(None, _words("-c --php-ini -d --define -p --prefix -g --pid"), setting=()),
    ),
    switches=_words("-F --nodaemonize -D --daemonize -R --allow-to-run-as-root -O --force-stderr -t --test -h --help "
                    "-v --version"),
    config=ConfigFile("config", reader="php_fpm"),
    app_positional=False,
    protocol="fastcgi",
    pools=True,                    # one server entry per pool
    unit_words=("fpm",),
)

KINDS = {k.name: k for k in (GUNICORN, UVICORN, UWSGI, HYPERCORN, DAPHNE, PHP_FPM)}


def get(name):
    """The spec of a kind name, or None."""
    return KINDS.get(name)


def unit_words():
    """Words a unit file of any app server contains (lower-case, as the programs are named)."""
    words = []
    for kind in KINDS.values():
        for word in kind.unit_words:
            if word not in words:
                words.append(word)
    return tuple(words)


def wanted_env():
    """Environment variables whose values are read (never returned): argument variables, per-option
    variables of safe settings and the variables defaults depend on. Nothing else is kept."""
    names = set()
    for kind in KINDS.values():
        if kind.env_args:
            names.add(kind.env_args)
        names.update(kind.env_names())
        names.update(kind.env_defaults)
    return frozenset(names)
