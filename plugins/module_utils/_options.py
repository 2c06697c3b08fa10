# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options several modules share, defined once: argument spec, limits and error messages.

A *concept* (a log window, a byte cap, a probe timeout ...) has one spec, one check and one
message; a module names the option as it always did (``gateway_facts`` says ``probe_timeout``
and ``max_log_bytes``, ``upstream_probe`` says ``timeout``, ``service_log_facts`` says
``max_bytes``) and gets the same type, default, limits and wording. The documentation of these
options is rendered from the same table by the ``badgateway.doctor.options`` doc fragment.

Public API (stable):

``argument_spec(names)``
    ``names`` maps option name -> concept; returns the argument_spec entries (fresh copies).
``problems(params, names)``
    The messages for every option of ``names`` whose value is out of its limits.
``validate(module, names)``
    ``module.fail_json`` with the first problem; returns the module's params.
``check_probe_path(text)`` / ``check_host_header(text)`` / ``check_unit_name(text)``
    ``None`` when acceptable, else the reason (a phrase) - also for values that do not come
    from options (routes in facts).
``DOCS`` / ``render_doc_fragment()``
    The description of each concept, and the text of ``plugins/doc_fragments/options.py`` made
    from ``DOCS`` and the specs (a unit test checks that file against it; regenerate it with
    ``python tests/unit/render_option_docs.py``).
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap

from ansible_collections.badgateway.doctor.plugins.module_utils.timeparse import MAX_SECONDS, parse_since, span_text

SINCE_DEFAULT = "1h"
LOG_BYTES_DEFAULT = 8 * 1024 * 1024
LOG_BYTES_MIN = 4096
LOG_BYTES_MAX = 256 * 1024 * 1024
LOG_SAMPLES_MAX = 3
PROBE_TIMEOUT_DEFAULT = 3.0
PROBE_TIMEOUT_MIN = 0.001
PROBE_TIMEOUT_MAX = 300.0
PROBE_LIMIT_DEFAULT = 64
PROBE_ENDPOINT_LIMIT_DEFAULT = 256
PROBE_LIMIT_MAX = 1000000
PROBE_WORKERS_DEFAULT = 16
PROBE_WORKERS_MAX = 256
HOST_HEADER_MAX = 1024
PATH_MAX = 8192

# request-target characters: anything visible, no whitespace or control character (RFC 9112)
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_UNIT = re.compile(r"\A[A-Za-z0-9:_.\\@-]+\Z")


def _show(value):
    if isinstance(value, float):
        return repr(value) if not math.isinf(value) and not math.isnan(value) else str(value)
    return repr(value)


def _request_text(text, shaped, shape, limit):
    """None when ``text`` can go into the one request a probe sends, else why not: it must be a
    string ``shaped`` accepts (else ``shape``), at most ``limit`` characters, with no whitespace
    or control character (a CR or LF would start a second header or request)."""
    if not isinstance(text, str) or not shaped(text):
        return shape
    if len(text) > limit:
        return "must be at most %d characters" % limit
    if _UNSAFE.search(text):
        return "must not contain spaces or control characters (such as CR or LF)"
    return None


def check_probe_path(text):
    """None when ``text`` can be the path of a probe request, else why not."""
    return _request_text(text, lambda t: t.startswith("/"), "must start with /", PATH_MAX)


def check_host_header(text):
    """None when ``text`` can be a Host header value, else why not."""
    return _request_text(text, bool, "must not be empty", HOST_HEADER_MAX)


def check_unit_name(text):
    """None when ``text`` looks like a systemd unit name, else why not."""
    if not isinstance(text, str) or not _UNIT.match(text) or len(text) > 256:
        return "must be a systemd unit name (letters, digits and :_.\\@-)"
    return None


# ---------------------------------------------------------------- checks per concept

def _check_since(value):
    try:
        parse_since(value)
    except ValueError as exc:
        return "must be a duration (seconds, or units such as 30m, 1h, 2d) up to %s: %s" % (span_text(MAX_SECONDS), exc)
    return None


def _int_range(low, high, zero_means=None):
    def check(value):
        if low <= value <= high:
            return None
        if zero_means:
            return "must be 0 (%s) or between 1 and %d" % (zero_means, high)
        return "must be between %d and %d" % (low, high)
    return check


def _float_range(low, high):
    def check(value):
        if math.isnan(value) or not low <= value <= high:
            return "must be a number of seconds between %g and %g" % (low, high)
        return None
    return check


def _optional(check):
    def wrapped(value):
        return None if value is None else check(value)
    return wrapped


def _each(check):
    def wrapped(value):
        for index, item in enumerate(value or ()):
            reason = check(item)
            if reason:
                return "item %d (%s) %s" % (index, _show(item), reason)
        return None
    return wrapped


