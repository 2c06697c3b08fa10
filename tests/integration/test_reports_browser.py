# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html rendered by a real headless browser (Debian's chromium).

Installs chromium with apt-get when it is missing (root only); skips with the reason when it
cannot be installed or started.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(REPO, "tests", "output", "collections")
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "facts")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    try:
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=False, capture_output=True, timeout=900,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium():
    path = _chromium()
    if not path:
        pytest.skip("chromium is not installed and could not be installed with apt-get (needs root and the Debian archive)")
    return path


def _load(name):
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from ansible_collections.badgateway.doctor.plugins.plugin_utils import reports, rules
    hosts = {
        "web1": {"facts": _load("app_stopped"), "unreachable": False, "address": ["10.213.0.2"], "msg": ""},
        "web2": {"facts": _load("healthy_lab"), "unreachable": False, "address": ["10.213.0.4"], "msg": ""},
        "web3": {"facts": _load("socket_dir_permission"), "unreachable": False, "address": ["10.213.0.5"], "msg": ""},
        "web4": {"facts": None, "unreachable": True, "address": ["10.213.0.6"], "msg": "ssh: connect to host 10.213.0.6 port 22: No route to host"},
    }
    result = rules.evaluate(hosts)
    out = tmp_path_factory.mktemp("report")
    written = reports.write_reports(result, str(out), ["html", "json"])
    return result, written["html"], out


def _run(chromium, args, tmp):
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [chromium] + FLAGS + [f"--user-data-dir={profile}"] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish: {' '.join(cmd)}")


def test_dom_has_hosts_broken_hops_and_codes(chromium, report):
    result, html_path, out = report
    proc = _run(chromium, ["--dump-dom", f"file://{html_path}"], out)
    dom = proc.stdout
    if not dom.strip():
        pytest.skip(f"chromium produced no DOM (cannot start here?): {proc.stderr[-500:]}")
    for host in ("web1", "web2", "web3", "web4"):
        assert f'data-host="{host}"' in dom
    assert 'id="broken-hop-web1"' in dom and 'id="broken-hop-web3"' in dom
    assert 'data-hop="app" data-hop-state="broken"' in dom          # web1: app stopped
    assert 'data-hop="endpoint" data-hop-state="broken"' in dom     # web3: socket dir permission
    assert 'id="broken-hop-web2"' not in dom                        # the healthy host has no broken hop
    for code in ("APP_STOPPED", "SOCKET_MISSING", "SOCKET_DIR_PERMISSION", "HOST_UNREACHABLE"):
        assert f'data-code="{code}"' in dom
    assert result["hosts"]["web1"]["findings"][0]["code"] == "APP_STOPPED"


def _png_info(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    # decode IDAT to count distinct colours (8-bit RGB/RGBA, no interlace, as chromium writes)
    pos, idat = 8, b""
    colour_type = data[25]
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        ctype = data[pos + 4:pos + 8]
        if ctype == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp = 4 if colour_type == 6 else 3
    stride = width * bpp + 1
    colours = set()
    prev = bytearray(stride - 1)
    for y in range(height):
        ftype = raw[y * stride]
        line = bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) & 0xFF
        if y % 8 == 0:
            for x in range(0, width * bpp, bpp * 4):
                colours.add(bytes(line[x:x + 3]))
        prev = line
    return width, height, colours


def test_screenshot_is_not_trivial(chromium, report):
    _result, html_path, out = report
    shot = out / "report.png"
    proc = _run(chromium, [f"--screenshot={shot}", "--window-size=1280,1600", f"file://{html_path}"], out)
    if not shot.exists():
        pytest.skip(f"chromium wrote no screenshot (cannot start here?): {proc.stderr[-500:]}")
    data = shot.read_bytes()
    assert len(data) > 20000
    width, height, colours = _png_info(data)
    assert (width, height) == (1280, 1600)
    # text, badges, the red broken hop and the green healthy hops: many colours, including a strong red
    assert len(colours) > 50
    assert any(c[0] > 180 and c[1] < 80 and c[2] < 80 for c in colours), "no red (broken hop / critical badge) in the screenshot"
    keep = os.environ.get("BADGATEWAY_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
