# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the unit tests: ``run_module``, ``in_child``, ``as_nobody``, ``supplementary_member``."""
from __future__ import annotations

import contextlib
import grp
import json
import pwd
import sys
import time
import types
from unittest import mock

import pytest


def _install_patch_module_args_backport() -> None:
    """ansible-core < 2.19 has no ``ansible.module_utils.testing``: provide its one helper.

    The module tests use ``patch_module_args`` (the only way on 2.19+); on older cores the same
    effect is patching ``basic._ANSIBLE_ARGS`` (the compatibility matrix runs them on 2.17+)."""
    try:
        from ansible.module_utils import basic
    except ImportError:      # target-side tests run without ansible-core
        return
    try:
        import ansible.module_utils.testing  # noqa: F401  pylint: disable=unused-import
        return
    except ImportError:
        pass

    @contextlib.contextmanager
    def patch_module_args(args=None):
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield

    backport = types.ModuleType("ansible.module_utils.testing")
    backport.patch_module_args = patch_module_args
    sys.modules["ansible.module_utils.testing"] = backport


_install_patch_module_args_backport()


@pytest.fixture
def run_module(capsys):
    """``run_module(module, args) -> result``: run a module's ``main()`` as Ansible runs it on a target
    (in-process, arguments through ``patch_module_args``) and return the JSON it printed."""
    # imported here: the target-side tests (tests/unit/plugins/module_utils) also run without ansible-core
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel

    def run(module, args=None):
        capsys.readouterr()  # drop what earlier output the test made
        with patch_module_args(dict(args or {})):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)
    return run


@pytest.fixture
def supplementary_member():
    """``(user, group)``: a user of this host that is a member of a group other than its primary one.

    Skips the test when there is none (switching to such a user proves ``initgroups``)."""
    for gr in grp.getgrall():
        for member in gr.gr_mem:
            try:
                if pwd.getpwnam(member).pw_gid != gr.gr_gid:
                    return member, gr.gr_name
            except KeyError:
                continue
    pytest.skip("no user with a supplementary group on this host")
    return None


def _call_in_child(func, args, timeout, become=None):
    """``func(*args)`` in a forked child (that first takes the identity ``become``, a ``pwd``
    entry, with no supplementary groups); its JSON-able result, or the test fails."""
    import os
    import select
    import signal
    import traceback
    import warnings

    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() while a test's server thread runs; the child only calls
        # func, and the timeout below ends a child that would hang anyway
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: never returns into pytest
        try:
            os.close(rfd)
            try:
                if become is not None:
                    os.setgroups([])
                    os.setgid(become.pw_gid)
                    os.setuid(become.pw_uid)
                payload = {"value": func(*args)}
            except BaseException:  # pylint: disable=broad-except
                payload = {"error": traceback.format_exc()}
            data = json.dumps(payload).encode()
            while data:
                data = data[os.write(wfd, data):]
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.close(wfd)
    try:
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            ready, _w, _x = select.select([rfd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("%s did not finish within %s seconds (it blocks)" % (getattr(func, "__name__", func), timeout))
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    payload = json.loads(data.decode())
    if "error" in payload:
        pytest.fail("the child raised:\n" + payload["error"])
    return payload["value"]


@pytest.fixture
def in_child():
    """``call(func, *args, timeout=10)``: run ``func`` in a forked child and return its (JSON-able)
    result; fail the test - instead of hanging the suite - when it does not finish in time."""
    def call(func, *args, timeout=10):
        return _call_in_child(func, args, timeout)
    return call


@pytest.fixture
def as_nobody():
    """``call(func, *args, timeout=30)``: like ``in_child``, in a child that became the user nobody
    (its uid and gid, no supplementary groups) - as a module runs over a non-root connection.

    Skips the test when this is not root (no user switch) or there is no user nobody."""
    import os
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the user nobody")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this host")

    def call(func, *args, timeout=30):
        return _call_in_child(func, args, timeout, become=nobody)
    return call