CONCEPTS = {
    "since": (dict(type="raw", default=SINCE_DEFAULT), _check_since),
    "log_bytes": (dict(type="int", default=LOG_BYTES_DEFAULT), _int_range(LOG_BYTES_MIN, LOG_BYTES_MAX)),
    "log_samples": (dict(type="int", default=LOG_SAMPLES_MAX), _int_range(0, LOG_SAMPLES_MAX)),
    "kernel_log": (dict(type="bool", default=True), None),
    "units": (dict(type="list", elements="str"), _optional(_each(check_unit_name))),
    "extra_units": (dict(type="list", elements="str", default=[]), _each(check_unit_name)),
    "probe_timeout": (dict(type="float", default=PROBE_TIMEOUT_DEFAULT), _float_range(PROBE_TIMEOUT_MIN, PROBE_TIMEOUT_MAX)),
    "probe_path": (dict(type="str"), _optional(check_probe_path)),
    "probe_path_root": (dict(type="str", default="/"), check_probe_path),
    "probe_host_header": (dict(type="str"), _optional(check_host_header)),
    "probe_limit": (dict(type="int", default=PROBE_LIMIT_DEFAULT), _int_range(0, PROBE_LIMIT_MAX, "no limit")),
    "probe_endpoint_limit": (dict(type="int", default=PROBE_ENDPOINT_LIMIT_DEFAULT),
                             _int_range(0, PROBE_LIMIT_MAX, "no limit")),
    "probe_workers": (dict(type="int", default=PROBE_WORKERS_DEFAULT), _int_range(1, PROBE_WORKERS_MAX)),
    "as_user": (dict(type="str"), None),
    "as_group": (dict(type="str"), None),
}

# the option names each module uses for the shared concepts
SERVICE_LOG_FACTS = {"since": "since", "max_bytes": "log_bytes", "samples": "log_samples", "kernel": "kernel_log",
                     "units": "units"}
UPSTREAM_PROBE = {"timeout": "probe_timeout", "path": "probe_path", "host_header": "probe_host_header",
                  "limit": "probe_limit", "endpoint_limit": "probe_endpoint_limit", "workers": "probe_workers",
                  "as_user": "as_user", "as_group": "as_group"}
GATEWAY_FACTS = {"since": "since", "max_log_bytes": "log_bytes", "kernel_log": "kernel_log", "units": "extra_units",
                 "probe_timeout": "probe_timeout", "probe_path": "probe_path_root",
                 "probe_host_header": "probe_host_header", "probe_limit": "probe_limit",
                 "probe_endpoint_limit": "probe_endpoint_limit", "probe_as_user": "as_user", "probe_as_group": "as_group"}


# ---------------------------------------------------------------- documentation

