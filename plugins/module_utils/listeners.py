# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Listening sockets of the host: the ``listeners`` section of the facts contract.

Sources, best first:

* netlink ``NETLINK_SOCK_DIAG`` (what ``ss`` uses), spoken with ``socket`` and ``struct``:
  ``inet_diag`` for TCP over IPv4/IPv6 in state LISTEN and ``unix_diag`` for listening unix
  sockets.  It gives the accept queue of a listener: current length and the maximum (the
  backlog given to ``listen()``, capped by ``net.core.somaxconn``).
* ``/proc/net/tcp``, ``/proc/net/tcp6`` and ``/proc/net/unix`` as fallback.  For a TCP
  listener ``rx_queue`` there is the current accept queue; the maximum is not exposed there
  (``tx_queue`` is 0 for listeners), so ``backlog.max`` is None.  ``/proc/net/unix`` tells
  neither for unix sockets: ``backlog`` is ``{current: None, max: None}``.

Owning processes come from ``/proc/*/fd`` (see ``_proc.socket_owners``); their command lines
are masked (``_mask.mask_argv``: ``-e SECRET_KEY=...``, ``--password X`` ...) before they are
returned.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

from ansible_collections.badgateway.doctor.plugins.module_utils._mask import mask_argv
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import error_for
from ansible_collections.badgateway.doctor.plugins.module_utils._proc import (
    PROC,
    error,
    process_info,
    read_text,
    socket_owners,
)

TCP_LISTEN = 10
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_NAME = 0
UNIX_DIAG_RQLEN = 4
SO_ACCEPTCON = 0x00010000
SOCK_STREAM_TYPE = 1

_NLMSGHDR = struct.Struct("=IHHII")
_INET_DIAG_REQ_V2 = struct.Struct("=BBBxI48s")
_INET_DIAG_MSG = struct.Struct("=BBBBHH16s16sI8sIIIII")
_UNIX_DIAG_REQ = struct.Struct("=BBHIII8s")
_UNIX_DIAG_MSG = struct.Struct("=BBBxI8s")
_RTATTR = struct.Struct("=HH")


class NetlinkError(Exception):
    """Netlink sock_diag is not usable (no module, no permission, odd reply)."""


# ---------------------------------------------------------------- /proc parsing (pure)

def _hex_to_addr(hexaddr, family, byteorder=None):
    """Decode an address of ``/proc/net/tcp*`` (32-bit words in host byte order)."""
    byteorder = byteorder or sys.byteorder
    raw = bytes.fromhex(hexaddr)
    if byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, raw)


def _tcp_entry(family, address, port, inode, current, maximum):
    v4mapped = family == socket.AF_INET6 and address.startswith("::ffff:") and "." in address
    return {
        "family": "inet" if family == socket.AF_INET else "inet6",
        "address": address,
        "port": port,
        "v4mapped": v4mapped,
        "inode": inode,
        "backlog": {"current": current, "max": maximum},
        "processes": [],
    }


def parse_proc_net_tcp(text, family=socket.AF_INET, byteorder=None):
    """Parse ``/proc/net/tcp`` (``family`` AF_INET) or ``tcp6`` (AF_INET6) text.

    Returns the LISTEN (state 0A) sockets as listener entries (processes empty).  The
    accept queue's current length is ``rx_queue``; its maximum is unknown here (None).
    """
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A":
            continue
        try:
            hexaddr, hexport = fields[1].split(":")
            address = _hex_to_addr(hexaddr, family, byteorder)
            port = int(hexport, 16)
            rx_queue = int(fields[4].split(":")[1], 16)
            inode = int(fields[9])
        except (ValueError, IndexError, OSError):
            continue
        out.append(_tcp_entry(family, address, port, inode, rx_queue, None))
    return out


def parse_proc_net_unix(text):
    """Parse ``/proc/net/unix`` text; return the listening STREAM sockets.

    Listening = flags has __SO_ACCEPTCON (00010000), type 0001 (STREAM), state 01.
    An abstract name (``@name`` in the file) gives ``abstract: True`` and path ``@name``.
    """
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 7)
        if len(fields) < 7:
            continue
        try:
            flags = int(fields[3], 16)
            stype = int(fields[4], 16)
            state = int(fields[5], 16)
            inode = int(fields[6])
        except ValueError:
            continue
        if not flags & SO_ACCEPTCON or stype != SOCK_STREAM_TYPE or state != 1:
            continue
        path = fields[7] if len(fields) > 7 else ""
        out.append(_unix_entry(path, inode, None, None))
    return out


def _unix_entry(path, inode, current, maximum):
    return {
        "path": path,
        "abstract": path.startswith("@"),
        "inode": inode,
        "backlog": {"current": current, "max": maximum},
        "processes": [],
    }


# ---------------------------------------------------------------- netlink sock_diag

def _nl_dump(payload):
    """Send one SOCK_DIAG_BY_FAMILY dump request; yield the payload of every reply message."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as exc:
        raise NetlinkError("cannot open a NETLINK_SOCK_DIAG socket: %s" % exc)
    try:
        sock.settimeout(5.0)
        hdr = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), SOCK_DIAG_BY_FAMILY,
                             NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        sock.sendto(hdr + payload, (0, 0))
        messages = []
        while True:
            data = sock.recv(1 << 20)
            if not data:
                raise NetlinkError("empty netlink reply")
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise NetlinkError("malformed netlink message")
                body = data[offset + _NLMSGHDR.size:offset + length]
                offset += (length + 3) & ~3
                if mtype == NLMSG_DONE:
                    return messages
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
                    if code == 0:
                        continue
                    raise NetlinkError("netlink sock_diag refused the request: %s"
                                       % errno.errorcode.get(code, code))
                messages.append(body)
    except OSError as exc:
        raise NetlinkError("netlink sock_diag failed: %s" % exc)
    finally:
        sock.close()


def parse_inet_diag_msg(body, family):
    """Decode one ``inet_diag_msg`` into a listener entry (pure; for tests)."""
    (_fam, _state, _timer, _retrans, sport, _dport, src, _dst, _if, _cookie,
     _expires, rqueue, wqueue, _uid, inode) = _INET_DIAG_MSG.unpack_from(body)
    port = socket.ntohs(sport)
    if family == socket.AF_INET:
        address = socket.inet_ntop(socket.AF_INET, src[:4])
    else:
        address = socket.inet_ntop(socket.AF_INET6, src)
    return _tcp_entry(family, address, port, inode, rqueue, wqueue)


def netlink_tcp_listeners(family):
    """LISTEN TCP sockets of ``family`` via inet_diag. Raises NetlinkError."""
    payload = _INET_DIAG_REQ_V2.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_LISTEN, b"\0" * 48)
    return [parse_inet_diag_msg(body, family) for body in _nl_dump(payload)
            if len(body) >= _INET_DIAG_MSG.size]


def parse_unix_diag_msg(body):
    """Decode one ``unix_diag_msg`` with NAME/RQLEN attributes.

    Returns ``(type, entry)``; entry has the path (``@name`` for abstract), inode and
    backlog (rqueue = pending connections, wqueue = max backlog for listeners).
    """
    _family, stype, _state, inode, _cookie = _UNIX_DIAG_MSG.unpack_from(body)
    path = ""
    current = maximum = None
    offset = _UNIX_DIAG_MSG.size
    while offset + _RTATTR.size <= len(body):
        alen, atype = _RTATTR.unpack_from(body, offset)
        if alen < _RTATTR.size:
            break
        value = body[offset + _RTATTR.size:offset + alen]
        if atype == UNIX_DIAG_NAME:
            if value.startswith(b"\0"):
                path = "@" + value[1:].decode("utf-8", "replace")
            else:
                path = value.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif atype == UNIX_DIAG_RQLEN and len(value) >= 8:
            current, maximum = struct.unpack_from("=II", value)
        offset += (alen + 3) & ~3
    return stype, _unix_entry(path, inode, current, maximum)


def netlink_unix_listeners():
    """Listening unix STREAM sockets via unix_diag. Raises NetlinkError."""
    payload = _UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, 1 << TCP_LISTEN, 0,
                                  UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN, b"\xff" * 8)
    out = []
    for body in _nl_dump(payload):
        if len(body) < _UNIX_DIAG_MSG.size:
            continue
        stype, entry = parse_unix_diag_msg(body)
        if stype == SOCK_STREAM_TYPE:
            out.append(entry)
    return out


# ---------------------------------------------------------------- collection

def _tcp_listeners(errors, proc, use_netlink):
    out = []
    for family, name in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
        path = os.path.join(proc, "net", name)
        if use_netlink:
            try:
                out.extend(netlink_tcp_listeners(family))
                continue
            except NetlinkError as exc:
                if family == socket.AF_INET6 and not os.path.exists(path):
                    continue  # IPv6 disabled: nothing to list, nothing wrong
                errors.append(error("netlink", None, "%s (%s); using /proc/net/%s, backlog max unknown"
                                    % (exc, name, name)))
        try:
            text = read_text(path)
        except FileNotFoundError:
            if family == socket.AF_INET6:
                continue  # IPv6 disabled
            errors.append(error("proc", path, "%s does not exist; TCP listeners unknown" % path))
            continue
        except OSError as exc:
            errors.append(error_for("proc", path, exc))
            continue
        out.extend(parse_proc_net_tcp(text, family))
    return out


def _unix_listeners(errors, proc, use_netlink):
    if use_netlink:
        try:
            return netlink_unix_listeners()
        except NetlinkError as exc:
            errors.append(error("netlink", None, "%s (unix); using /proc/net/unix, accept queues unknown" % exc))
    path = os.path.join(proc, "net", "unix")
    try:
        return parse_proc_net_unix(read_text(path))
    except OSError as exc:
        errors.append(error_for("proc", path, exc))
        return []


def listening_unix_paths(proc=PROC, use_netlink=True):
    """Return the set of paths of listening unix stream sockets (no process join)."""
    errors = []
    return {e["path"] for e in _unix_listeners(errors, proc, use_netlink) if e["path"]}


def _sort_key_tcp(entry):
    return (entry["family"], entry["port"], entry["address"], entry["inode"])


def collect_listeners(proc=PROC, use_netlink=True, with_processes=True):
    """Return the ``listeners`` section: ``{tcp: [...], unix: [...], errors: [...]}``.

    ``use_netlink`` False forces the ``/proc/net`` parsers.  Never raises.
    """
    errors = []
    result = {"tcp": [], "unix": [], "errors": errors}
    try:
        tcp = sorted(_tcp_listeners(errors, proc, use_netlink), key=_sort_key_tcp)
        unix = sorted(_unix_listeners(errors, proc, use_netlink), key=lambda e: (e["path"], e["inode"]))
        result["tcp"], result["unix"] = tcp, unix
        if with_processes:
            _join_processes(tcp + unix, errors, proc)
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback on the target
        errors.append(error("listeners", None, "unexpected error while collecting listeners: %r" % (exc,)))
    return result


def _join_processes(entries, errors, proc):
    inodes = {e["inode"] for e in entries}
    if not inodes:
        return
    owners, unreadable = socket_owners(inodes, proc)
    if unreadable:
        errors.append(error(
            "proc", os.path.join(proc, "PID", "fd"),
            "cannot read the file descriptors of %d processes (permission denied, not running as root); "
            "listeners owned by them show no processes" % unreadable))
    cache = {}
    for entry in entries:
        for pid in owners.get(entry["inode"], ()):
            if pid not in cache:
                info = process_info(pid, proc)
                cache[pid] = None if info is None else {
                    "pid": pid, "name": info["name"], "cmdline": mask_argv(info["cmdline"]),
                    "user": info["user"], "unit": info["unit"]}
            if cache[pid] is not None:
                entry["processes"].append(dict(cache[pid]))
