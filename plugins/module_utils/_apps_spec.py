# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an app server kind is made of, and the one command-line parser that reads every kind.

A kind (gunicorn, uvicorn, ...) is one ``Kind`` value in ``_apps_kinds``: the names its program
runs under, its options (spellings, the fact key each sets, the value type), its switches (options
without a value), its defaults, how its binds are written, and its configuration layers (an
environment variable holding more arguments, environment variables per option, a config file,
systemd socket activation). Everything else in the ``apps`` section works from these values.
"""

from __future__ import annotations

import re

# Value types of an option. Only the parser and the settings merge look at them.
STR = "str"          # one value; the last occurrence wins
INT = "int"          # a whole number (workers, backlog, max_requests)
SECONDS = "seconds"  # a number of seconds (timeouts, keep-alive)
MODE = "mode"        # a file mode / umask (gunicorn reads "007" as octal, "22" as decimal)
LIST = "list"        # may be given several times; every value counts (binds)
SECRET = "secret"    # a value that must never be kept (gunicorn -e KEY=VALUE): parsed over, dropped

_APP_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(?:\(.*\))?$")


class Opt:
    """One option: its command-line spellings, the fact key it sets and its value type.

    ``key`` None: the option is read over (so that its value is not taken for the app) and dropped.
    ``setting``: the server's own name(s) for it in config files and environment variables; when
    None, the kind derives them from the long spelling (see ``Kind.setting_style``); ``()``: none.
    ``optional``: the value may be left out. ``choices`` then says which next arguments are its value
    (argparse ``nargs="?"``); without choices only an attached value counts (getopt ``optional_argument``).
    ``protocol``: for a bind option, the protocol a client must speak to it.
    """

    __slots__ = ("key", "flags", "type", "setting", "optional", "choices", "protocol")

    def __init__(self, key, flags=(), vtype=STR, setting=None, optional=False, choices=(), protocol=None):
        self.key = key
        self.flags = tuple(flags)
        self.type = vtype
        self.setting = (setting,) if isinstance(setting, str) else None if setting is None else tuple(setting)
        self.optional = optional
        self.choices = tuple(choices)
        self.protocol = protocol

    def __repr__(self):
        return "Opt(%r, %r, %r)" % (self.key, self.flags, self.type)


class ConfigFile:
    """Where a kind's config file is named and how it is read.

    ``key``: the option key naming the file (``config`` for gunicorn ``-c``); ``default``: the file
    read when none is named (relative to the working directory); ``reader``: ``python`` (module-level
    assignments, read with ``ast``), ``ini`` (``section``), ``toml`` (top-level keys) or ``php_fpm``.
    ``schemes``: prefixes the server accepts before the location (``python:`` names a module).
    ``positional_suffixes``: a bare argument with one of these suffixes is a config file (``uwsgi app.ini``).
    """

    __slots__ = ("key", "default", "reader", "section", "schemes", "positional_suffixes")

    def __init__(self, key, reader, default=None, section=None, schemes=None, positional_suffixes=()):
        self.key = key
        self.reader = reader
        self.default = default
        self.section = section
        self.schemes = dict(schemes or {})
        self.positional_suffixes = tuple(positional_suffixes)


class Kind:
    """One app server kind. See the module docstring and ``_apps_kinds`` for the values."""

    def __init__(self, name, programs, options, switches=(), defaults=None, binds=None, titles=(),
                 title_is_args=False, python_module=True, env_args=None, env_prefix=None, env_defaults=None,
                 config=None, socket_activation=False, lists_add_up=False, app_positional=True, setting_style="name",
                 program_pattern=None, protocol="http", pools=False, unit_words=()):
        self.name = name
        self.programs = tuple(programs)
        self.options = tuple(options)
        self.switches = frozenset(switches)
        self.defaults = dict(defaults or {})
        self.binds = binds
        self.titles = tuple(titles)
        self.title_is_args = title_is_args
        self.python_module = python_module
        self.env_args = env_args
        self.env_prefix = env_prefix
        self.env_defaults = dict(env_defaults or {})
        self.config = config
        self.socket_activation = socket_activation
        self.lists_add_up = lists_add_up
        self.app_positional = app_positional
        self.setting_style = setting_style
        self.program_re = re.compile(program_pattern) if program_pattern else None
        self.protocol = protocol
        self.pools = pools
        self.unit_words = tuple(unit_words) or self.programs
        self.by_flag = {}
        self.by_setting = {}
        self.types = {}
        for opt in self.options:
            for flag in opt.flags:
                if flag in self.by_flag or flag in self.switches:
                    raise ValueError("%s: %s is given twice in the spec" % (name, flag))
                self.by_flag[flag] = opt
            for setting in self.settings_of(opt):
                self.by_setting.setdefault(setting, opt)
            if opt.key is not None:
                self.types.setdefault(opt.key, opt.type)

    def settings_of(self, opt):
        """The server's own names of an option in config files and environment variables."""
        if opt.setting is not None:
            return opt.setting
        longs = [f[2:] for f in opt.flags if f.startswith("--")]
        if self.setting_style == "long":   # uWSGI: every long spelling is also an ini key / UWSGI_ variable
            return tuple(longs)
        return (longs[0].replace("-", "_"),) if longs else ()

    def env_names(self):
        """{environment variable: Opt} of the per-option variables (``UVICORN_PORT``), safe keys only."""
        if not self.env_prefix:
            return {}
        out = {}
        for setting, opt in self.by_setting.items():
            if opt.key is not None and opt.type != SECRET:
                out[self.env_prefix + setting.upper().replace("-", "_")] = opt
        return out

    def reads(self, flag):
        """How the parser reads ``flag``: "no" (a switch), "yes" (takes a value), "optional", or None (unknown)."""
        if flag in self.switches:
            return "no"
        opt = self.by_flag.get(flag)
        if opt is None:
            return None
        return "optional" if opt.optional else "yes"

    def reads_like(self, flag, takes):
        """Whether the parser reads ``flag`` as a server that declares it ``takes`` ("no"/"yes"/"optional") does.
        An optional value is right for a switch: a later version of the server may have made it optional."""
        ours = self.reads(flag)
        return ours == takes or (ours == "optional" and takes == "no")

    def matches_program(self, name):
        """Whether an executable (or python module) name is this kind: ``gunicorn3``, ``uwsgi_python3``."""
        name = name.lower()
        if self.program_re is not None:
            return bool(self.program_re.match(name))
        for prog in self.programs:
            if name == prog or (name.startswith(prog) and not name[len(prog):].isalpha()):
                return True
        return False


