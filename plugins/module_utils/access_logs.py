# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What users actually got: nginx's access logs over the time window (the ``access`` facts).

For every access log the configuration writes to (``nginx.access_logs``), the lines are read
from the end of the file backwards, block by block, and reading stops at the first line older
than the window's start (or at ``max_bytes``): the cost follows the traffic of the window, not
the size of the file.  Each line is matched with the log's own ``log_format`` (``combined`` when
it names none; ``_access_format``).  Every line counts by status class; a 5xx line (and a line
whose ``$upstream_status`` shows a failed attempt the client did not see) is assigned to the
route that served it - the location nginx would pick for its URI among the routes that log to
that file - and counted per route: 502 / 503 / 504 / other 5xx, first and last time, the
upstream statuses, addresses and response times when the format logs them, and a timeline.

Request URIs in samples go through the one masker (``_mask.mask_url``).
Target side: Python standard library only.  Nothing here raises for bad host state.
"""
from __future__ import annotations

import math
import os
import re
import time

from ansible_collections.badgateway.doctor.plugins.module_utils import _access_format as F
from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_text, mask_url
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_access_config import COMBINED
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import describe, open_regular
from ansible_collections.badgateway.doctor.plugins.module_utils.probes import USER_AGENT as PROBE_AGENT

BLOCK_SIZE = 256 * 1024
MAX_LINE = 16 * 1024
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Lines are written when a request ends, by several workers: allow this much disorder before
# the first older line ends the read.
ORDER_SLACK = 10.0
MAX_LOGS = 32
MAX_SAMPLES = 3
MAX_ADDRS = 8
SAMPLE_LEN = 300
TIMELINE_BUCKETS = 60
FAILED_UPSTREAM = ("500", "502", "503", "504")


def read_backwards(path, max_bytes, block_size=BLOCK_SIZE):
    """``(state, lines)``: ``lines`` yields the lines of ``path`` (bytes, without the newline)
    newest first, reading blocks from the end, at most ``max_bytes``; ``state`` is updated as it
    goes (``read_bytes``, ``size``, ``reached_start``).  Iterating raises OSError
    (``_safe_io.UnsafeFile`` for anything but a regular file: a FIFO never blocks here)."""
    state = {"read_bytes": 0, "reached_start": False, "size": 0}
    return state, _lines_backwards(path, max_bytes, block_size, state)


def _lines_backwards(path, max_bytes, block_size, state):
    with open_regular(path) as f:
        pos = os.fstat(f.fileno()).st_size
        state["size"] = pos
        carry = b""
        while pos > 0 and state["read_bytes"] < max_bytes:
            n = min(block_size, pos, max_bytes - state["read_bytes"])
            pos -= n
            f.seek(pos)
            data = f.read(n)
            if not data:
                break
            state["read_bytes"] += len(data)
            data += carry
            parts = data.split(b"\n")
            if pos > 0:
                carry = parts[0]
                del parts[0]
                if len(carry) > MAX_LINE * 4:
                    carry = carry[-MAX_LINE:]      # an absurdly long line: keep its end only
            else:
                carry = b""
            for raw in reversed(parts):
                if raw:
                    yield raw
        state["reached_start"] = pos == 0


# --------------------------------------------------------------------------- routes

def _location_of(route):
    """The location a route is matched by: the last component of its location path that is a
    location (not an ``if`` / ``limit_except`` condition).  ``(modifier, value)``."""
    parts = [p for p in str(route.get("location") or "").split(" > ") if not p.startswith(("if (", "limit_except"))]
    text = parts[-1] if parts else ""
    for mod in ("^~", "~*", "=", "~"):
        if text.startswith(mod + " "):
            return mod, text[len(mod) + 1:]
    return "", text


def _name_matches(name, host):
    if name.startswith("~"):
        try:
            return re.search(name[1:], host) is not None
        except re.error:
            return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    if name.startswith("."):
        return host == name[1:] or host.endswith(name)
    if name.endswith(".*"):
        return host.startswith(name[:-1])
    return host == name.lower()


class RouteMatcher:
    """The route nginx would pick for a request, among the routes that log to one file."""

    def __init__(self, routes, indexes):
        self.servers = []      # [(names, [(index, mod, value, regex)])]
        by_server = {}
        for i in indexes:
            if not isinstance(i, int) or i < 0 or i >= len(routes):
                continue
            route = routes[i]
            if route.get("conditional") and route.get("condition"):
                continue
            key = (tuple(route.get("server_names") or ()), str(route.get("id", "")).split(" ", 1)[0])
            mod, value = _location_of(route)
            if value.startswith("@"):
                continue
            regex = None
            if mod in ("~", "~*"):
                try:
                    regex = re.compile(value, re.I if mod == "~*" else 0)
                except (re.error, OverflowError, RecursionError):
                    continue
            by_server.setdefault(key, []).append((i, mod, value, regex))
        self.servers = [(key[0], locs) for key, locs in by_server.items()]
        self.cache = {}

    def match(self, host, uri):
        key = (host, uri)
        hit = self.cache.get(key, -2)
        if hit != -2:
            return hit
        candidates = self.servers
        if host and len(self.servers) > 1:
            named = [s for s in self.servers if any(_name_matches(n, host.lower()) for n in s[0])]
            candidates = named or self.servers
        hit = None
        for _names, locs in candidates:
            hit = self._in_server(locs, uri)
            if hit is not None:
                break
        if len(self.cache) < 10000:
            self.cache[key] = hit
        return hit

    @staticmethod
    def _in_server(locs, uri):
        best, best_len, best_mod = None, -1, ""
        for i, mod, value, _regex in locs:
            if mod == "=":
                if uri == value:
                    return i
            elif mod in ("", "^~") and uri.startswith(value) and len(value) > best_len:
                best, best_len, best_mod = i, len(value), mod
        if best_mod != "^~":
            for i, mod, _value, regex in locs:
                if regex is not None and regex.search(uri):
                    return i
        return best


# --------------------------------------------------------------------------- aggregation

def _bucket_size(window):
    size = max(60, int(math.ceil(window / TIMELINE_BUCKETS / 60.0)) * 60)
    return size


class _Route:
    __slots__ = ("counts", "first", "last", "upstream_status", "addrs", "times", "request_times", "retried",
                 "samples", "timeline")

    def __init__(self):
        self.counts = {"502": 0, "503": 0, "504": 0, "5xx_other": 0}
        self.first = self.last = None
        self.upstream_status = {}
        self.addrs = {}
        self.times = []
        self.request_times = []
        self.retried = 0
        self.samples = []
        self.timeline = {}


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class _LogReader:
    """Reads one access log (and its rotated predecessor) and aggregates it."""

    def __init__(self, entry, matcher, routes, since, now, max_bytes, errors):
        self.entry = entry
        self.matcher = matcher
        self.routes = RouteMatcher(routes, entry.get("routes") or [])
        self.route_list = routes
        self.since = since
        self.now = now
        self.budget = max_bytes
        self.errors = errors
        self.size = _bucket_size(max(60.0, now - since))
        self.buckets = max(1, int(math.ceil((now - since) / self.size)))
        self.per_route = {}
        # route index -> [requests in the window, time of the newest answer that was no 5xx, was the newest request's?]
        self.seen = {}
        self.summary = {"path": entry.get("path"), "format": entry.get("format"), "lines": 0, "in_window": 0,
                        "unparsed": 0, "probes": 0, "statuses": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
                        "first": None, "last": None, "read_bytes": 0, "reached_start": False, "truncated": False,
                        "files": [], "unparsed_sample": None}

    def read(self):
        path = self.entry["path"]
        done = self._read_file(path)
        rotated = path + ".1"
        if not done and self.summary["reached_start"] and self.budget > 0 and os.path.isfile(rotated):
            self.summary["reached_start"] = False
            self._read_file(rotated)
        if not self.summary["reached_start"] and not done:
            self.summary["truncated"] = True
            self.errors.append(error("access_log", path, "access log %s: read the newest %d bytes (max_bytes) without "
                                     "reaching the start of the time window; counted from %s on"
                                     % (path, self.summary["read_bytes"], _iso(self.summary["first"]))))
        return self.summary, self._routes_out()

    def _read_file(self, path):
        """Read one file from its end; True when the window's start was reached."""
        state, lines = read_backwards(path, self.budget)
        try:
            stopped = self._consume(lines)
        except OSError as exc:
            self.errors.append(error("access_log", path, "access log: %s" % describe(path, exc)))
            return True
        finally:
            lines.close()
        self.summary["files"].append(path)
        self.summary["read_bytes"] += state["read_bytes"]
        self.budget -= state["read_bytes"]
        self.summary["reached_start"] = state["reached_start"]
        return stopped

    def _consume(self, lines):
        m_match = self.matcher.match
        idx = self.matcher.index
        t_group = idx[self.matcher.time_var]
        s_group = idx["status"]
        u_group = idx.get("upstream_status")
        a_group = idx.get("http_user_agent")
        parse_time = F.TIME_PARSERS[self.matcher.time_var]
        since, stop_at = self.since, self.since - ORDER_SLACK
        summary = self.summary
        statuses = summary["statuses"]
        first = summary["first"]
        last = summary["last"]
        for raw in lines:
            summary["lines"] += 1
            line = raw[:MAX_LINE].decode("utf-8", "replace")
            m = m_match(line)
            if m is None:
                summary["unparsed"] += 1
                if summary["unparsed_sample"] is None:
                    summary["unparsed_sample"] = mask_text(line)[:SAMPLE_LEN]
                continue
            ts = parse_time(m.group(t_group))
            if ts is None:
                summary["unparsed"] += 1
                continue
            if ts < since:
                if ts < stop_at:
                    summary["first"], summary["last"] = first, last
                    return True
                continue
            if a_group and m.group(a_group) == PROBE_AGENT:
                summary["probes"] += 1      # this collection's own probes: not what users got
                continue
            summary["in_window"] += 1
            if first is None or ts < first:
                first = ts
            if last is None or ts > last:
                last = ts
            status = m.group(s_group)
            cls = status[0] + "xx"
            if cls in statuses:
                statuses[cls] += 1
            host, uri = self._request(m)
            path = (uri or "").split("?", 1)[0]
            index = self.routes.match(host, path) if path.startswith("/") else None
            seen = self.seen.get(index)
            if seen is None:     # read newest first: this is the route's newest request in the window
                seen = self.seen[index] = [0, None, status[0] != "5"]
            seen[0] += 1
            if status[0] != "5" and (seen[1] is None or ts > seen[1]):
                seen[1] = ts        # the route answered (any status but 5xx)
            if status[0] == "5":
                self._failed(m, ts, status, False, index, uri)
            elif u_group and any(s in FAILED_UPSTREAM for s in F.split_list(m.group(u_group))):
                self._failed(m, ts, status, True, index, uri)
        summary["first"], summary["last"] = first, last
        return False

    def _request(self, m):
        """(host, uri) of a matched line, URI without its query for the route match."""
        mt = self.matcher
        esc = mt.escape
        uri = None
        request = F.unescape(mt.value(m, "request"), esc)
        if request:
            parts = request.split(" ")
            uri = parts[1] if len(parts) >= 2 else parts[0]
        if uri is None:
            uri = F.unescape(mt.value(m, "request_uri"), esc) or F.unescape(mt.value(m, "uri"), esc)
        host = None
        for name in ("host", "server_name", "http_host"):
            host = F.unescape(mt.value(m, name), esc)
            if host:
                host = host.split(":", 1)[0]
                break
        return host, uri

    def _failed(self, m, ts, status, retried, index, uri):
        mt = self.matcher
        agg = self.per_route.get(index)
        if agg is None:
            agg = self.per_route[index] = _Route()
        if retried:
            agg.retried += 1
            return
        key = status if status in ("502", "503", "504") else "5xx_other"
        agg.counts[key] += 1
        if agg.first is None or ts < agg.first:
            agg.first = ts
        if agg.last is None or ts > agg.last:
            agg.last = ts
        bucket = min(max(int((ts - self.since) // self.size), 0), self.buckets - 1)
        agg.timeline[bucket] = agg.timeline.get(bucket, 0) + 1
        ups = mt.value(m, "upstream_status")
        if ups is not None:
            ups = ups if ups != "" else "-"
            agg.upstream_status[ups] = agg.upstream_status.get(ups, 0) + 1
        addr = mt.value(m, "upstream_addr")
        if addr is not None:
            for a in F.split_list(addr) or ["-"]:
                if a in agg.addrs or len(agg.addrs) < MAX_ADDRS:
                    agg.addrs[a] = agg.addrs.get(a, 0) + 1
        for name, values in (("upstream_response_time", agg.times), ("request_time", agg.request_times)):
            raw = mt.value(m, name)
            if raw is not None:
                nums = [_float(v) for v in F.split_list(raw)]
                nums = [v for v in nums if v is not None]
                if nums:
                    values.append(sum(nums))
        if len(agg.samples) < MAX_SAMPLES and uri:
            sample = "%s %s" % (status, mask_url(uri)[:SAMPLE_LEN])
            if sample not in agg.samples:
                agg.samples.append(sample)

    def _routes_out(self):
        out = []
        for index, agg in self.per_route.items():
            route = self.route_list[index] if index is not None else {}
            total = sum(agg.counts.values())
            out.append({
                "log": self.entry.get("path"),
                "route": route.get("id"),
                "route_index": index,
                "upstream": route.get("upstream"),
                "counts": agg.counts,
                "total_5xx": total,
                "requests": self.seen.get(index, [0])[0],
                "last_ok": self.seen.get(index, [0, None])[1],
                "answering": self.seen.get(index, [0, None, False])[2],
                "retried": agg.retried,
                "first": agg.first,
                "last": agg.last,
                "upstream_status": agg.upstream_status if self.matcher.index.get("upstream_status") else None,
                "upstream_addrs": [mask_url(a) for a in agg.addrs] if self.matcher.index.get("upstream_addr") else None,
                "upstream_response_time": _stats(agg.times) if self.matcher.index.get("upstream_response_time") else None,
                "request_time": _stats(agg.request_times) if self.matcher.index.get("request_time") else None,
                "timeline": {"start": self.since, "bucket": self.size,
                             "counts": [agg.timeline.get(b, 0) for b in range(self.buckets)]},
                "samples": agg.samples,
            })
        out.sort(key=lambda r: (-r["total_5xx"], str(r["route"])))
        return out


def _stats(values):
    if not values:
        return None
    return {"max": round(max(values), 3), "avg": round(sum(values) / len(values), 3)}


def _iso(ts):
    if ts is None:
        return "the newest line"
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def collect_access_logs(nginx, since=3600, max_bytes=DEFAULT_MAX_BYTES, now=None):
    """The ``access`` facts (docs/FACTS.md): every file access log of ``nginx`` (the nginx facts)
    read over the last ``since`` seconds."""
    now = time.time() if now is None else now
    errors = []
    start = now - float(since)
    out = {"window": {"since": start, "until": now, "max_bytes": max_bytes}, "logs": [], "routes": [],
           "errors": errors}
    nginx = nginx if isinstance(nginx, dict) else {}
    routes = nginx.get("routes") if isinstance(nginx.get("routes"), list) else []
    formats = nginx.get("log_formats") if isinstance(nginx.get("log_formats"), dict) else {}
    seen = set()
    for entry in (nginx.get("access_logs") or [])[:MAX_LOGS]:
        if not isinstance(entry, dict) or entry.get("kind") != "file" or not entry.get("path"):
            continue
        key = (entry["path"], entry.get("format"))
        if key in seen:
            continue
        seen.add(key)
        name = entry.get("format") or "combined"
        if name == "combined":
            fmt, escape = COMBINED, "default"
        elif name in formats:
            fmt, escape = formats[name].get("format") or "", formats[name].get("escape") or "default"
        else:
            errors.append(error("access_log", entry["path"], "access log %s uses log_format %r, which the "
                                "configuration does not define" % (entry["path"], name)))
            continue
        try:
            matcher = F.compile_format(fmt, escape)
        except F.FormatError as exc:
            errors.append(error("access_log", entry["path"], "access log %s (log_format %s) cannot be read: %s"
                                % (entry["path"], name, exc)))
            continue
        reader = _LogReader(entry, matcher, routes, start, now, max_bytes, errors)
        summary, per_route = reader.read()
        if summary["files"]:
            if summary["unparsed"] and summary["unparsed"] * 2 > summary["lines"]:
                errors.append(error("access_log", entry["path"], "access log %s: %d of %d lines do not match log_format "
                                    "%s" % (entry["path"], summary["unparsed"], summary["lines"], name)))
            out["logs"].append(summary)
            out["routes"].extend(per_route)
    return out
