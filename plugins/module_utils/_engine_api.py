# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A read-only client of the Docker-compatible Engine API over its unix socket (standard library only).

Docker's ``dockerd`` (``/var/run/docker.sock``) and Podman's API service (``podman system service``,
``/run/podman/podman.sock``) both speak this API. :class:`EngineClient` makes ``GET`` requests only:
nothing here changes a container (the facts use it). Starting and stopping containers is the
remediation side's, in ``_engine_control`` (a subclass that adds ``POST``). Every failure becomes an :class:`EngineError` whose message names the socket and the
cause (missing, not a socket, permission denied, refused, timed out, an HTTP error with the engine's
own message, an answer that is not JSON or larger than the cap); no request takes longer than
``timeout`` seconds in total, and no answer is read past ``max_bytes``.

Public API:

``EngineClient(socket_path, timeout=5.0, max_bytes=8 MiB)``
    ``.get(path, params=None) -> bytes`` (2xx body), ``.json(path, params=None)``,
    ``.version()``, ``.containers(all_=True)``, ``.inspect(container_id)``,
    ``.logs(container_id, tail=20, tty=False) -> list of lines``.
``demux_stream(data)``
    The log stream of a container without a TTY: 8-byte frame headers (stream, 0, 0, 0, size)
    followed by the payload; returns the concatenated payloads (stdout and stderr in order).
``engine_kind(version)``
    ``podman`` / ``docker`` / ``unknown`` from a ``/version`` answer.
"""
from __future__ import annotations

import errno
import http.client
import io
import json
import os
import socket
import stat
import struct
import time
from urllib.parse import quote, urlencode

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
_FRAME = struct.Struct(">BxxxL")


class EngineError(Exception):
    """The engine could not be asked (one sentence naming the socket and the cause)."""

    def __init__(self, message, status=None, kind="api"):
        super().__init__(message)
        self.status = status
        self.kind = kind   # missing | permission | connect | timeout | http | protocol | api


class _DeadlineSocket:
    """A connected socket whose every send and receive waits at most until ``deadline`` (``time.monotonic``):
    the socket's own timeout applies per call, so an engine that answers one byte at a time would
    otherwise never be stopped while http.client reads the status line, headers or chunk sizes."""

    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline
        self._readers = 0
        self._closing = False

    def _arm(self):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self._sock.settimeout(left)

    def sendall(self, data):
        self._arm()
        return self._sock.sendall(data)

    def recv_into(self, buf):
        self._arm()
        return self._sock.recv_into(buf)

    def makefile(self, mode="rb", *_args, **_kwargs):
        if "w" in mode:
            raise ValueError("read-only socket file")
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def close(self):
        # as socket.socket does for its makefile()s: http.client closes the connection of an answer that ends with
        # the connection (Connection: close, no length) before its body is read; the socket stays open for the reader
        self._closing = True
        if self._readers <= 0:
            self._sock.close()

    def _reader_closed(self):
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, dsock):
        super().__init__()
        self._dsock = dsock

    def readable(self):
        return True

    def readinto(self, b):
        return self._dsock.recv_into(b)

    def close(self):
        if not self.closed:
            self._dsock._reader_closed()   # pylint: disable=protected-access
        super().close()


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix stream socket; the whole exchange ends by ``deadline``."""

    def __init__(self, path, timeout, deadline=None):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path
        self._deadline = deadline if deadline is not None else time.monotonic() + timeout

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            sock.settimeout(left)
            sock.connect(self._unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._deadline)


def demux_stream(data):
    """Payloads of a multiplexed attach/logs stream (``Tty: false``); raw data when it is not framed."""
    out = []
    pos = 0
    while pos + _FRAME.size <= len(data):
        stream, size = _FRAME.unpack_from(data, pos)
        if stream not in (0, 1, 2):
            return data if not out else b"".join(out)
        out.append(data[pos + _FRAME.size:pos + _FRAME.size + size])
        pos += _FRAME.size + size
    if pos < len(data) and not out:
        return data
    return b"".join(out)


def loads(body):
    """JSON of an engine's answer; ValueError for anything that is not (nested past the recursion limit too)."""
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except RecursionError:
        raise ValueError("JSON nested too deeply")


def engine_kind(version):
    """``podman``, ``docker`` or ``unknown`` from the ``/version`` answer of the engine."""
    if not isinstance(version, dict):
        return "unknown"
    components = version.get("Components")
    names = [str(c.get("Name", "")) for c in (components if isinstance(components, list) else []) if isinstance(c, dict)]
    if any("podman" in n.lower() for n in names) or "podman" in str(version.get("Platform", {})).lower():
        return "podman"
    if any(n == "Engine" for n in names) or version.get("ApiVersion"):
        return "docker"
    return "unknown"


