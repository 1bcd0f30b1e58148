# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containers of a Compose project, as the databases role reads them from the modules that return them.

``community.docker.docker_compose_v2`` returns Compose's own view (``Service``, ``State``, ``Health``,
``Status``); ``community.docker.docker_host_info`` (with ``verbose_output``) the Docker API's (``Labels``,
``State``, ``Status`` with the health in parentheses). ``containers`` turns both into the first shape, so
the role judges one shape whichever module answered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SERVICE_LABEL = "com.docker.compose.service"
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def _health(status):
    match = _HEALTH.search(status or "")
    if not match:
        return ""
    return "starting" if match.group(1) == "health: starting" else match.group(1)


def _one(item):
    if "Service" in item:
        return {"Service": item.get("Service") or "", "Name": item.get("Name") or "",
                "State": (item.get("State") or "").lower(), "Health": item.get("Health") or "",
                "Status": item.get("Status") or ""}
    labels = item.get("Labels") or {}
    names = item.get("Names") or []
    return {"Service": labels.get(SERVICE_LABEL, ""), "Name": (names[0] if names else "").lstrip("/"),
            "State": (item.get("State") or "").lower(), "Health": _health(item.get("Status")),
            "Status": item.get("Status") or ""}


def containers(items, services=None):
    """One dict per container (Service, Name, State, Health, Status), only ``services`` when given,
    sorted by service."""
    out = [_one(item) for item in items or [] if isinstance(item, dict)]
    if services is not None:
        out = [item for item in out if item["Service"] in services]
    return sorted(out, key=lambda item: (item["Service"], item["Name"]))


def unhealthy(items):
    """The containers that are not running, or running but not (yet) healthy."""
    return [item for item in items if item["State"] != "running" or item["Health"] in ("unhealthy", "starting")]
