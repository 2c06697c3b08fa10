# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd helpers that read unit files themselves: FIFOs and devices among them never block."""
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import systemd as sd


def _units(tmp_path):
    d = tmp_path / "system"
    (d / "app.service.d").mkdir(parents=True)
    (d / "app.service").write_text("[Service]\nExecStart=/srv/venv/bin/gunicorn wsgi:app\nUser=app\n")
    (d / "app.service.d" / "10-ok.conf").write_text("[Service]\nUser=web\n")
    os.mkfifo(str(d / "app.service.d" / "20-fifo.conf"))   # would block an open() forever
    os.mkfifo(str(d / "fifo.service"))
    os.symlink("/dev/zero", str(d / "zero.service"))       # would be read until the cap
    return str(d)


def _scan_and_read(dirs):
    found = sd.scan_unit_files(["gunicorn"], dirs=dirs, errors=[])
    fragment, dropins, merged = sd.read_unit("app.service", dirs=dirs)
    return found, fragment, [os.path.basename(p) for p in dropins], merged["Service"]["User"]


def test_fifo_and_device_unit_files_do_not_block(tmp_path, in_child):
    d = _units(tmp_path)
    found, fragment, dropins, user = in_child(_scan_and_read, (d,), timeout=10)
    assert found == ["app.service"]
    assert fragment == os.path.join(d, "app.service")
    assert dropins == ["10-ok.conf", "20-fifo.conf"]   # listed, but not read
    assert user == ["app", "web"]                       # the drop-in that could be read applies