class EngineClient:
    """Read-only Engine API client for one unix socket."""

    def __init__(self, socket_path, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES):
        self.socket_path = socket_path
        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)

    # ------------------------------------------------------------ transport
    def check_socket(self):
        """Raise EngineError unless the path exists and is a unix socket."""
        try:
            st = os.stat(self.socket_path)
        except FileNotFoundError:
            raise EngineError("no container engine socket at %s" % self.socket_path, kind="missing")
        except PermissionError:
            raise EngineError("permission denied reaching %s (run as root or as a member of the engine's group)"
                              % self.socket_path, kind="permission")
        except OSError as exc:
            raise EngineError("cannot stat %s: %s" % (self.socket_path, exc.strerror or exc), kind="missing")
        if not stat.S_ISSOCK(st.st_mode):
            raise EngineError("%s is not a unix socket" % self.socket_path, kind="missing")

    def get(self, path, params=None):
        """The body of ``GET path?params`` (2xx only)."""
        return self._request("GET", path, params)[1]

    def _request(self, method, path, params=None, accept=(), body=None):
        """``(status, body)`` of ``method path?params`` (``body``: a JSON document to send): a 2xx answer or one of
        ``accept`` (such as 304), else EngineError. This class calls it with GET only; ``_engine_control``
        (remediation) adds POST."""
        url = path + ("?" + urlencode(params) if params else "")
        what = "%s %s" % (method, path)
        deadline = time.monotonic() + self.timeout
        conn = _UnixConnection(self.socket_path, self.timeout, deadline)
        try:
            try:
                headers = {"Host": "localhost", "Accept": "application/json"}
                data = None
                if body is not None:
                    data = json.dumps(body).encode("utf-8")
                    headers["Content-Type"] = "application/json"
                if method != "GET":
                    headers["Content-Length"] = str(len(data or b""))
                conn.request(method, url, body=data, headers=headers)
                resp = conn.getresponse()
                body = self._read(resp, deadline)
            except socket.timeout:
                raise EngineError("the engine at %s did not answer %s within %.0f s" % (self.socket_path, what, self.timeout),
                                  kind="timeout")
            except PermissionError:
                raise EngineError("permission denied connecting to %s (run as root or as a member of the engine's group)"
                                  % self.socket_path, kind="permission")
            except ConnectionRefusedError:
                raise EngineError("connection refused by %s: the engine (its API service) is not running"
                                  % self.socket_path, kind="connect")
            except FileNotFoundError:
                raise EngineError("no container engine socket at %s" % self.socket_path, kind="missing")
            except (http.client.HTTPException, ValueError) as exc:
                raise EngineError("the engine at %s gave a broken HTTP answer to %s: %s"
                                  % (self.socket_path, what, exc or type(exc).__name__), kind="protocol")
            except OSError as exc:
                if exc.errno == errno.ENOTSOCK or exc.errno == errno.ECONNREFUSED:
                    raise EngineError("%s does not accept connections: %s" % (self.socket_path, exc.strerror), kind="connect")
                raise EngineError("%s on %s failed: %s" % (what, self.socket_path, exc.strerror or exc), kind="connect")
        finally:
            conn.close()
        if not 200 <= resp.status < 300 and resp.status not in accept:
            raise EngineError("the engine at %s answered %s with HTTP %s: %s"
                              % (self.socket_path, what, resp.status, _message(body)), status=resp.status, kind="http")
        return resp.status, body

    def _read(self, resp, deadline):
        chunks = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise socket.timeout()
            # read1: what one receive brings (read(n) would wait for n bytes, past the deadline)
            chunk = resp.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise EngineError("the engine at %s sent more than %d bytes for one answer (the cap)"
                                  % (self.socket_path, self.max_bytes), kind="protocol")
            chunks.append(chunk)
        return b"".join(chunks)

    def json(self, path, params=None):
        body = self.get(path, params)
        try:
            return loads(body)
        except ValueError:
            raise EngineError("the engine at %s answered GET %s with something that is not JSON: %r"
                              % (self.socket_path, path, body[:80]), kind="protocol")

    # ------------------------------------------------------------ endpoints
    def version(self):
        data = self.json("/version")
        if not isinstance(data, dict):
            raise EngineError("the engine at %s answered /version with a %s, not an object"
                              % (self.socket_path, type(data).__name__), kind="protocol")
        return data

    def containers(self, all_=True):
        data = self.json("/containers/json", {"all": "1" if all_ else "0"})
        if not isinstance(data, list):
            raise EngineError("the engine at %s answered /containers/json with a %s, not a list"
                              % (self.socket_path, type(data).__name__), kind="protocol")
        return [c for c in data if isinstance(c, dict)]

    def inspect(self, container_id):
        data = self.json("/containers/%s/json" % quote(str(container_id), safe=""))
        if not isinstance(data, dict):
            raise EngineError("the engine at %s answered the inspection of %s with a %s, not an object"
                              % (self.socket_path, container_id, type(data).__name__), kind="protocol")
        return data

    def logs(self, container_id, tail=20, tty=False):
        """The last ``tail`` lines the container wrote (stdout and stderr), as text lines."""
        body = self.get("/containers/%s/logs" % quote(str(container_id), safe=""),
                        {"stdout": "1", "stderr": "1", "tail": str(int(tail))})
        data = body if tty else demux_stream(body)
        lines = data.decode("utf-8", "replace").splitlines()
        return lines[-int(tail):] if tail else []


def _message(body):
    """The engine's error message from an error answer (``{"message": ...}``), shortened."""
    try:
        data = loads(body)
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])[:300]
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace").strip() or "(no message)"
