# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials in clear text: found, collected for ``no_log`` and masked in diffs (docs/architecture.md, field rule 5)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


MASK = "********"

# Key names that hold credentials. Matched against the end of a key (or of an env entry's name).
_SENSITIVE_NAME = re.compile(
    r"(password|passwd|passphrase|pwd|api[-_]?key|apikey|access[-_]?key|secret[-_]?key|secret|"
    r"token|credentials?|private[-_]?key|auth[-_]?key)$",
    re.IGNORECASE,
)

# Key names that *refer* to a Secret instead of holding a credential: allowed.
_REFERENCE_NAME = re.compile(
    r"(secretname|existingsecret|secretref|secretkeyref|keyref|secretkey(name)?ref|issuer|"
    r"existingsecret\w*|secret[-_]?name|secrets)$",
    re.IGNORECASE,
)

URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)


def is_sensitive_name(name):
    if not isinstance(name, str) or not name:
        return False
    compact = name.replace("-", "").replace("_", "").replace(".", "")
    if _REFERENCE_NAME.search(compact) or _REFERENCE_NAME.search(name):
        return False
    return bool(_SENSITIVE_NAME.search(name) or _SENSITIVE_NAME.search(compact))


def find_inline_secrets(data, path="extra_values"):
    """Paths inside ``data`` that carry a credential in clear text (a password, an API key...)."""
    found = []
    if isinstance(data, dict):
        # an env-style entry: {name: OPENAI_API_KEY, value: sk-...}
        if isinstance(data.get("name"), str) and is_sensitive_name(data["name"]) \
                and isinstance(data.get("value"), str) and data["value"]:
            found.append("%s.value (%s)" % (path, data["name"]))
        for key, value in data.items():
            sub = "%s.%s" % (path, key)
            if isinstance(value, (dict, list)):
                found.extend(find_inline_secrets(value, sub))
            elif isinstance(value, str) and value and is_sensitive_name(str(key)):
                found.append(sub)
            elif isinstance(value, str) and URL_WITH_PASSWORD.match(value):
                found.append(sub + " (URL with a password)")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(find_inline_secrets(item, "%s[%d]" % (path, index)))
    elif isinstance(data, str) and URL_WITH_PASSWORD.match(data):
        found.append(path + " (URL with a password)")
    return found


def inline_secret_values(data):
    """The clear-text credentials ``find_inline_secrets`` reports, so the module can hide them from its
    output (including Ansible's echo of the invocation) while it refuses them."""
    found = []
    if isinstance(data, dict):
        if isinstance(data.get("name"), str) and is_sensitive_name(data["name"]) \
                and isinstance(data.get("value"), str) and data["value"]:
            found.append(data["value"])
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                found.extend(inline_secret_values(value))
            elif isinstance(value, str) and value and is_sensitive_name(str(key)):
                found.append(value)
            elif isinstance(value, str):
                found.extend(inline_secret_values(value))
    elif isinstance(data, list):
        for item in data:
            found.extend(inline_secret_values(item))
    elif isinstance(data, str):
        match = re.match(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", data, re.IGNORECASE)
        if match:
            found.append(match.group(1))
    return found


def mask(data):
    """A copy of ``data`` with every credential-looking value replaced by ``MASK``."""
    if isinstance(data, dict):
        out = {}
        env_style = isinstance(data.get("name"), str) and is_sensitive_name(data["name"])
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                out[key] = mask(value)
            elif isinstance(value, str) and value and (
                    is_sensitive_name(str(key)) or (env_style and key == "value")):
                out[key] = MASK
            elif isinstance(value, str) and URL_WITH_PASSWORD.match(value):
                out[key] = re.sub(r"(://[^/\s:@]+:)[^/\s@]+@", r"\1" + MASK + "@", value)
            else:
                out[key] = value
        return out
    if isinstance(data, list):
        return [mask(item) for item in data]
    return data
