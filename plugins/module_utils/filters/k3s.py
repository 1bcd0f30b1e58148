# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k3s: version rules, release artifacts, topology validation and config rendering (pure functions)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

VERSION_RE = re.compile(r"^v1\.(\d{1,3})\.(\d{1,3})\+k3s(\d{1,3})$")
RELEASE_BASE = "https://github.com/k3s-io/k3s/releases/download"
# Ansible architecture fact -> k3s release architecture.
ARCH_ALIASES = {
    "x86_64": "amd64", "amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armhf": "arm", "arm": "arm",
}
# Release asset name of the binary per architecture.
BINARY_NAMES = {"amd64": "k3s", "arm64": "k3s-arm64", "arm": "k3s-armhf"}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
DATASTORES = ("auto", "sqlite", "etcd", "external")


def parse_version(version, field="k3s_version"):
    """'v1.34.2+k3s1' -> (1, 34, 2, 1); anything else raises AistackError."""
    match = VERSION_RE.match(str(version or ""))
    if not match:
        raise AistackError("%r is not a k3s release version." % (version,), field=field,
                           fix="use the form v1.NN.P+k3sN, e.g. v1.34.2+k3s1 (the tag of a k3s release).")
    return (1, int(match.group(1)), int(match.group(2)), int(match.group(3)))


def compare_versions(left, right):
    """-1, 0 or 1 as left is older than, equal to or newer than right."""
    a, b = parse_version(left), parse_version(right)
    return (a > b) - (a < b)


def normalize_arch(arch):
    value = ARCH_ALIASES.get(str(arch or "").lower())
    if not value:
        raise AistackError("architecture %r has no k3s release." % (arch,), field="k3s_arch",
                           fix="use one of amd64, arm64, arm (or leave it to the gathered facts).")
    return value


def artifacts(version, arch, images_suffix="tar.zst", release_base=RELEASE_BASE):
    """File names and download URLs of one k3s release for one architecture."""
    parse_version(version)
    arch = normalize_arch(arch)
    if images_suffix not in ("tar.zst", "tar.gz", "tar"):
        raise AistackError("%r is not an image archive format of k3s releases." % (images_suffix,),
                           field="k3s_images_suffix", fix="use tar.zst, tar.gz or tar.")
    base = "%s/%s" % (release_base.rstrip("/"), version.replace("+", "%2B"))
    binary = BINARY_NAMES[arch]
    images = "k3s-airgap-images-%s.%s" % (arch, images_suffix)
    sums = "sha256sum-%s.txt" % arch
    return dict(
        version=version, arch=arch, binary=binary, images=images, sums=sums,
        binary_url="%s/%s" % (base, binary), images_url="%s/%s" % (base, images), sums_url="%s/%s" % (base, sums),
    )


def parse_sha256sums(text):
    """Content of a sha256sum file -> {file name: sha256}."""
    result = {}
    for line in (text or "").splitlines():
        parts = line.strip().split()
        if len(parts) != 2:
            continue
        digest, name = parts[0].lower(), parts[1].lstrip("*")
        if SHA256_RE.match(digest):
            result[name.split("/")[-1]] = digest
    return result


def select_sha256(name, pinned=None, sums_text=None, version=None, arch=None):
    """The sha256 a file must have: a pinned value (k3s_checksums[version][name]) wins, else the sums file."""
    pinned = pinned or {}
    entry = pinned.get(version, {}) if version else pinned
    if isinstance(entry, dict) and entry.get(name):
        digest = str(entry[name]).lower().replace("sha256:", "")
        if not SHA256_RE.match(digest):
            raise AistackError("the pinned sha256 of %s (%s) is not 64 hex digits." % (name, version),
                               field="k3s_checksums", fix="copy the value from the release's sha256sum-%s.txt."
                               % (arch or "<arch>"))
        return digest
    if sums_text is not None:
        digest = parse_sha256sums(sums_text).get(name)
        if digest:
            return digest
    raise AistackError("no sha256 is known for %s of k3s %s." % (name, version), field="k3s_checksums",
                       fix="pin it in k3s_checksums or put the release's sha256sum-%s.txt next to it in the bundle."
                       % (arch or "<arch>"))


def datastore(servers, requested="auto", endpoint=""):
    """The effective datastore: sqlite (one server), etcd (embedded, several servers) or external."""
    if requested not in DATASTORES:
        raise AistackError("%r is not a datastore." % (requested,), field="k3s_datastore",
                           fix="use auto, sqlite, etcd or external.")
    if endpoint and requested in ("auto", "external"):
        return "external"
    if requested == "external":
        raise AistackError("the external datastore needs an endpoint.", field="k3s_datastore_endpoint",
                           fix="set it (e.g. postgres://user:pass@host:5432/k3s) or use k3s_datastore: etcd.")
    if requested == "auto":
        return "etcd" if servers > 1 else "sqlite"
    return requested


