# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image references checked against the OCI / distribution reference grammar (pure, no I/O).

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]            host: DNS labels joined by ".", an IPv4 address or [IPv6]
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex            algorithm: [A-Za-z][A-Za-z0-9]* joined by "+", ".", "_", "-"

The first component of a name is a domain when the name has more than one component and the first one
contains "." or ":", or is "localhost" (docker's rule). Docker also takes a first component with an upper-case
letter for a host; here it is refused instead, as an upper-case repository (almost always a typo, and a pull
would go to a host of that name).
A name is at most 255 characters. sha256 digests carry 64 lower-case hex digits, sha512 digests 128.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

NAME_MAX = 255
TAG_MAX = 128

_DOMAIN_LABEL = re.compile(r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ALGORITHM = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")
_KNOWN_DIGESTS = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}

_FIX_REFERENCE = "use [registry[:port]/]path[:tag][@sha256:<64 hex>], e.g. ghcr.io/team/app:1.2.3"


def _fail(field, message, fix=_FIX_REFERENCE):
    raise AistackError(message, field=field, fix=fix)


def domain_problem(domain):
    """Why ``domain`` (host[:port]) is not a registry domain, or None."""
    if not domain:
        return "is empty"
    host, port = domain, None
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            return "'%s' has an unclosed IPv6 address" % domain
        host, rest = domain[:end + 1], domain[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return "'%s' has text after the IPv6 address" % domain
            port = rest[1:]
        if not _IPV6.match(host):
            return "'%s' is not an IPv6 address" % host
    elif ":" in domain:
        host, port = domain.rsplit(":", 1)
    if port is not None and (not _PORT.match(port) or not 0 < int(port) < 65536):
        return "'%s' has an invalid port '%s'" % (domain, port)
    if not host.startswith("["):
        labels = host.split(".")
        for label in labels:
            if not label:
                return "'%s' has an empty host component" % domain
            if not _DOMAIN_LABEL.match(label):
                return "'%s' has an invalid host component '%s'" % (domain, label)
    return None


def validate_domain(domain, field="registry"):
    problem = domain_problem(domain)
    if problem:
        _fail(field, "registry %s." % problem, "use a host name or address with an optional port, e.g. localhost:30500")
    return domain


def validate_tag(tag, field="tag"):
    tag = str(tag)
    if len(tag) > TAG_MAX:
        _fail(field, "tag '%s...' is %d characters long (at most %d)." % (tag[:20], len(tag), TAG_MAX),
              "use a tag of at most %d characters" % TAG_MAX)
    if not _TAG.match(tag):
        _fail(field, "'%s' is not a valid tag." % tag,
              "use letters, digits, '_', '.' and '-' (not first), e.g. 1.4.3")
    return tag


def validate_digest(digest, field="digest"):
    digest = str(digest)
    if ":" not in digest:
        _fail(field, "'%s' is not a digest (algorithm:hex)." % digest, "use the form sha256:<64 hex digits>")
    algorithm, hexpart = digest.split(":", 1)
    if not _ALGORITHM.match(algorithm) or not _HEX.match(hexpart):
        _fail(field, "'%s' is not a digest (algorithm:hex)." % digest, "use the form sha256:<64 hex digits>")
    known = _KNOWN_DIGESTS.get(algorithm)
    if known is not None and not known.match(hexpart):
        _fail(field, "'%s' is not a %s digest (%d lower-case hex digits)." % (
            digest, algorithm, 64 if algorithm == "sha256" else 128), "use the form sha256:<64 hex digits>")
    return digest


def validate_path(path, field="repository"):
    """A repository path (without domain): '/'-separated lower-case components."""
    if not path:
        _fail(field, "the repository path is empty.")
    for comp in path.split("/"):
        if not comp:
            _fail(field, "'%s' has an empty path component." % path)
        if not _PATH_COMPONENT.match(comp):
            hint = " (upper case is not allowed)" if comp.lower() != comp else ""
            _fail(field, "'%s' has an invalid path component '%s'%s." % (path, comp, hint),
                  "use lower-case letters, digits and the separators '.', '_', '__', '-' inside a component")
    return path


def split_name(name):
    """(domain or None, path) of a name without tag or digest, by the domain rule above."""
    parts = name.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        return parts[0], parts[1]
    return None, name


def parse(reference, field="image"):
    """Parse and validate a full image reference.

    Returns ``dict(domain, path, name, tag, digest)`` (``domain`` None when the reference has none, ``name``
    the reference without tag and digest). Raises ``AistackError`` naming ``field``.
    """
    if not isinstance(reference, str) or not reference:
        _fail(field, "the image reference is empty.")
    if reference != reference.strip() or any(ch.isspace() for ch in reference):
        _fail(field, "'%s' contains white space." % reference)
    rest, digest = reference, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        validate_digest(digest, field)
    tag = None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not tag:
            _fail(field, "'%s' has an empty tag after ':'." % reference)
        validate_tag(tag, field)
    if not rest:
        _fail(field, "'%s' has no repository name." % reference)
    if len(rest) > NAME_MAX:
        _fail(field, "the repository name is %d characters long (at most %d)." % (len(rest), NAME_MAX))
    domain, path = split_name(rest)
    if domain is not None:
        problem = domain_problem(domain)
        if problem:
            _fail(field, "registry %s." % problem)
    validate_path(path, field)
    return dict(domain=domain, path=path, name=rest, tag=tag, digest=digest)


def validate_repository(repository, field="image.repository"):
    """A repository without tag or digest (``[domain/]path``); returns its parts as ``parse`` does."""
    if isinstance(repository, str) and "@" in repository:
        _fail(field, "'%s' carries a digest." % repository, "put the digest in its own field")
    parts = parse(repository, field)
    if parts["tag"] is not None:
        _fail(field, "'%s' carries a tag." % repository, "put the tag in its own field")
    return parts
