# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader, on real special files: a FIFO, /dev/zero, a directory, a sparse giant, a
file another user cannot read. Each case must answer at once with a sentence naming the file."""
from __future__ import annotations

import errno
import os
import socket

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils import _safe_io
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import UnsafeFile, error_for, open_regular, read_bytes, read_text


def test_regular_file(tmp_path):
    p = tmp_path / "a.conf"
    p.write_bytes(b"user www-data;\n\xff\n")
    assert read_bytes(str(p)) == b"user www-data;\n\xff\n"
    assert read_text(str(p)) == "user www-data;\n\ufffd\n"
    assert read_text(p) == read_text(str(p))  # path-like
    with open_regular(str(p)) as f:
        f.seek(5)
        assert f.read(3) == b"www"


def _refusal(reader, path):
    try:
        reader(path)
    except UnsafeFile as exc:
        return [str(exc), exc.reason]
    return None


def test_fifo_is_refused_without_blocking(tmp_path, in_child):
    p = tmp_path / "include.conf"
    os.mkfifo(str(p))
    for reader in (read_bytes, read_text, open_regular):
        assert in_child(_refusal, reader, str(p), timeout=5) == ["%s is a FIFO, not a regular file" % p,
                                                                 "is a FIFO, not a regular file"]


def test_dev_zero_is_refused(in_child):
    assert in_child(_refusal, read_bytes, "/dev/zero", timeout=5)[0] == "/dev/zero is a character device, not a regular file"


def test_directory_is_refused(tmp_path):
    with pytest.raises(UnsafeFile) as exc:
        read_text(str(tmp_path))
    assert str(exc.value) == "%s is a directory, not a regular file" % tmp_path
    assert isinstance(exc.value, IsADirectoryError)


def test_unix_socket_is_refused(tmp_path):
    path = str(tmp_path / "s.sock")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
        with pytest.raises(UnsafeFile, match="is a socket, not a regular file"):
            read_bytes(path)
    finally:
        s.close()


def test_sparse_giant_is_refused_before_reading(tmp_path):
    p = tmp_path / "huge.log"
    with open(p, "wb") as f:
        f.truncate(64 * 1024 * 1024 * 1024)  # 64 GiB of holes: reading it would take ages
    with pytest.raises(UnsafeFile) as exc:
        read_bytes(str(p))
    assert str(exc.value) == "%s is larger than 16 MiB (the cap)" % p
    with pytest.raises(UnsafeFile, match=r"is larger than 4 KiB \(the cap\)"):
        read_text(str(p), max_bytes=4096)
    # no cap for open_regular: the caller reads a bounded part itself
    with open_regular(str(p)) as f:
        f.seek(-10, os.SEEK_END)
        assert f.read() == b"\0" * 10


def test_exact_cap_is_allowed(tmp_path):
    p = tmp_path / "a"
    p.write_bytes(b"x" * 100)
    assert len(read_bytes(str(p), max_bytes=100)) == 100
    with pytest.raises(UnsafeFile, match="larger than 99 bytes"):
        read_bytes(str(p), max_bytes=99)


def test_files_reporting_no_size_are_capped_on_what_is_read():
    # /proc files say st_size 0: the cap applies to the bytes actually read
    with pytest.raises(UnsafeFile, match="/proc/self/maps is larger than 16 bytes"):
        read_bytes("/proc/self/maps", max_bytes=16)
    assert read_text("/proc/self/comm").strip()


def test_missing_file_is_still_a_file_not_found(tmp_path):
    p = str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError) as exc:
        read_bytes(p)
    assert isinstance(exc.value, UnsafeFile)
    assert exc.value.errno == errno.ENOENT
    assert str(exc.value) == "cannot read %s: no such file or directory" % p


def _read_refusal(path):
    try:
        read_text(path)
        return "read it"
    except PermissionError as exc:
        return "%s|%s|%s" % (type(exc).__name__, isinstance(exc, UnsafeFile), exc)


def test_unreadable_file_as_another_user(tmp_path, as_nobody):
    p = tmp_path / "env"
    p.write_text("SECRET_KEY=x\n")
    os.chmod(str(p), 0o600)
    os.chmod(str(tmp_path), 0o755)
    assert as_nobody(_read_refusal, str(p)) == "_Denied|True|cannot read %s: permission denied" % p


def test_error_for_builds_the_facts_entry(tmp_path):
    p = tmp_path / "f"
    os.mkfifo(str(p))
    with pytest.raises(UnsafeFile) as exc:
        read_bytes(str(p))
    entry = error_for("nginx_config", str(p), exc.value)
    assert entry == {"source": "nginx_config", "path": str(p), "message": "%s is a FIFO, not a regular file" % p}
    assert error_for("x", "/a", OSError(errno.EIO, "Input/output error")) == {
        "source": "x", "path": "/a", "message": "cannot read /a: input/output error"}
    assert error_for("x", "/a", ValueError("bad"))["message"] == "cannot read /a: bad"


def test_symlink_to_fifo_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    link = tmp_path / "link.conf"
    link.symlink_to(fifo)
    with pytest.raises(UnsafeFile, match="is a FIFO"):
        read_text(str(link))


def test_swapped_after_stat_is_caught_by_fstat(tmp_path, monkeypatch):
    """A regular file at stat time that is a FIFO when opened: fstat on the descriptor refuses it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    regular = tmp_path / "regular"
    regular.write_text("x")
    real_stat = os.stat
    monkeypatch.setattr(_safe_io.os, "stat", lambda path, *a, **k: real_stat(str(regular)))
    with pytest.raises(UnsafeFile, match="is a FIFO"):
        read_text(str(fifo))