def parse_args(kind, args):
    """Read an argument list by the kind's spec -> (settings {key: value | [values]}, positionals [str]).

    Values are kept as the strings given; SECRET values are not kept at all. An unknown option takes
    the next argument as its value unless that looks like an option; when no positional is left, an
    unknown option's value that looks like ``module:callable`` is taken as the app.
    """
    settings = {}
    positionals = []
    unknown_values = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a == "--":
            positionals.extend(args[i:])
            break
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            inline = bool(eq)            # --bind= gives an empty value, --bind takes the next argument
        elif a.startswith("-") and len(a) > 1:
            name = a[:2]
            if name in kind.switches and len(a) == 2:
                continue
            val = a[2:]
            if val.startswith("="):
                val = val[1:]
            inline = bool(val)           # -b=X and -bX carry it; -b and -b= take the next argument
        else:
            positionals.append(a)
            continue
        opt = kind.by_flag.get(name)
        if not inline:
            if name in kind.switches:
                continue
            if opt is None:
                if i >= n or args[i].startswith("-"):
                    continue
            elif opt.optional:
                if i >= n or args[i] not in opt.choices:
                    continue
            elif i >= n:
                continue
            val = args[i]
            i += 1
        if opt is None:
            unknown_values.append(val)
            continue
        store(settings, opt, val)
    if not positionals:
        positionals = [v for v in unknown_values if _APP_RE.match(v)][:1]
    return settings, positionals


def store(settings, opt, value):
    """Put one option value into a settings dict (lists grow, SECRET and key-less options are dropped)."""
    if opt.key is None or opt.type == SECRET:
        return
    if opt.type == LIST:
        settings.setdefault(opt.key, []).append(value)
    else:
        settings[opt.key] = value
