# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_parser over every file of the real-world corpus in ``../shared/corpus/nginx``.

* Every file (configs, snippets, mime.types / params / charset maps, and also the READMEs and
  the binary .bz2 that sit in those trees) parses as a single file without a Python exception.
* The files that fail are exactly the known broken or non-nginx ones listed below, and a
  handful of deliberately broken configs fail at the line checked by reading the file.
* Every ``nginx.conf`` also parses with its includes followed, and reading the corpus through
  the ``files=`` virtual file system gives the same payload as reading it from disk (absolute
  includes such as ``/etc/nginx/mime.types`` are missing in both, so nothing outside the corpus
  is read).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import NginxParseError, parse

CORPUS = (Path(__file__).resolve().parents[4] / ".." / "shared" / "corpus" / "nginx").resolve()

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not found at %s (../shared next to the repo)" % CORPUS)

# relative path -> why it fails (single-file parse)
EXPECTED_FAILURES = {
    "NGINX-Demos/consul-template-demo/nginx/nginx.conf": "consul-template {{ }} template",
    "nginx-proxy-manager/docker/rootfs/etc/nginx/conf.d/production.conf.template": "{{ }} template",
    "certbot/certbot-compatibility-test/nginx/README": "not nginx syntax",
    "gonginx/full-example/.gitignore": "not nginx syntax",
    "gonginx/full-example/nginx-structure.conf": "pseudo-config",
    "certbot/certbot/src/certbot/_internal/tests/plugins/nginx/testdata/etc_nginx/ubuntu_nginx_1_4_6/default_vhost/nginx/naxsi-ui.conf.1.4.1":
        "INI file",
    "certbot/certbot-compatibility-test/src/certbot_compatibility_test/testdata/nginx.tar.gz.extracted/great-nginx-config/stuff/sites-enabled/default":
        "symlink stored as text",
    "certbot/certbot/src/certbot/_internal/tests/plugins/nginx/testdata/etc_nginx/ubuntu_nginx_1_4_6/default_vhost/nginx/sites-enabled/default":
        "symlink stored as text",
    "certbot/certbot/src/certbot/_internal/tests/plugins/nginx/testdata/etc_nginx/broken.conf": "broken on purpose",
    "crossplane/tests/configs/includes-globbed/servers/locations/not-included.conf": "junk file",
    "crossplane/tests/configs/includes-regular/conf.d/bar.conf": "junk file",
    "crossplane/tests/configs/includes-regular/conf.d/foo.conf": "junk file",
    "crossplane/tests/configs/missing-semicolon/broken-above.conf": "broken on purpose",
    "crossplane/tests/configs/missing-semicolon/broken-below.conf": "broken on purpose",
    "gonginx/testdata/include-glob/sites-enabled/conf.d/location-letsencrypt.conf": "must not be included",
    "gonginx/testdata/include-glob/sites-enabled/conf.d/location-root.conf": "must not be included",
    "gonginx/testdata/issues/20.conf": "Lua -- comments fool brace counting (crossplane fails too)",
    "gonginx/testdata/issues/31.conf": "unclosed server {",
    "gunicorn/docs/content/deploy.md.L357-L368.conf": "literal ... lines",
    "nginx-go-crossplane/testdata/configs/large-config/nginx.conf.bz2": "binary",
    "nginx-go-crossplane/testdata/configs/premature-eof/nginx.conf": "broken on purpose",
}
for _prefix in ("nginx-go-crossplane/testdata/configs/", "nginx-go-crossplane/testdata/configs/testdata/"):
    for _name in ("braces/extra-brace.conf", "braces/missing-brace.conf", "includes-globbed/servers/locations/not-included.conf",
                  "includes-regular/conf.d/bar.conf", "includes-regular/conf.d/foo.conf",
                  "missing-semicolon-above/nginx.conf", "missing-semicolon-below/nginx.conf",
                  "large-config/nginx.conf.bz2"):
        EXPECTED_FAILURES.setdefault(_prefix + _name, "broken on purpose")
for _name in ("missing-semicolon/broken-above.conf", "missing-semicolon/broken-below.conf"):
    EXPECTED_FAILURES["nginx-go-crossplane/testdata/configs/" + _name] = "broken on purpose"