DOCS = {
    "since": [
        "How far back to read the logs, as seconds or with a unit such as V(30m), V(1h) or V(2d).",
        "At most %s; V(inf), V(nan) and negative values are refused." % span_text(MAX_SECONDS),
    ],
    "log_bytes": [
        "At most this many bytes are read from the end of each log file and of each unit's journal, so the cost "
        "does not grow with the size of the log.",
        "Between %d and %d (%d MiB), the same limits for every module that reads logs."
        % (LOG_BYTES_MIN, LOG_BYTES_MAX, LOG_BYTES_MAX // (1024 * 1024)),
    ],
    "log_samples": ["How many sample lines (secrets masked, at most 500 characters each) to keep per event, 0 to %d."
                    % LOG_SAMPLES_MAX],
    "kernel_log": ["Look for OOM kills in the kernel log (the journal, else C(/var/log/kern.log), else C(dmesg))."],
    "probe_timeout": [
        "Seconds each probe may take; longer counts as C(ETIMEDOUT).",
        "Between %g and %g; V(inf) and V(nan) are refused." % (PROBE_TIMEOUT_MIN, PROBE_TIMEOUT_MAX),
    ],
    "probe_path": [
        "The path requested by the probes. By default C(/) for upstreams, and the location's prefix (when it is a "
        "plain prefix) through nginx.",
        "Must start with C(/); spaces and control characters (CR, LF ...) are refused - the probes send exactly one "
        "read-only request.",
    ],
    "probe_path_root": [
        "The path requested by the probes when a route does not give a better one.",
        "Must start with C(/); spaces and control characters (CR, LF ...) are refused - the probes send exactly one "
        "read-only request.",
    ],
    "probe_host_header": [
        "The Host header of the probes. By default the server's first name (C(localhost) when there is none).",
        "Spaces and control characters (CR, LF ...) are refused.",
    ],
    "probe_limit": [
        "At most this many routes are probed (directly and through nginx). With more routes than that, the routes "
        "whose upstream or endpoints no earlier chosen route has are chosen first, then the others, each in "
        "configuration order, so the same configuration gives the same choice.",
        "The number of probes left out is returned as C(skipped). V(0) means no limit; at most %d." % PROBE_LIMIT_MAX,
    ],
    "probe_endpoint_limit": [
        "At most this many distinct URLs are probed directly (each upstream address counts once however many routes "
        "use it). V(0) means no limit; at most %d." % PROBE_LIMIT_MAX,
    ],
    "probe_workers": ["At most this many probes are in flight at once, 1 to %d." % PROBE_WORKERS_MAX],
    "as_user": [
        "Send the probes as this user (a name or uid), from a child process with the user's uid, primary group and "
        "supplementary groups - the identity nginx's worker processes have after C(initgroups). A unix-socket probe "
        "as nginx's worker user (for example V(www-data)) then proves whether nginx itself can connect, C(EACCES) "
        "when a directory on the way or the socket denies it.",
        "Needs root (C(become)) unless it is the user the module already runs as.",
        "By default the probes run as the user the module runs as.",
    ],
    "as_group": [
        "With O({as_user}), the primary group to take instead of the user's own, as nginx's C(user www-data web;) "
        "does. The user's supplementary groups are added as C(initgroups) does.",
    ],
}


_FRAGMENTS = (("LOGS", "service_log_facts", SERVICE_LOG_FACTS), ("PROBES", "upstream_probe", UPSTREAM_PROBE),
              ("GATEWAY", "gateway_facts", GATEWAY_FACTS))
_PLAIN_UNSAFE = re.compile(r": | #|^[\[\]{}&*!|>'\"%@`,?:-]")


def _yaml_text(text, indent):
    if _PLAIN_UNSAFE.search(text):
        return json.dumps(text)
    return textwrap.fill(text, width=110, subsequent_indent=" " * (indent + 2), break_on_hyphens=False)


def _yaml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and not _PLAIN_UNSAFE.search(value) and value not in ("yes", "no", "null") else json.dumps(value)
    return json.dumps(value)


def _named(text, names):
    """``text`` with ``{concept}`` replaced by the name this module gives that concept's option."""
    for name, concept in names.items():
        text = text.replace("{%s}" % concept, name)
    return text


def _render_options(names):
    lines = ["options:"]
    for name, concept in names.items():
        if concept not in DOCS:
            continue
        spec = CONCEPTS[concept][0]
        lines.append("  %s:" % name)
        lines.append("    description:")
        for text in DOCS[concept]:
            lines.append("      - " + _yaml_text(_named(text, names), 6))
        lines.append("    type: %s" % spec["type"])
        if "elements" in spec:
            lines.append("    elements: %s" % spec["elements"])
        if spec.get("default") is not None:
            lines.append("    default: %s" % _yaml_value(spec["default"]))
    return "\n".join(lines) + "\n"


def render_doc_fragment():
    """The text of ``plugins/doc_fragments/options.py``."""
    out = ['# -*- coding: utf-8 -*-',
           '# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)',
           '# Generated from plugins/module_utils/_options.py by tests/unit/render_option_docs.py: do not edit.',
           'from __future__ import annotations',
           '', '',
           'class ModuleDocFragment:',
           '    """Options several modules share, one description each (module_utils/_options.py)."""',
           '',
           '    DOCUMENTATION = r"""',
           'options: {}',
           '"""']
    for attribute, module, names in _FRAGMENTS:
        out.append('')
        out.append('    # %s' % module)
        out.append('    %s = r"""' % attribute)
        out.append(_render_options(names).rstrip("\n"))
        out.append('"""')
    return "\n".join(out) + "\n"


def argument_spec(names):
    """The argument_spec entries for ``names`` (option name -> concept)."""
    return {name: dict(CONCEPTS[concept][0]) for name, concept in names.items()}


def problems(params, names):
    """Messages for the options of ``names`` whose values are out of their limits (and for a user
    to act as that does not exist or cannot be taken)."""
    out = []
    for name, concept in names.items():
        check = CONCEPTS[concept][1]
        if check is None or name not in params:
            continue
        value = params[name]
        reason = check(value)
        if reason:
            out.append("Option %s %s, got %s." % (name, reason, _show(value)))
    problem = _acting_user_problem(params, names)
    if problem:
        out.append(problem)
    return out


def _acting_user_problem(params, names):
    """The ``as_user`` / ``as_group`` pair: the group needs the user, both must exist, and taking
    another user's identity needs root."""
    option = {concept: name for name, concept in names.items()}
    if "as_user" not in option:
        return None
    user, group = params.get(option["as_user"]), params.get(option.get("as_group"))
    if group and not user:
        return "Option %s needs %s." % (option["as_group"], option["as_user"])
    if not user:
        return None
    # imported here: only modules that act as a user need the user database
    from ansible_collections.badgateway.doctor.plugins.module_utils._access import identity
    try:
        ident = identity(user, group)
    except ValueError as exc:
        return "Option %s: %s." % (option["as_user"], exc)
    if os.geteuid() not in (0, ident.uid):
        return ("Option %s: probing as %s needs root (the module runs as uid %d); use become: true."
                % (option["as_user"], ident.name, os.geteuid()))
    return None


def validate(module, names):
    """Fail the module with the first out-of-limits option of ``names``; return its params."""
    found = problems(module.params, names)
    if found:
        module.fail_json(msg=found[0])
    return module.params
