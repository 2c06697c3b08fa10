# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How every report writer puts a value into HTML and into a Markdown table cell (controller side).

The texts are masked before they get here (``_rules_common.masked``); this only escapes them.
"""
from __future__ import annotations

import html


def html_text(value):
    """``value`` as HTML text or attribute value (None is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def md_cell(text):
    """``text`` for one cell of a Markdown table: one line, no column break, no raw HTML."""
    return str("" if text is None else text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
