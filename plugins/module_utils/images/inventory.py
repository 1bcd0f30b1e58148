# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a store really holds, for the airgap drift report: a registry's repositories, tags and manifest digests
(catalog, tags list, HEAD per tag, over ``registry.RegistryClient``), or containerd's image records (``ctr``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

PAGE = 1000
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _pages(client, path, key, repo=None):
    """Every item of a paginated list endpoint (``Link: <...>; rel="next"``)."""
    items, url, seen = [], "%s?n=%d" % (path, PAGE), set()
    while url and url not in seen:
        seen.add(url)
        response = client.request("GET", url, repo=repo)
        if response.status_code == 404 and key == "tags":
            return []
        if response.status_code != 200:
            what = "registry %s: GET %s failed: HTTP %d %s" % (client.registry, url, response.status_code,
                                                               (response.text or "")[:200])
            raise AistackError(what,
                               field="registry", fix="the registry must allow listing (/v2/_catalog, tags/list) "
                                                     "to the user of registry_username")
        items.extend((response.json() or {}).get(key) or [])
        match = _NEXT.search(response.headers.get("Link") or "")
        url = match.group(1) if match else None
        if url and url.startswith(client.base):
            url = url[len(client.base):]
    return items


def registry_images(client, registry, project=None):
    """{"<registry>/<repo>:<tag>": manifest digest} of every tag under ``project`` (all repositories if empty)."""
    prefix = (project or "").strip("/")
    repos = sorted(repo for repo in _pages(client, "/v2/_catalog", "repositories")
                   if not prefix or repo.startswith(prefix + "/"))
    images = {}
    for repo in repos:
        for tag in sorted(_pages(client, "/v2/%s/tags/list" % repo, "tags", repo=repo)):
            digest = client.manifest_digest(repo, tag)
            if digest:
                images["%s/%s:%s" % (registry, repo, tag)] = digest
    return images


def containerd_images(ctr):
    """{name: manifest digest} of containerd's image records (names with a digest only are left out)."""
    return dict((name, digest) for name, digest in ctr.images().items() if "@" not in name)
