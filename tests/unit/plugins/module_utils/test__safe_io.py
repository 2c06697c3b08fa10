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
