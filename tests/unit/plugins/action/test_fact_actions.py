# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The defaults the fact action plugins fill in from facts gathered earlier (``default_args``)."""
from __future__ import annotations

from ansible_collections.badgateway.doctor.plugins.action.service_log_facts import ActionModule as ServiceLogFacts
from ansible_collections.badgateway.doctor.plugins.module_utils.gateway import unit_names

APPS = {"servers": [{"unit": "uvicorn.service"}, {"unit": "gunicorn.service", "socket_unit": {"name": "gunicorn.socket"}},
                    {"unit": "gunicorn.service"}]}
NGINX = {"present": True, "error_logs": [{"path": "/var/log/nginx/error.log"}, {"path": "stderr"}]}


def defaults(args, facts):
    return ServiceLogFacts.default_args(None, dict(args), facts)


def test_units_are_gateway_unit_names():
    """One unit list for service_log_facts and gateway_facts: app units, their socket units, nginx.service."""
    args = defaults({}, {"apps": APPS, "nginx": NGINX})
    assert args["units"] == unit_names(APPS) == ["uvicorn.service", "gunicorn.service", "gunicorn.socket", "nginx.service"]
    assert args["nginx_error_logs"] == ["/var/log/nginx/error.log"]


def test_explicit_empty_lists_mean_none():
    """The module documents that [] reads no journal / no nginx log; the action used to replace [] by the defaults."""
    args = defaults({"units": [], "nginx_error_logs": []}, {"apps": APPS, "nginx": NGINX})
    assert args["units"] == [] and args["nginx_error_logs"] == []


def test_no_facts_leaves_the_module_defaults():
    assert defaults({}, {}) == {}
