# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An nginx ``log_format`` turned into a matcher for the lines it writes.

:func:`compile_format` parses the format string (``$name`` and ``${name}`` variables between
literal text, as ``ngx_http_log_compile_format`` does) into one anchored regular expression with
a group per variable.  Variables whose values have a known shape (``$status``, the times, the
byte counts, the ``$upstream_*`` lists such as ``502, 200`` or ``502 : 200``) get that shape;
any other value extends up to the literal text that follows it.  The values come back still
escaped as nginx wrote them; :func:`unescape` undoes ``escape=default`` (``\\xHH``) and
``escape=json``.  nginx writes ``-`` for an empty value (not with ``escape=json``).

Target side: Python standard library only.
"""
from __future__ import annotations

import calendar
import re

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_LIST = r"[^\s,]+(?:(?:, | : )[^\s,]+)*"
_NUMBER = r"-|\d+"
_SECONDS_LIST = r"-|[\d.]+(?:(?:, | : )(?:[\d.]+|-))*"
SHAPES = {
    "status": r"\d{3}",
    "time_local": r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "time_iso8601": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)",
    "msec": r"\d+\.\d+",
    "request_time": r"-|\d+\.\d+",
    "body_bytes_sent": _NUMBER,
    "bytes_sent": _NUMBER,
    "request_length": _NUMBER,
    "connection": _NUMBER,
    "connection_requests": _NUMBER,
    "server_port": _NUMBER,
    "remote_port": _NUMBER,
    "upstream_status": _LIST,
    "upstream_addr": _LIST,
    "upstream_response_time": _SECONDS_LIST,
    "upstream_connect_time": _SECONDS_LIST,
    "upstream_header_time": _SECONDS_LIST,
    "upstream_response_length": _LIST,
    "upstream_bytes_received": _LIST,
    "upstream_bytes_sent": _LIST,
}
TIME_VARS = ("time_local", "time_iso8601", "msec")
_MONTHS = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}


class FormatError(ValueError):
    """The format cannot be turned into a matcher (it names no time, or no status)."""


class Matcher:
    """A compiled format: ``match(line)`` gives a match object or None; ``index[name]`` is the
    group of the first occurrence of each variable; ``time_var`` the variable holding the time."""

    __slots__ = ("regex", "index", "time_var", "escape", "format", "match")

    def __init__(self, regex, index, time_var, escape, fmt):
        self.regex = regex
        self.index = index
        self.time_var = time_var
        self.escape = escape
        self.format = fmt
        self.match = regex.match

    def value(self, m, name):
        """The raw value of variable ``name`` in match ``m`` (None when the format has none)."""
        group = self.index.get(name)
        return m.group(group) if group else None


def tokens(fmt):
    """``[(kind, text)]`` with kind ``lit`` or ``var`` (the variable's name, lower case)."""
    out = []
    pos = 0
    for m in _VAR.finditer(fmt):
        if m.start() > pos:
            out.append(("lit", fmt[pos:m.start()]))
        out.append(("var", (m.group(1) or m.group(2)).lower()))
        pos = m.end()
    if pos < len(fmt):
        out.append(("lit", fmt[pos:]))
    return out


def compile_format(fmt, escape="default"):
    """A :class:`Matcher` for lines written with ``fmt``; raises :class:`FormatError` when the
    format logs no time (the window cannot be applied) or no ``$status``."""
    toks = tokens(fmt)
    parts = ["^"]
    index = {}
    group = 0
    for i, (kind, text) in enumerate(toks):
        if kind == "lit":
            parts.append(re.escape(text))
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        shape = SHAPES.get(text)
        if shape is None:
            if nxt is None:
                shape = r".*?"
            elif nxt[0] == "lit":
                shape = r".*?"
            else:
                shape = r"\S*"
        elif escape == "json" and text not in ("status", "time_local", "time_iso8601", "msec"):
            shape = r"(?:%s)?" % shape      # json escaping writes an empty value, not "-"
        group += 1
        if text not in index:
            index[text] = group
        parts.append("(%s)" % shape)
    parts.append(r"\s*$")
    time_var = next((v for v in TIME_VARS if v in index), None)
    if time_var is None:
        raise FormatError("the format logs no time ($time_local, $time_iso8601 or $msec)")
    if "status" not in index:
        raise FormatError("the format logs no $status")
    try:
        regex = re.compile("".join(parts))
    except (re.error, OverflowError, RecursionError) as exc:
        raise FormatError("cannot build a matcher: %s" % exc)
    return Matcher(regex, index, time_var, escape, fmt)


# --------------------------------------------------------------------------- values

_TZ_CACHE = {}


def _local_minute(text):
    """``02/Dec/2026:06:00:00 +0100``: the minute's epoch (seconds left out) and the seconds' slice."""
    day, mon, year = int(text[0:2]), _MONTHS[text[3:6]], int(text[7:11])
    sign = -1 if text[21] == "+" else 1
    offset = sign * (int(text[22:24]) * 3600 + int(text[24:26]) * 60)
    return calendar.timegm((year, mon, day, int(text[12:14]), int(text[15:17]), 0, 0, 0, 0)) + offset


def _iso_minute(text):
    """``2026-12-02T06:00:00+01:00``: the minute's epoch (seconds left out)."""
    tz = text[19:]
    offset = 0
    if tz and tz != "Z":
        sign = -1 if tz[0] == "+" else 1
        offset = sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                            0, 0, 0, 0)) + offset


