# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader for every file the target side opens (standard library only).

A path named in a configuration file, an option or a unit file can be anything: a FIFO (reading
blocks forever), ``/dev/zero`` (reads until memory runs out), a directory, a terminal, a file
of many gigabytes. Every fact source opens files through this module, which

- refuses anything but a regular file *before* opening it (``stat``) and again on the open
  descriptor (``fstat``, so a path swapped in between is caught too); the open uses
  ``O_NONBLOCK | O_NOCTTY`` so that even a special file swapped in cannot block or become the
  controlling terminal;
- refuses files larger than a cap (16 MiB unless the caller says otherwise), also when the
  size on disk is not known in advance (``/proc`` files report 0);
- raises :class:`UnsafeFile` (an ``OSError``) whose message names the file and the cause.

Public API (stable):

``UnsafeFile``
    The error. ``str(exc)`` is a sentence naming the file and the cause; ``exc.reason`` is the
    cause alone; ``exc.errno`` is set for operating-system failures. It is also an instance of
    ``FileNotFoundError`` / ``PermissionError`` when the file is missing / not permitted, so
    existing ``except FileNotFoundError`` handlers keep working.
``read_bytes(path, max_bytes=DEFAULT_MAX_BYTES)`` / ``read_text(path, max_bytes=...)``
    The whole file (text: UTF-8, undecodable bytes replaced).
``open_regular(path)``
    A binary file object over a regular file, no size cap (logs read from their end).
``error_for(source, path, exc)``
    The facts' error entry (``_proc.error``) for any exception a read raised.
"""

from __future__ import annotations

import errno as _errno
import os
import stat

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISSOCK, "a socket"),
)


class UnsafeFile(OSError):
    """A file the reader refused or could not read; the message names the file and the cause."""

    def __init__(self, path, reason, err=None):
        self.path = _display(path)
        self.reason = reason
        if err is not None:
            super().__init__(err, reason)
        else:
            super().__init__(reason)
        self.filename = self.path

    def __str__(self):
        if self.errno is None:
            return "%s %s" % (self.path, self.reason)
        return "cannot read %s: %s" % (self.path, self.reason)


class _Missing(UnsafeFile, FileNotFoundError):
    pass


class _Denied(UnsafeFile, PermissionError):
    pass


class _Directory(UnsafeFile, IsADirectoryError):
    pass


def _display(path):
    if isinstance(path, bytes):
        return path.decode("utf-8", "replace")
    return str(path)


def _human(size):
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return "%d MiB" % (size // (1024 * 1024))
    if size >= 1024 and size % 1024 == 0:
        return "%d KiB" % (size // 1024)
    return "%d bytes" % size


def _from_oserror(path, exc):
    """Turn an OSError of open/stat/read into an UnsafeFile with a short, plain cause."""
    if isinstance(exc, UnsafeFile):
        return exc
    reason = (exc.strerror or str(exc) or exc.__class__.__name__)
    reason = reason[:1].lower() + reason[1:]
    cls = UnsafeFile
    if exc.errno == _errno.ENOENT or isinstance(exc, FileNotFoundError):
        cls = _Missing
    elif exc.errno in (_errno.EACCES, _errno.EPERM):
        cls = _Denied
    elif exc.errno == _errno.EISDIR:
        cls = _Directory
    return cls(path, reason, exc.errno if exc.errno is not None else _errno.EIO)


def _check_kind(path, st):
    if stat.S_ISREG(st.st_mode):
        return
    for test, name in _KINDS:
        if test(st.st_mode):
            if name == "a directory":
                raise _Directory(path, "is a directory, not a regular file")
            raise UnsafeFile(path, "is %s, not a regular file" % name)
    raise UnsafeFile(path, "is not a regular file")


def _too_big(path, max_bytes):
    return UnsafeFile(path, "is larger than %s (the cap)" % _human(max_bytes))


def _open_fd(path):
    """Open ``path`` read-only after checking it is a regular file; return (fd, fstat)."""
    try:
        # refuse special files before opening them: opening some devices has side effects
        _check_kind(path, os.stat(path))
        fd = os.open(path, _FLAGS)
    except UnsafeFile:
        raise
    except OSError as exc:
        raise _from_oserror(path, exc) from None
    try:
        st = os.fstat(fd)
        _check_kind(path, st)  # the path may have been swapped between stat and open
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise _from_oserror(path, exc) from None
        raise
    return fd, st


def read_bytes(path, max_bytes=DEFAULT_MAX_BYTES):
    """Return the content of the regular file ``path``; raise :class:`UnsafeFile` otherwise.

    Files larger than ``max_bytes`` are refused (checked on the size ``fstat`` reports and on
    what is actually read, for files such as ``/proc`` entries that report no size).
    """
    max_bytes = int(max_bytes)
    fd, st = _open_fd(path)
    try:
        if st.st_size > max_bytes:
            raise _too_big(path, max_bytes)
        chunks = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            except OSError as exc:
                raise _from_oserror(path, exc) from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _too_big(path, max_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path, max_bytes=DEFAULT_MAX_BYTES):
    """Like :func:`read_bytes`, decoded as UTF-8 (undecodable bytes replaced)."""
    return read_bytes(path, max_bytes).decode("utf-8", "replace")


def open_regular(path):
    """Return a binary file object over the regular file ``path`` (no size cap).

    For readers that seek and read a bounded part themselves (logs read from their end).
    Raises :class:`UnsafeFile` like :func:`read_bytes`.
    """
    fd, _st = _open_fd(path)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def describe(path, exc):
    """A sentence naming ``path`` and why reading it failed, for any exception."""
    if isinstance(exc, UnsafeFile):
        return str(exc)
    if isinstance(exc, OSError):
        return str(_from_oserror(path, exc))
    return "cannot read %s: %s" % (_display(path), exc)


def error_for(source, path, exc):
    """The facts' error entry for a failed read of ``path``."""
    return error(source, _display(path) if path is not None else None, describe(path, exc))