# ---------------------------------------------------------------- refusing links, the cap's own error

def test_links_refused_when_asked_and_the_cap_is_its_own_error(tmp_path):
    target = tmp_path / "target"
    target.write_text("{}")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_bytes(str(link)) == b"{}"
    with pytest.raises(UnsafeFile, match="is a symbolic link, not a regular file"):
        read_bytes(str(link), follow_symlinks=False)
    with pytest.raises(_safe_io.TooLarge, match="larger than 1 bytes"):
        read_bytes(str(target), 1)


# ---------------------------------------------------------------- the one writer

def _listing(path):
    return sorted(os.listdir(str(path)))


def test_write_atomic_replaces_whole_with_mode_and_leaves_nothing_beside(tmp_path):
    path = tmp_path / "site.conf"
    path.write_text("old\n")
    os.chmod(str(path), 0o600)
    _safe_io.write_atomic(str(path), "new\n", 0o644)
    assert path.read_text() == "new\n" and oct(path.stat().st_mode & 0o7777) == "0o644"
    _safe_io.write_atomic(str(tmp_path / "created"), b"\x00bytes", 0o600)
    assert (tmp_path / "created").read_bytes() == b"\x00bytes"
    assert _listing(tmp_path) == ["created", "site.conf"]
    # a name include globs skip: hidden, beside the file
    assert os.path.basename(_safe_io.temp_path(str(path))).startswith(".site.conf.bgd-")


def test_write_atomic_failing_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "history.json"
    path.write_text("OLD")

    def finish(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        _safe_io.write_atomic(str(path), "NEW", finish=finish)

    def rename(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(_safe_io.os, "rename", rename)
    with pytest.raises(OSError):
        _safe_io.write_atomic(str(path), "NEW")
    assert path.read_text() == "OLD" and _listing(tmp_path) == ["history.json"]


def test_write_new_never_overwrites_nor_follows_a_link(tmp_path):
    existing = tmp_path / "files-0001"
    existing.write_text("saved")
    with pytest.raises(FileExistsError):
        _safe_io.write_new(str(existing), b"other")
    assert existing.read_text() == "saved"
    (tmp_path / "planted").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        _safe_io.write_new(str(tmp_path / "planted"), b"x")
    assert not (tmp_path / "elsewhere").exists()


def test_replace_symlink(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    link = tmp_path / "current"
    link.symlink_to("v1")
    _safe_io.replace_symlink(str(link), "v2", mtime_ns=10 ** 18)
    assert os.readlink(str(link)) == "v2" and os.lstat(str(link)).st_mtime_ns == 10 ** 18
    assert _listing(tmp_path) == ["current", "v1", "v2"]