def _parse_time(text, minute, key, seconds):
    """Epoch seconds of ``text``: the minute computed once per distinct ``key`` (timegm is slow), plus the
    seconds at ``seconds`` (a slice); None when it is not such a time."""
    base = _TZ_CACHE.get(key)
    if base is None:
        try:
            base = minute(text)
        except (KeyError, ValueError, IndexError, OverflowError):
            return None
        if len(_TZ_CACHE) > 4096:
            _TZ_CACHE.clear()
        _TZ_CACHE[key] = base
    try:
        return base + int(text[seconds])
    except ValueError:
        return None


def parse_time_local(text):
    """``02/Dec/2026:06:00:00 +0100`` -> epoch seconds (None when it is not such a time)."""
    return _parse_time(text, _local_minute, "L" + text[:17] + text[20:], slice(18, 20))


def parse_time_iso8601(text):
    """``2026-12-02T06:00:00+01:00`` -> epoch seconds (None when it is not such a time)."""
    return _parse_time(text, _iso_minute, "I" + text[:16] + text[19:], slice(17, 19))


def parse_msec(text):
    try:
        return float(text)
    except ValueError:
        return None


TIME_PARSERS = {"time_local": parse_time_local, "time_iso8601": parse_time_iso8601, "msec": parse_msec}

_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_JSON_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|[\"\\/bfnrt])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def unescape(value, escape="default"):
    """The value nginx escaped: ``\\xHH`` (``escape=default``) or JSON escapes (``escape=json``);
    None for an empty value (``-``, or empty with ``escape=json``)."""
    if value is None or value == "" or (value == "-" and escape != "json"):
        return None
    if "\\" not in value:
        return value
    if escape == "json":
        return _JSON_ESCAPE.sub(lambda m: _JSON_SIMPLE.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), value)
    if escape == "default":
        raw = _HEX_ESCAPE.sub(lambda m: "%" + m.group(1).upper(), value)
        return raw.replace("\\\\", "\\")
    return value


def split_list(value):
    """``$upstream_*`` lists: ``502, 200`` (servers tried in turn) and ``502 : 200`` (an internal
    redirect to another group) -> ``["502", "200"]``; None for no value."""
    if value is None or value in ("", "-"):
        return []
    return [v for v in re.split(r", | : ", value) if v]
