# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end-of-run summary of a site: the endpoints the app roles recorded, as lines. Pure functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def endpoint_lines(endpoints, port_suffix="", scheme="http"):
    """Summary lines "<what>: <scheme>://<host><port><path>  (<login>)", in the order the roles recorded them."""
    return ["%s: %s://%s%s%s  (%s)" % (e["what"], scheme, e["host"], port_suffix, e.get("path") or "/",
                                       e.get("login") or "")
            for e in endpoints or [] if e.get("host")]
