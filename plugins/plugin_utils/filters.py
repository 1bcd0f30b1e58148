# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's filter plugins share."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def wrap(fn):
    """``fn`` as a filter: an AistackError (field, problem, fix) becomes the AnsibleFilterError Ansible shows."""
    def _inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AistackError as err:
            raise AnsibleFilterError(str(err))
    _inner.__name__ = fn.__name__
    return _inner
