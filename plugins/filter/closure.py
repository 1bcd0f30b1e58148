# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the closure of a site and its image lockfile; the logic is in plugins/module_utils/images/closure.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.images import closure
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "manifest_images": _wrap(closure.manifest_images),
            "site_closure": _wrap(closure.site_closure),
            "image_lock_problems": _wrap(closure.lock_problems),
        }
