# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pass targets in each directive's form, and buffer sets that pass nginx's merge checks."""
from __future__ import annotations

import itertools

import pytest

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit_values import (
    BufferState,
    complete_buffers,
    normalize_target,
    pass_arg,
    server_args,
    split_pass,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_values import parse_size


@pytest.mark.parametrize("directive, arg, expected", [
    ("proxy_pass", "http://127.0.0.1:8000/api/", ("http://", "127.0.0.1:8000", "/api/")),
    ("proxy_pass", "http://unix:/run/a.sock:/api/", ("http://", "unix:/run/a.sock", ":/api/")),
    ("proxy_pass", "https://backend", ("https://", "backend", "")),
    ("proxy_pass", "http://127.0.0.1:8000$request_uri", ("http://", "127.0.0.1:8000", "$request_uri")),
    ("uwsgi_pass", "unix:/run/u.sock", ("", "unix:/run/u.sock", "")),
    ("uwsgi_pass", "uwsgi://10.0.0.1:3031", ("uwsgi://", "10.0.0.1:3031", "")),
    ("fastcgi_pass", "[::1]:9000", ("", "[::1]:9000", "")),
])
def test_split_pass(directive, arg, expected):
    assert split_pass(directive, arg) == expected


def test_split_pass_refuses_a_variable_address():
    with pytest.raises(ValueError, match="variable"):
        split_pass("proxy_pass", "$backend")


@pytest.mark.parametrize("target, expected", [
    ("http://127.0.0.1:8001", "127.0.0.1:8001"), ("http://127.0.0.1:8001/", "127.0.0.1:8001"),
    ("http://unix:/run/g.sock", "unix:/run/g.sock"), ("http://unix:/run/g.sock:", "unix:/run/g.sock"),
    ("unix:/run/g.sock", "unix:/run/g.sock"), ("[::1]:8000", "[::1]:8000"), ("wsgi_app", "wsgi_app"),
])
def test_normalize_target(target, expected):
    assert normalize_target(target) == expected


@pytest.mark.parametrize("target", ["", "http://127.0.0.1:8000/api", "unix:relative", "a b", "x;y", None])
def test_normalize_target_refuses(target):
    with pytest.raises(ValueError):
        normalize_target(target)


@pytest.mark.parametrize("old, arg, new, target, expected", [
    ("proxy_pass", "http://127.0.0.1:8002/", None, "127.0.0.1:8001", "http://127.0.0.1:8001/"),
    ("proxy_pass", "http://localhost:8001/", None, "http://127.0.0.1:8001", "http://127.0.0.1:8001/"),
    ("proxy_pass", "http://127.0.0.1:8000/api/", None, "unix:/run/a.sock", "http://unix:/run/a.sock:/api/"),
    ("proxy_pass", "http://unix:/run/a.sock:/api/", None, "127.0.0.1:8000", "http://127.0.0.1:8000/api/"),
    ("proxy_pass", "https://10.0.0.2:8443", None, "10.0.0.3:8443", "https://10.0.0.3:8443"),
    ("fastcgi_pass", "wsgi_app", "proxy_pass", None, "http://wsgi_app"),
    ("uwsgi_pass", "unix:/run/app.sock", "proxy_pass", None, "http://unix:/run/app.sock"),
    ("proxy_pass", "http://unix:/run/app.sock", "uwsgi_pass", None, "unix:/run/app.sock"),
    ("proxy_pass", "https://app", "uwsgi_pass", None, "suwsgi://app"),
    ("uwsgi_pass", "uwsgi://127.0.0.1:3031", "proxy_pass", "127.0.0.1:8000", "http://127.0.0.1:8000"),
])
def test_pass_arg(old, arg, new, target, expected):
    assert pass_arg(old, arg, new, target) == expected


def test_pass_arg_refuses_what_cannot_be_kept():
    with pytest.raises(ValueError, match="URI"):
        pass_arg("proxy_pass", "http://127.0.0.1:8000/api/", "uwsgi_pass")
    with pytest.raises(ValueError, match="TLS"):
        pass_arg("proxy_pass", "https://app", "fastcgi_pass")


def test_server_args_keep_parameters():
    assert server_args(["unix:/run/a.sock", "fail_timeout=0"], "http://unix:/run/b.sock") == ["unix:/run/b.sock", "fail_timeout=0"]


# -------------------------------------------------------------------------- buffers

PAGE = 4096


def state(*levels):
    s = BufferState("proxy", PAGE)
    for own in levels:
        s = s.child(own)
    return s


def test_raising_buffer_size_alone_fails_and_gets_the_busy_size_it_needs():
    assert state({"proxy_buffer_size": ["16k"]}).problems("x")   # nginx -t would fail: busy 32k > 7 * 4k
    extra = complete_buffers("proxy", {"proxy_buffer_size": ["16k"]}, state(), "x")
    assert extra == {"proxy_busy_buffers_size": ["28k"]}
    assert state(dict({"proxy_buffer_size": ["16k"]}, **extra)).problems("x") == []


def test_a_buffer_larger_than_all_buffers_gets_more_buffers():
    extra = complete_buffers("proxy", {"proxy_buffer_size": ["64k"]}, state(), "x")
    assert extra == {"proxy_buffers": ["33", "4k"]}
    huge = complete_buffers("proxy", {"proxy_buffer_size": ["1m"]}, state(), "x")
    assert huge["proxy_buffers"] == ["8", "1m"]


def test_inherited_values_count_and_explicit_values_are_never_changed():
    inherited = {"proxy_busy_buffers_size": ["8k"], "proxy_temp_file_write_size": ["8k"],
                 "proxy_max_temp_file_size": ["8k"]}
    extra = complete_buffers("proxy", {"proxy_buffer_size": ["16k"]}, state(inherited), "x")
    assert extra == {"proxy_busy_buffers_size": ["28k"], "proxy_temp_file_write_size": ["16k"],
                     "proxy_max_temp_file_size": ["16k"]}
    with pytest.raises(ValueError, match="would not pass nginx -t"):
        complete_buffers("proxy", {"proxy_buffer_size": ["16k"], "proxy_busy_buffers_size": ["64k"]}, state(), "x")
    with pytest.raises(ValueError, match="at least 2"):
        complete_buffers("proxy", {"proxy_buffers": ["1", "4k"]}, state(), "x")


def test_nothing_is_added_when_the_values_already_pass():
    assert complete_buffers("proxy", {"proxy_buffer_size": ["4k"]}, state(), "x") == {}
    done = {"proxy_buffer_size": ["16k"], "proxy_busy_buffers_size": ["28k"]}
    assert complete_buffers("proxy", {"proxy_buffer_size": ["16k"]}, state(done), "x") == {}


@pytest.mark.parametrize("family", ["uwsgi", "fastcgi", "scgi"])
def test_other_families(family):
    extra = complete_buffers(family, {family + "_buffer_size": ["32k"]}, BufferState(family, PAGE), "x")
    final = BufferState(family, PAGE).child(dict({family + "_buffer_size": ["32k"]}, **extra))
    assert final.problems("x") == []


def _nginx_accepts(values, page=PAGE):
    """nginx's merge checks written out again, independently of the module (ngx_http_proxy_module.c)."""
    buffer_size = parse_size(values["buffer_size"][0]) if "buffer_size" in values else page
    number, one = (int(values["buffers"][0]), parse_size(values["buffers"][1])) if "buffers" in values else (8, page)
    size = max(buffer_size, one)
    busy = parse_size(values["busy_buffers_size"][0]) if "busy_buffers_size" in values else 2 * size
    return number >= 2 and size <= busy <= (number - 1) * one


@pytest.mark.parametrize("buffer_size, inherited", list(itertools.product(
    ["1k", "4k", "8k", "12k", "16k", "32k", "64k", "100k", "256k", "1m", "8m"],
    [{}, {"proxy_buffers": ["4", "8k"]}, {"proxy_buffers": ["2", "4k"]}, {"proxy_busy_buffers_size": ["8k"]},
     {"proxy_buffers": ["16", "16k"], "proxy_busy_buffers_size": ["240k"]}])))
def test_every_completed_set_passes_the_checks(buffer_size, inherited):
    wanted = {"proxy_buffer_size": [buffer_size]}
    before = state(inherited)
    extra = complete_buffers("proxy", wanted, before, "x")
    final = before.child(dict(wanted, **extra))
    assert _nginx_accepts(final.values)
    assert final.problems("x") == []
