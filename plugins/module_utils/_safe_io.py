# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader for every file the target side opens, and the one writer that replaces a file
(standard library only).

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
``TooLarge``
    The :class:`UnsafeFile` of a file over the cap (for callers that treat that case apart).
``read_bytes(path, max_bytes=DEFAULT_MAX_BYTES, follow_symlinks=True)`` / ``read_text(...)``
    The whole file (text: UTF-8, undecodable bytes replaced). ``follow_symlinks=False`` refuses a
    symbolic link (a lock or state file in a directory others could plant links in).
``open_regular(path)``
    A binary file object over a regular file, no size cap (logs read from their end).
``error_for(source, path, exc)``
    The facts' error entry (``_proc.error``) for any exception a read raised.

Writing (remediation, locks, release history, reports): a reader of the file sees the old
content or the new one, never a part, and no temporary file is left behind when a write fails.

``write_new(path, data, mode=0o600, owner=None, finish=None)``
    Create ``path`` (never over an existing file or through a link), write ``data`` (bytes, or
    text as UTF-8) whole, set ``owner`` (``(uid, gid)``) then ``mode``, call ``finish(fd)``
    (extended attributes, times), ``fsync``.
``write_atomic(path, data, mode=0o644, owner=None, finish=None)``
    Replace (or create) ``path``: :func:`write_new` on a hidden name beside it (include globs
    such as ``*.conf`` or ``*`` skip hidden files), ``rename`` over ``path``, sync the directory.
``replace_symlink(path, target, owner=None, mtime_ns=None)``
    Point the link ``path`` at ``target`` the same way (a new link beside it, renamed over it).
``temp_path(path)`` / ``fsync_dir(path)``
    The hidden name beside ``path`` those use; a best-effort ``fsync`` of a directory.
"""

from __future__ import annotations

import errno as _errno
import itertools
import os
import stat
import time

from ansible_collections.badgateway.doctor.plugins.module_utils._proc import error

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_TEMP_COUNTER = itertools.count(1)

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
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


class TooLarge(UnsafeFile):
    """A file over the size cap."""


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
    return TooLarge(path, "is larger than %s (the cap)" % _human(max_bytes))


def _open_fd(path, follow_symlinks=True):
    """Open ``path`` read-only after checking it is a regular file; return (fd, fstat)."""
    try:
        # refuse special files before opening them: opening some devices has side effects
        _check_kind(path, os.stat(path) if follow_symlinks else os.lstat(path))
        fd = os.open(path, _FLAGS if follow_symlinks else _FLAGS | _NOFOLLOW)
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


def read_bytes(path, max_bytes=DEFAULT_MAX_BYTES, follow_symlinks=True):
    """Return the content of the regular file ``path``; raise :class:`UnsafeFile` otherwise.

    Files larger than ``max_bytes`` are refused (:class:`TooLarge`; checked on the size ``fstat``
    reports and on what is actually read, for files such as ``/proc`` entries that report no
    size). ``follow_symlinks=False``: a symbolic link is refused too.
    """
    max_bytes = int(max_bytes)
    fd, st = _open_fd(path, follow_symlinks)
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


# ---------------------------------------------------------------- writing

def temp_path(path):
    """A hidden name beside ``path`` for the file about to replace it (unique to this process and call)."""
    return os.path.join(os.path.dirname(path), ".%s.bgd-%d-%d-%d" % (
        os.path.basename(path), os.getpid(), next(_TEMP_COUNTER), time.monotonic_ns() % 1000000))


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_dir(path):
    """``fsync`` the directory ``path`` (a rename in it is then durable); problems are ignored."""
    try:
        fd = os.open(path or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_new(path, data, mode=0o600, owner=None, finish=None):
    """Create ``path`` exclusively with ``data`` (see the module docstring); removed again when anything fails."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, _CREATE, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if owner is not None:
            os.fchown(fd, owner[0], owner[1])  # before the mode: chown clears set-id bits
        os.fchmod(fd, mode)
        if finish is not None:
            finish(fd)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    os.close(fd)


def _rename_over(tmp, path):
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(os.path.dirname(path))


def write_atomic(path, data, mode=0o644, owner=None, finish=None):
    """Replace (or create) ``path`` with ``data`` atomically (see the module docstring)."""
    tmp = temp_path(path)
    write_new(tmp, data, mode, owner, finish)
    _rename_over(tmp, path)


def replace_symlink(path, target, owner=None, mtime_ns=None):
    """Point the symbolic link ``path`` at ``target`` atomically (a new link beside it, renamed over it)."""
    tmp = temp_path(path)
    os.symlink(target, tmp)
    try:
        if owner is not None:
            os.chown(tmp, owner[0], owner[1], follow_symlinks=False)
        if mtime_ns:
            os.utime(tmp, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _rename_over(tmp, path)
