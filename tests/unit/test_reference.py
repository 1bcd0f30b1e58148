# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""common/reference.py: the OCI reference grammar, parse and validate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common import reference as r
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("ref,domain,path,tag,digest", [
    ("postgres", None, "postgres", None, None),
    ("postgres:17", None, "postgres", "17", None),
    ("langflowai/langflow:1.4.3", None, "langflowai/langflow", "1.4.3", None),
    ("ghcr.io/hkuds/lightrag:v1.4.9", "ghcr.io", "hkuds/lightrag", "v1.4.9", None),
    ("localhost:30500/team/app:1", "localhost:30500", "team/app", "1", None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:30500/app", "localhost:30500", "app", None, None),
    ("registry.example.com:5000/a/b/c:1.0@" + SHA, "registry.example.com:5000", "a/b/c", "1.0", SHA),
    ("app@" + SHA, None, "app", None, SHA),
    ("a_b__c-d--e/x.y:Tag_1.2-rc", None, "a_b__c-d--e/x.y", "Tag_1.2-rc", None),
    ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
    ("10.0.0.1:5000/app:1", "10.0.0.1:5000", "app", "1", None),
    ("app:" + "t" * 128, None, "app", "t" * 128, None),
    ("app@sha512:" + "ab" * 64, None, "app", None, "sha512:" + "ab" * 64),
    ("app@multihash+base58:" + "a" * 32, None, "app", None, "multihash+base58:" + "a" * 32),
])
def test_parse_valid(ref, domain, path, tag, digest):
    parts = r.parse(ref, field="image")
    assert (parts["domain"], parts["path"], parts["tag"], parts["digest"]) == (domain, path, tag, digest)


@pytest.mark.parametrize("ref,words", [
    ("", "empty"),
    (None, "empty"),
    (" app:1", "white space"),
    ("app :1", "white space"),
    ("team/MyApp:1", "upper case"),
    ("UPPER/case:1", "upper case"),
    ("Ubuntu", "upper case"),
    ("team//app:1", "empty path component"),
    ("team/app/:1", "empty path component"),
    ("/app:1", "empty path component"),
    ("app:", "empty tag"),
    ("app:" + "t" * 129, "129 characters"),
    ("app:-bad", "not a valid tag"),
    ("app:.bad", "not a valid tag"),
    ("app:a/b", "invalid port"),
    ("a:b:c/d", "invalid"),
    ("app@sha256:12", "not a digest"),
    ("app@sha256:" + "a" * 40, "sha256 digest"),
    ("app@sha256:" + "A" * 64, "sha256 digest"),
    ("app@sha256", "not a digest"),
    ("app@" + "a" * 64, "not a digest"),
    ("app@1sha:" + "a" * 64, "not a digest"),
    ("app@@" + SHA, "not a digest"),
    ("host.io:99999/app:1", "invalid port"),
    ("host.io:port/app:1", "invalid port"),
    ("-host.io/app:1", "invalid host component"),
    ("host..io/app:1", "empty host component"),
    ("[::1/app:1", "unclosed"),
    ("team/app-:1", "invalid path component"),
    ("team/_app:1", "invalid path component"),
    ("team/a...b:1", "invalid path component"),
    ("a" * 256, "at most 255"),
    (":1", "no repository"),
])
def test_parse_invalid_names_field_and_fix(ref, words):
    with pytest.raises(AistackError) as info:
        r.parse(ref, field="extra_values.image.tag")
    assert info.value.field == "extra_values.image.tag"
    assert info.value.fix
    assert re.search(words, str(info.value)), str(info.value)


def test_host_port_repo_tag_digest_all_parts():
    parts = r.parse("host.example:5000/team/app:1.2.3@" + SHA)
    assert parts == dict(domain="host.example:5000", path="team/app", name="host.example:5000/team/app",
                         tag="1.2.3", digest=SHA)


def test_validate_repository_refuses_tag_and_digest():
    assert r.validate_repository("ghcr.io/hkuds/lightrag")["path"] == "hkuds/lightrag"
    with pytest.raises(AistackError, match="carries a tag"):
        r.validate_repository("ghcr.io/hkuds/lightrag:1.0", "image.repository")
    with pytest.raises(AistackError, match="carries a digest"):
        r.validate_repository("app@" + SHA, "image.repository")


@pytest.mark.parametrize("tag,ok", [("1.4.3", True), ("v1", True), ("_x", True), ("x" * 128, True),
                                    ("x" * 129, False), ("-x", False), ("", False), ("a b", False), ("a/b", False)])
def test_validate_tag(tag, ok):
    if ok:
        assert r.validate_tag(tag, "image.tag") == tag
    else:
        with pytest.raises(AistackError) as info:
            r.validate_tag(tag, "image.tag")
        assert info.value.field == "image.tag"


@pytest.mark.parametrize("domain,ok", [("localhost:30500", True), ("registry.local", True), ("[fe80::1]:443", True),
                                       ("", False), ("a_b.io", False), ("host:0", False), ("host:", False),
                                       ("[::1]x", False)])
def test_validate_domain(domain, ok):
    if ok:
        assert r.validate_domain(domain) == domain
    else:
        with pytest.raises(AistackError) as info:
            r.validate_domain(domain, "registry")
        assert info.value.field == "registry"
