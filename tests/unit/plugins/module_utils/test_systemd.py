# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd helpers that read unit files themselves: FIFOs and devices among them never block; the unit file syntax."""
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


def _scan(dirs):
    return sd.scan_unit_files(["gunicorn"], dirs=dirs, errors=[])


def test_fifo_and_device_unit_files_do_not_block(tmp_path, in_child):
    d = _units(tmp_path)
    assert in_child(_scan, (d,), timeout=10) == ["app.service"]


def test_unit_file_syntax():
    text = ("# comment\n[Service]\nExecStart=/usr/bin/gunicorn app:app\nEnvironment=A=1\n; also a comment\n"
            "ExecStart=\nExecStart=/usr/bin/gunicorn \\\n  -b unix:/run/a.sock app:app\n[Install]\nWantedBy=multi-user.target\n")
    assert sd.parse_unit_file(text) == {
        "Service": [("ExecStart", "/usr/bin/gunicorn app:app"), ("Environment", "A=1"), ("ExecStart", ""),
                    ("ExecStart", "/usr/bin/gunicorn  -b unix:/run/a.sock app:app")],
        "Install": [("WantedBy", "multi-user.target")],
    }
