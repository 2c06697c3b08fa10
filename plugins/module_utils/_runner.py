# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one command runner of the target side (standard library only).

Every external command (``systemctl``, ``journalctl``, ``nginx -t``, ``ss``, ``dmesg`` ...)
runs through here:

- C locale (``LC_ALL=C``, other locale variables removed) so that output parses the same on
  every host; no pager, no colours (``SYSTEMD_PAGER``, ``SYSTEMD_COLORS``);
- stdin is ``/dev/null``; the command gets its own process group, and a timeout kills the
  whole group (nothing it started keeps running);
- stdout is read up to ``max_bytes`` (then the command is stopped: ``truncated``), stderr up to
  64 KiB, both at the same time (no pipe deadlock);
- a missing binary, a command that cannot start or a timeout gives ``error`` (a sentence)
  instead of an exception.

Public API (stable):

``run(argv, timeout=30, max_bytes=DEFAULT_MAX_BYTES, text=True, env=None) -> CommandResult``
``start(argv, timeout=30, max_bytes=..., text=True, env=None) -> Command``
    A command started now and collected later: ``.result()`` -> ``CommandResult``,
    ``.cancel()`` stops it (and what it started) and reaps it.
``CommandResult``
    ``rc, stdout, stderr, error`` (unpacks as that 4-tuple) plus ``truncated``, ``timed_out``,
    ``elapsed``. ``rc`` is the exit status, None when the command did not run to its end (did
    not start, timed out, stopped at ``max_bytes``). ``error`` is None unless it did not start
    or timed out.
``call(argv, timeout=30, max_bytes=4 MiB) -> (rc, stdout, why)``
    :func:`run` as a triple, the default ``run`` of code whose tests inject a fake one.
``c_env(extra=None)``
    The environment commands run with.
"""

from __future__ import annotations

import math
import os
import selectors
import signal
import subprocess
import time

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
MAX_STDERR = 64 * 1024
_LOCALE_VARS = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "LC_TIME",
                "LC_COLLATE", "LC_MONETARY")


def c_env(extra=None):
    """A copy of the environment with the C locale and without pagers or colours."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCALE_VARS}
    env.update({"LC_ALL": "C", "SYSTEMD_PAGER": "", "PAGER": "cat", "SYSTEMD_COLORS": "0",
                "SYSTEMD_LOG_COLOR": "0"})
    if extra:
        env.update(extra)
    return env


def _command_text(argv):
    text = " ".join(str(a) for a in argv)
    return text if len(text) <= 120 else text[:117] + "..."