def validate(servers, agents, token, version, datastore_mode="auto", datastore_endpoint="", airgap=False,
             bundle_dir="", api_endpoint=""):
    """Every problem of the inventory, as a list of messages (empty when the input is fine)."""
    errors = []

    def check(fn, *args):
        try:
            return fn(*args)
        except AistackError as err:
            errors.append(str(err))
            return None

    servers = list(servers or [])
    agents = list(agents or [])
    check(parse_version, version)
    if agents and not servers:
        errors.append("k3s_agent: the group has hosts (%s) but group k3s_server is empty. Fix: put at least one "
                      "host into k3s_server; agents join a server." % ", ".join(agents))
    both = sorted(set(servers) & set(agents))
    if both:
        errors.append("k3s_agent: %s in both k3s_server and k3s_agent. Fix: a node is either a server or an agent."
                      % ", ".join(both))
    mode = check(datastore, len(servers), datastore_mode, datastore_endpoint)
    if mode == "etcd" and len(servers) % 2 == 0 and servers:
        errors.append("k3s_server: %d servers with embedded etcd; etcd needs an odd number of members for a "
                      "quorum. Fix: use 1, 3 or 5 servers (or an external datastore)." % len(servers))
    if mode == "sqlite" and len(servers) > 1:
        errors.append("k3s_datastore: sqlite serves one server only, the group has %d. Fix: use etcd or external."
                      % len(servers))
    if not token or str(token).strip() in ("", "CHANGE_ME"):
        errors.append("k3s_token: the cluster token is missing. Fix: set k3s_token from the vault "
                      "(k3s_token: \"{{ vault_k3s_token }}\" with vault_k3s_token in group_vars/all/vault.yml).")
    elif len(str(token)) < 16:
        errors.append("k3s_token: the cluster token is shorter than 16 characters. Fix: use a long random value "
                      "(openssl rand -hex 32).")
    if airgap and not bundle_dir:
        errors.append("aistack_bundle_dir: airgap installs need the bundle directory. Fix: set aistack_bundle_dir.")
    if (len(servers) > 1 or agents) and not api_endpoint:
        errors.append("k3s_api_endpoint: joining nodes need the address of a server. Fix: set k3s_api_endpoint.")
    return errors


def _labels(labels):
    if isinstance(labels, dict):
        return ["%s=%s" % (k, labels[k]) for k in sorted(labels)]
    return list(labels or [])


def _base_config(node_name, labels, taints, node_ip):
    config = {}
    if node_name:
        config["node-name"] = node_name
    if node_ip:
        config["node-ip"] = node_ip
    if labels:
        config["node-label"] = _labels(labels)
    if taints:
        config["node-taint"] = list(taints)
    return config


def server_config(token, node_name="", first=True, servers=1, api_endpoint="", api_port=6443, tls_san=None,
                  labels=None, taints=None, disable=None, cluster_cidr="", service_cidr="", cluster_dns="",
                  datastore_mode="auto", datastore_endpoint="", node_ip="", kubeconfig_mode="0600", extra=None,
                  disable_bundled_traefik=False):
    """The content of /etc/rancher/k3s/config.yaml on a server, as a dict.

    ``disable_bundled_traefik``: the collection's ingress role manages the site's controller, so k3s's packaged
    Traefik stays in ``disable`` whatever ``disable`` and ``extra`` say (two Traefiks would fight over the
    IngressClass ``traefik`` and ports 80/443).
    """
    mode = datastore(servers, datastore_mode, datastore_endpoint)
    config = {"token": token, "write-kubeconfig-mode": str(kubeconfig_mode)}
    config.update(_base_config(node_name, labels, taints, node_ip))
    sans = [s for s in (tls_san or []) if s]
    if api_endpoint and api_endpoint not in sans:
        sans.append(api_endpoint)
    if sans:
        config["tls-san"] = sans
    if disable:
        config["disable"] = sorted(set(disable))
    if cluster_cidr:
        config["cluster-cidr"] = cluster_cidr
    if service_cidr:
        config["service-cidr"] = service_cidr
    if cluster_dns:
        config["cluster-dns"] = cluster_dns
    if mode == "external":
        config["datastore-endpoint"] = datastore_endpoint
    elif mode == "etcd":
        if first:
            config["cluster-init"] = True
        else:
            config["server"] = server_url(api_endpoint, api_port)
    config.update(extra or {})
    if disable_bundled_traefik:
        current = config.get("disable") or []
        current = [current] if isinstance(current, str) else list(current)
        if "traefik" not in current:
            config["disable"] = sorted(set(current + ["traefik"]))
    return config


def agent_config(token, api_endpoint, api_port=6443, node_name="", labels=None, taints=None, node_ip="",
                 extra=None):
    """The content of /etc/rancher/k3s/config.yaml on an agent, as a dict."""
    config = {"server": server_url(api_endpoint, api_port), "token": token}
    config.update(_base_config(node_name, labels, taints, node_ip))
    config.update(extra or {})
    return config


def server_url(api_endpoint, api_port=6443):
    if not api_endpoint:
        raise AistackError("joining nodes need the address of a server.", field="k3s_api_endpoint",
                           fix="set k3s_api_endpoint (a server address or a load balancer in front of the servers).")
    host = api_endpoint
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "https://%s:%d" % (host, int(api_port))


def kubeconfig_rewrite(doc, api_endpoint, api_port=6443, name=""):
    """A k3s.yaml (as parsed YAML) pointing at the API endpoint instead of 127.0.0.1, renamed to ``name``."""
    doc = dict(doc or {})
    url = server_url(api_endpoint, api_port)
    clusters = []
    for entry in doc.get("clusters") or []:
        entry = dict(entry)
        entry["cluster"] = dict(entry.get("cluster") or {}, server=url)
        if name:
            entry["name"] = name
        clusters.append(entry)
    doc["clusters"] = clusters
    if name:
        doc["users"] = [dict(u, name=name) for u in doc.get("users") or []]
        doc["contexts"] = [dict(c, name=name, context=dict(c.get("context") or {}, cluster=name, user=name))
                           for c in doc.get("contexts") or []]
        doc["current-context"] = name
    return doc
