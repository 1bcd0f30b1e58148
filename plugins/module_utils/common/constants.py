# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names the collection writes into the cluster, defined once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# server-side apply field manager, and the value of app.kubernetes.io/managed-by on every object we own
FIELD_MANAGER = "aistack.platform"
MANAGED_BY = "aistack.platform"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