def _timeout(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    if math.isnan(value) or value <= 0:
        return DEFAULT_TIMEOUT
    return min(value, 7 * 86400.0)


class CommandResult:
    """What a command did. Unpacks as ``rc, stdout, stderr, error``."""

    __slots__ = ("rc", "stdout", "stderr", "error", "truncated", "timed_out", "elapsed")

    def __init__(self, rc, stdout, stderr, error=None, truncated=False, timed_out=False, elapsed=0.0):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.error = error
        self.truncated = truncated
        self.timed_out = timed_out
        self.elapsed = elapsed

    def __iter__(self):
        return iter((self.rc, self.stdout, self.stderr, self.error))

    @property
    def ok(self):
        """The command ran to its end and exited 0."""
        return self.rc == 0 and self.error is None

    def __repr__(self):
        return "CommandResult(rc=%r, error=%r, truncated=%r, stdout=%d chars, stderr=%r)" % (
            self.rc, self.error, self.truncated, len(self.stdout), self.stderr[:80])


class Command:
    """A started command; collect it with :meth:`result` (once)."""

    def __init__(self, argv, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES, text=True, env=None):
        self.argv = [str(a) for a in argv]
        self.timeout = _timeout(timeout)
        self.max_bytes = max(0, int(max_bytes))
        self.text = text
        self.started = time.monotonic()
        self.deadline = self.started + self.timeout
        self.proc = None
        self.failure = None
        self._result = None
        if not self.argv:
            self.failure = "no command given"
            return
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=c_env(env), close_fds=True,
                                         start_new_session=True)
        except FileNotFoundError:
            self.failure = "%s not found" % self.argv[0]
        except PermissionError as exc:
            self.failure = "cannot run %s: %s" % (self.argv[0], (exc.strerror or str(exc)).lower())
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self.failure = "cannot run %s: %s" % (self.argv[0], getattr(exc, "strerror", None) or exc)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def _kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            try:
                self.proc.kill()
            except OSError:
                pass

    def _decode(self, data):
        return data.decode("utf-8", "replace") if self.text else data

    def _finish(self, out, err, rc, error=None, truncated=False, timed_out=False):
        self._result = CommandResult(rc, self._decode(bytes(out)), bytes(err).decode("utf-8", "replace").strip()
                                     if self.text else bytes(err), error=error, truncated=truncated,
                                     timed_out=timed_out, elapsed=round(time.monotonic() - self.started, 4))
        return self._result

    def result(self):
        """Wait for the command (until its deadline) and return its :class:`CommandResult`."""
        if self._result is not None:
            return self._result
        if self.proc is None:
            empty = "" if self.text else b""
            self._result = CommandResult(None, empty, "" if self.text else b"", error=self.failure)
            return self._result
        out = bytearray()
        err = bytearray()
        truncated = timed_out = False
        sel = selectors.DefaultSelector()
        streams = {self.proc.stdout.fileno(): ("out", self.proc.stdout),
                   self.proc.stderr.fileno(): ("err", self.proc.stderr)}
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        try:
            while streams:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ev in sel.select(min(remaining, 1.0)):
                    fd = key.fd
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        sel.unregister(fd)
                        streams.pop(fd)
                        continue
                    if streams[fd][0] == "out":
                        room = self.max_bytes - len(out)
                        out += chunk[:room]
                        if len(chunk) > room:
                            truncated = True
                    elif len(err) < MAX_STDERR:
                        err += chunk[:MAX_STDERR - len(err)]
                if truncated:
                    break
        finally:
            sel.close()
        if truncated or timed_out:
            self._kill()
        try:
            rc = self.proc.wait(timeout=max(0.0, self.deadline - time.monotonic()) if not (truncated or timed_out) else 5)
        except subprocess.TimeoutExpired:
            # stdout closed but the command keeps running (it detached its output)
            timed_out = True
            self._kill()
            rc = self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if timed_out:
            return self._finish(out, err, None, error="%s did not finish within %g seconds"
                                % (_command_text(self.argv), self.timeout), truncated=truncated, timed_out=True)
        if truncated:
            return self._finish(out, err, None, truncated=True)
        return self._finish(out, err, rc)

    def cancel(self):
        """Stop the command and whatever it started (its process group) and reap it."""
        if self.proc is None or self._result is not None:
            return
        if self.proc.poll() is None:
            self._kill()
        try:
            self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            pass
        self._finish(b"", b"", None, error="%s was cancelled" % _command_text(self.argv))


def start(argv, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES, text=True, env=None):
    """Start ``argv`` now; collect it later with ``.result()``."""
    return Command(argv, timeout=timeout, max_bytes=max_bytes, text=text, env=env)


def run(argv, timeout=DEFAULT_TIMEOUT, max_bytes=DEFAULT_MAX_BYTES, text=True, env=None):
    """Run ``argv`` to its end (or its timeout) and return a :class:`CommandResult`."""
    return Command(argv, timeout=timeout, max_bytes=max_bytes, text=text, env=env).result()


def call(argv, timeout=DEFAULT_TIMEOUT, max_bytes=4 * 1024 * 1024):
    """:func:`run` as the ``(rc, stdout, why)`` triple that code taking an injectable ``run``
    (tests pass a fake with this signature) expects: ``why`` is the runner's ``error`` sentence
    when the command did not run to its end, else its stderr."""
    res = run(argv, timeout=timeout, max_bytes=max_bytes)
    return res.rc, res.stdout, res.error or res.stderr
