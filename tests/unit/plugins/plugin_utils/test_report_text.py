# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTML / Markdown-cell escaping every report writer uses."""
from __future__ import annotations

import pytest

from ansible_collections.badgateway.doctor.plugins.plugin_utils import _report_text, remediation_report, reports, reports_gate


@pytest.mark.parametrize("value, want", [
    (None, ""),
    ('<a href="x">&\'', "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"),
    (502, "502"),
])
def test_html_text(value, want):
    assert _report_text.html_text(value) == want


@pytest.mark.parametrize("value, want", [
    (None, ""),
    ("a|b\nc <script>", "a\\|b c &lt;script&gt;"),
    (7, "7"),
])
def test_md_cell(value, want):
    assert _report_text.md_cell(value) == want


def test_every_report_writer_uses_it():
    for module in (reports, reports_gate, remediation_report):
        assert module._e is _report_text.html_text  # pylint: disable=protected-access
        assert module._md is _report_text.md_cell  # pylint: disable=protected-access
