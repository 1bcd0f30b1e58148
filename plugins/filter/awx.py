# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for playbooks/awx_objects.yml; the logic is in plugins/module_utils/filters/awx.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import awx
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "awx_job_template_name": _wrap(awx.job_template_name),
            "awx_survey_spec": _wrap(awx.survey_spec),
            "awx_workflow_nodes": _wrap(awx.workflow_nodes),
        }
