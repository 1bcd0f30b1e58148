# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type the collection's logic raises; modules turn it into fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class AistackError(Exception):
    """A problem the user can fix: names the field, says what is wrong and how to fix it.

    ``details`` end up in the module result next to ``msg`` (never put secrets there).
    """

    def __init__(self, message, field=None, fix=None, **details):
        self.field = field
        self.fix = fix
        self.message = message
        self.details = details
        parts = []
        if field:
            parts.append("%s: " % field)
        parts.append(message)
        if fix:
            parts.append(" Fix: %s" % fix)
        super(AistackError, self).__init__("".join(parts))

    def to_result(self):
        result = dict(msg=str(self))
        if self.field:
            result["field"] = self.field
        result.update(self.details)
        return result
