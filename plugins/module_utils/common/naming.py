# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes and Helm name rules, as pure functions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DNS_LABEL_MAX = 63
# Helm refuses release names longer than 53 characters (it appends suffixes to them).
HELM_RELEASE_MAX = 53
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def dns_label_problem(value, limit=DNS_LABEL_MAX):
    """Return why ``value`` is not an RFC 1123 label of at most ``limit`` characters, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > limit:
        return "is %d characters long, the limit is %d" % (len(value), limit)
    if not _DNS_LABEL.match(value):
        return ("'%s' is not a DNS label (lower-case letters, digits and '-', starting and ending "
                "with a letter or digit)" % value)
    return None


def dns_subdomain_problem(value, limit=253):
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > limit:
        return "is %d characters long, the limit is %d" % (len(value), limit)
    if not _DNS_SUBDOMAIN.match(value):
        return "'%s' is not a DNS name (dot-separated DNS labels)" % value
    return None
