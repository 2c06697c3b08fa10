# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write plugins/doc_fragments/options.py from plugins/module_utils/_options.py (run after changing an option)."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "output" / "collections"))
TARGET = REPO / "plugins" / "doc_fragments" / "options.py"


def main():
    from ansible_collections.badgateway.doctor.plugins.module_utils._options import render_doc_fragment  # pylint: disable=import-outside-toplevel
    TARGET.write_text(render_doc_fragment(), encoding="utf-8")
    print("wrote %s" % TARGET.relative_to(REPO))


if __name__ == "__main__":
    main()