# deliberately broken configs: (relative path, line of the first error, words in it), lines checked by reading the files
BROKEN = [
    ("crossplane/tests/configs/missing-semicolon/broken-above.conf", 4, 'directive "proxy_pass" is not terminated by ";"'),
    ("crossplane/tests/configs/missing-semicolon/broken-below.conf", 7, 'directive "proxy_pass" is not terminated by ";"'),
    ("nginx-go-crossplane/testdata/configs/braces/extra-brace.conf", 11, 'unexpected "}"'),
    ("nginx-go-crossplane/testdata/configs/braces/missing-brace.conf", 22, 'unexpected end of file, expecting "}"'),
    ("nginx-go-crossplane/testdata/configs/premature-eof/nginx.conf", 3, 'unexpected end of file, expecting ";" or "}"'),
    # "..." on line 2 takes "http" as its argument and the block as its own; the last "..." has no ";"
    ("gunicorn/docs/content/deploy.md.L357-L368.conf", 12, 'unexpected end of file, expecting ";" or "}"'),
    ("certbot/certbot/src/certbot/_internal/tests/plugins/nginx/testdata/etc_nginx/broken.conf", 12, 'unexpected end of file'),
    ("gonginx/testdata/issues/31.conf", 115, 'unexpected end of file, expecting "}"'),
]


def _all_files():
    if not CORPUS.is_dir():
        return []
    found = []
    for directory, _dirs, names in os.walk(CORPUS):
        for name in names:
            found.append(os.path.join(directory, name))
    return sorted(found)


def test_every_corpus_file_parses_and_only_known_ones_fail():
    files = _all_files()
    assert len(files) > 700
    failed = set()
    for path in files:
        payload = parse(path, single_file=True, comments=True)
        assert payload["status"] in ("ok", "failed")
        assert len(payload["config"]) == 1
        if payload["status"] == "failed":
            failed.add(os.path.relpath(path, str(CORPUS)))
            for error in payload["errors"]:
                assert error["file"] == path and isinstance(error["line"], int)
    assert failed == set(EXPECTED_FAILURES)


@pytest.mark.parametrize("relative, line, words", BROKEN, ids=[b[0].split("/")[-2] + "/" + b[0].split("/")[-1] for b in BROKEN])
def test_broken_configs_fail_at_the_right_line(relative, line, words):
    path = str(CORPUS / relative)
    payload = parse(path, single_file=True)
    assert payload["status"] == "failed"
    first = payload["errors"][0]
    assert (first["file"], first["line"]) == (path, line)
    assert words in first["error"]
    with pytest.raises(NginxParseError) as info:
        parse(path, single_file=True, catch_errors=False)
    assert (info.value.file, info.value.line) == (path, line)


def test_main_configs_with_includes_disk_and_virtual_agree():
    files = {}
    for path in _all_files():
        with open(path, "rb") as handle:
            files[path] = handle.read()
    mains = [p for p in files if os.path.basename(p) == "nginx.conf"]
    assert len(mains) > 100
    followed = 0
    for main in mains:
        from_disk = parse(main)
        assert from_disk["status"] in ("ok", "failed")
        assert parse(main, files=files) == from_disk
        followed += len(from_disk["config"]) > 1
    assert followed > 10


def test_known_trees_resolve_completely():
    for relative, count in (("h5bp-server-configs-nginx/nginx.conf", 8), ("nginx/conf/nginx.conf", 2),
                            ("nginx-go-crossplane/testdata/configs/ubuntu-default/nginx.conf", 5),
                            ("certbot/certbot/src/certbot/_internal/tests/plugins/nginx/testdata/etc_nginx/nginx.conf", 16)):
        payload = parse(str(CORPUS / relative))
        assert payload["status"] == "ok", payload["errors"]
        assert len(payload["config"]) == count


def test_include_cycle_in_corpus():
    main = str(CORPUS / "nginx-go-crossplane/testdata/configs/includes-cycle/invalid/nginx.conf")
    payload = parse(main)
    assert payload["status"] == "failed"
    assert len(payload["config"]) == 3
    assert all("include cycle" in e["error"] for e in payload["errors"])
    valid = parse(str(CORPUS / "nginx-go-crossplane/testdata/configs/includes-cycle/valid/nginx.conf"))
    assert valid["status"] == "ok"
