# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure catalog tables of README.md and docs/catalog.md, generated from plugins/plugin_utils/catalog.py.

``python tests/unit/plugins/plugin_utils/catalog_docs.py --write`` rewrites both tables (between the
``<!-- catalog-table:begin -->`` / ``<!-- catalog-table:end -->`` markers); test_catalog.py fails
when a file disagrees with the catalog.
"""
from __future__ import annotations

import glob
import os
import sys

from facts_fixtures import REPO

from ansible_collections.badgateway.doctor.plugins.plugin_utils import catalog

try:
    import tomllib
except ImportError:   # Python < 3.11
    tomllib = None

BEGIN = "<!-- catalog-table:begin -->"
END = "<!-- catalog-table:end -->"
README = os.path.join(REPO, "README.md")
CATALOG_MD = os.path.join(REPO, "docs", "catalog.md")
FAULTS_TOML = os.path.join(REPO, "tests", "lab", "faults.toml")
# the lab's fault catalogs: faults.toml first, then the other topologies' (faults_containers.toml ...)
FAULT_FILES = [FAULTS_TOML] + sorted(p for p in glob.glob(os.path.join(REPO, "tests", "lab", "faults_*.toml")))


def lab_faults():
    """code -> the first lab fault (tests/lab/faults.toml order, then faults_*.toml) that reproduces it."""
    if tomllib is None:
        return None
    out = {}
    for path in FAULT_FILES:
        with open(path, "rb") as fh:
            faults = tomllib.load(fh).get("fault", [])
        for f in faults:
            out.setdefault(f.get("expect_code"), f.get("name"))
    return out


def remediation(entry):
    if entry.role is None:
        return "by hand"
    return f"`{entry.role}`" + (" (opt-in)" if entry.opt_in else "")


def table(reproduced=None):
    """The markdown table; with ``reproduced`` (code -> lab fault) a last column says where the class is reproduced."""
    head = ["code", "layer", "what users see", "evidence used", "fix", "remediation role"]
    if reproduced is not None:
        head.append("reproduced")
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _col in head) + " |"]
    for e in catalog.CATALOG.values():
        row = [f"`{e.code}`", e.layer, e.users_see, e.evidence, e.fix, remediation(e)]
        if reproduced is not None:
            row.append(f"lab (`{reproduced[e.code]}`)" if e.code in reproduced else "unit")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def expected(path):
    """The file's text with the generated table between the markers (ValueError without markers)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    gen = table(lab_faults()) if path == README else table()
    return text[:start] + "\n" + gen + "\n" + text[end:]


def main(argv):
    for path in (README, CATALOG_MD):
        new = expected(path)
        if "--write" in argv:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
