#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_import
short_description: Import image archives into containerd (k3s) or an OCI registry, by digest
version_added: 0.1.0
description:
  - Reads image archives in C(docker save) (docker-archive) or OCI layout form, as plain tar or compressed
    with gzip, bzip2 or zstd, from one file or a directory of them.
  - Writes them into the containerd image store (namespace C(k8s.io), through C(ctr)) or into any OCI
    distribution registry (the site registry on C(localhost:30500), a Nexus, Harbor...).
  - Idempotent by digest. Blobs and manifests already present are skipped; C(changed) only when something was
    written. A repeated import writes no blob.
  - Streams. Memory stays flat whatever the archive size. Each archive is read twice at most, an index
    pass, then one pass over the members the target lacks.
  - Bad input (corrupt, truncated or unknown archive, a manifest naming a missing blob, a checksum that differs
    from the bundle's) fails naming the file and the problem. All blobs are written before any manifest or tag,
    so a failure leaves no new tag or image record behind.
  - "Checked before any connection is opened or any process started: every name (O(registry), O(registry_project),
    O(name), each image's target reference) against the OCI reference grammar, and every archive member in the
    index pass: an archive whose member names or link targets (symbolic or hard) would leave an extraction
    directory (absolute paths, C(..)) is refused."
  - docker-archive images are converted to OCI image manifests (layers uncompressed as saved, digests checked
    against the config's C(diff_ids)); OCI layouts keep their manifests and digests.
options:
  src:
    description:
      - An image archive, or a directory whose C(*.tar), C(*.tar.gz), C(*.tgz), C(*.tar.bz2), C(*.tar.zst)
        files are all imported.
    type: path
    required: true
  target:
    description:
      - V(containerd) writes into the containerd image store through C(ctr images import).
      - V(registry) pushes over the OCI distribution API.
    type: str
    choices: [containerd, registry]
    required: true
  registry:
    description:
      - Registry address (C(host[:port]), optionally with C(http://) or C(https://)).
      - Images are retagged to C(<registry>/<registry_project>/<path>:<tag>), where C(<path>) is the image's
        repository path without its registry host (C(postgres:17) -> C(library/postgres:17)), so that a
        k3s/containerd mirror for a public registry, rewritten to the project, finds it.
      - Required for O(target=registry). With O(target=containerd), when set, images are named as if they came
        from that registry (so workloads that reference the registry find them locally).
    type: str
  registry_project:
    description:
      - Path prefix (project, namespace, Nexus repository path) put before each image path.
      - Lower-case path components of the OCI reference grammar, checked before anything is opened.
    type: str
  flatten:
    description: Keep only the last component of each image path (C(ghcr.io/hkuds/lightrag) -> C(lightrag)).
    type: bool
    default: false
  registry_username:
    description: User for HTTP basic or token authentication.
    type: str
  registry_password:
    description: Password or token for O(registry_username).
    type: str
  registry_tls:
    description: Use HTTPS. Ignored when O(registry) carries a scheme.
    type: bool
    default: false
  registry_validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
  registry_ca_path:
    description: CA bundle that signed the registry's certificate.
    type: path
  containerd_socket:
    description: containerd's socket (k3s C(/run/k3s/containerd/containerd.sock)).
    type: path
    default: /run/k3s/containerd/containerd.sock
  containerd_namespace:
    description: containerd namespace; the kubelet uses C(k8s.io).
    type: str
    default: k8s.io
  ctr_command:
    description: How to run C(ctr), e.g. V([k3s, ctr]) on a k3s node without containerd's own package.
    type: list
    elements: str
    default: [ctr]
  containerd_images_dir:
    description:
      - With O(target=containerd), write one OCI archive per image into this directory instead of calling
        C(ctr). k3s imports the archives of C(/var/lib/rancher/k3s/agent/images) when it starts, so this
        pre-seeds a node before k3s runs (airgap install).
      - Files are named C(<name>_<digest prefix>.tar); an existing file for the same name and digest is skipped,
        one with another digest replaced. Files appear complete or not at all (written as C(*.partial), renamed).
    type: path
  unpack:
    description: Unpack imported images for the snapshotter (the kubelet would otherwise do it at first start).
    type: bool
    default: true
  checksums:
    description:
      - A C(sha256sum) file (the bundle's C(SHA256SUMS)). Every archive must be listed there, relative to that
        file's directory, and match, before anything is imported.
    type: path
  platform:
    description:
      - For image indexes whose archive holds only some platforms, the platform to import (C(os/arch[/variant])).
    type: str
    default: linux/amd64
  name:
    description:
      - Repository name for images the archive names only by a tag (or not at all), e.g. C(docker.io/team/app).
    type: str
  restart_workloads:
    description:
      - After an import that changed something, restart (as C(kubectl rollout restart) does) the Deployments,
        StatefulSets and DaemonSets whose pod template runs one of the imported images.
    type: bool
    default: false
  restart_namespaces:
    description: Namespaces to look for workloads in; all when empty.
    type: list
    elements: str
    default: []
  receipt:
    description:
      - An import receipt (C(aistack-receipt/v1) or C(v2), as the airgap role writes it) - a dictionary, its JSON
        text, or the path of a file holding it. Read with O(receipt_store), never written by this module.
      - An image whose target name the receipt records in that store with the same manifest digest is skipped
        without asking the target (the receipt is trusted; leave it out after the store lost data).
      - With a registry, a layer the archive leaves out (O(omitted_blobs)) that the target repository lacks is
        mounted from a repository the receipt records it in.
    type: raw
  receipt_store:
    description:
      - The store of O(receipt) this import writes to; default C(registry/<registry>/<registry_project>) with
        O(target=registry). Required with O(receipt) and O(target=containerd) (the airgap role uses
        C(containerd/<inventory_hostname>)).
    type: str
  omitted_blobs:
    description:
      - Layer digests the archives may lack because the target already holds them (a delta bundle; the bundle's
        C(manifest.json) lists them per image as C(omitted)). Each one must be at the target (or, with a
        registry, in a repository O(receipt) names); otherwise the import fails before it writes anything,
        naming the digest.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - aistack.platform.kube_auth
  - aistack.platform.kube_auth.validate_certs
attributes:
  check_mode:
    support: full
    description: Indexes the archives and queries the target; lists what would be imported and restarted.
  diff_mode:
    support: full
    description: Before and after, one C(<reference> <digest>) line per image.
author:
  - aistack platform engineering (@aistack-platform)
requirements:
  - requests (registry target)
  - zstandard (zstd archives)
  - ctr (containerd target)
"""

EXAMPLES = r"""
- name: Push the bundle's images into the site registry
  aistack.platform.image_import:
    src: /srv/aistack-bundle/images
    checksums: /srv/aistack-bundle/SHA256SUMS
    target: registry
    registry: localhost:30500
    registry_project: aistack

- name: Load an archive into the k3s node's containerd and restart what runs it
  aistack.platform.image_import:
    src: /tmp/lightrag-1.4.9.tar.zst
    target: containerd
    ctr_command: [k3s, ctr]
    restart_workloads: true
    restart_namespaces: [data-science-dev]
"""

RETURN = r"""
images:
  description: One entry per image (and target name).
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The archive the image came from.
      type: str
    source:
      description: The image name inside the archive.
      type: str
    reference:
      description: The name written to the target.
      type: str
      sample: localhost:30500/aistack/hkuds/lightrag:1.4.9
    digest:
      description: Manifest digest in the target.
      type: str
    size:
      description: Bytes of manifest, config and layers.
      type: int
    action:
      description: V(imported) (or, in check mode, would be) or V(skipped) (already there with this digest).
      type: str
    blobs_written:
      description: Blobs the import wrote (or would write).
      type: int
    blobs_present:
      description: Blobs the target already had.
      type: int
    previous_digest:
      description: The digest the target had under this name before (null when it had none).
      type: str
    blobs:
      description: The image's blob digests (config and layers), as an import receipt records them.
      type: list
      elements: str
    manifests:
      description: The digests of the child manifests of an image index (empty for an image manifest).
      type: list
      elements: str
    receipt:
      description: True when the image was skipped because O(receipt) records it.
      type: bool
restarted:
  description: Workloads restarted (or that would be, in check mode).
  returned: always
  type: list
  elements: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common import reference
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp
from ansible_collections.aistack.platform.plugins.module_utils.images import receipt as receipts


def argument_spec():
    spec = dict(
        src=dict(type="path", required=True),
        target=dict(type="str", required=True, choices=["containerd", "registry"]),
        registry=dict(type="str"),
        registry_project=dict(type="str"),
        flatten=dict(type="bool", default=False),
        registry_username=dict(type="str"),
        registry_password=dict(type="str", no_log=True),
        registry_tls=dict(type="bool", default=False),
        registry_validate_certs=dict(type="bool", default=True),
        registry_ca_path=dict(type="path"),
        containerd_socket=dict(type="path", default="/run/k3s/containerd/containerd.sock"),
        containerd_namespace=dict(type="str", default="k8s.io"),
        containerd_images_dir=dict(type="path"),
        ctr_command=dict(type="list", elements="str", default=["ctr"]),
        unpack=dict(type="bool", default=True),
        checksums=dict(type="path"),
        platform=dict(type="str", default="linux/amd64"),
        name=dict(type="str"),
        restart_workloads=dict(type="bool", default=False),
        restart_namespaces=dict(type="list", elements="str", default=[]),
        receipt=dict(type="raw"),
        receipt_store=dict(type="str"),
        omitted_blobs=dict(type="list", elements="str", default=[]),
    )
    spec.update(AUTH_ARGSPEC)
    return spec


def run(module):
    p = module.params
    if p["target"] == "registry" and not p["registry"]:
        raise AistackError("is required when target is registry.", field="registry",
                           fix="set registry, e.g. localhost:30500")
    if p["registry_project"] is not None and not p["registry_project"].strip("/"):
        raise AistackError("must not be empty.", field="registry_project", fix="omit it or name a project")
    # names first (OCI reference grammar), then the archives (a validation pass that refuses members leaving
    # the extraction directory and invalid image names): all before any connection or process
    if p["registry"]:
        address = p["registry"].split("://", 1)[-1].rstrip("/").split("/", 1)
        reference.validate_domain(address[0], field="registry")
        if len(address) > 1:
            reference.validate_path(address[1], field="registry")
    if p["registry_project"] is not None:
        reference.validate_path(p["registry_project"].strip("/"), field="registry_project")
    if p["name"]:
        reference.parse(p["name"], field="name")
    for digest in p["omitted_blobs"]:
        if not re.match(r"^sha256:[a-f0-9]{64}$", digest or ""):
            raise AistackError("%r is not a sha256 digest." % (digest,), field="omitted_blobs",
                               fix="pass the omitted list of the bundle's manifest.json")
    receipt = read_receipt(p["receipt"])
    if receipt is not None and p["target"] == "containerd" and not p["receipt_store"]:
        raise AistackError("is required with receipt and target containerd.", field="receipt_store",
                           fix="name the store, e.g. containerd/<inventory_hostname> as the airgap role does")
    loaded = imp.load_sources(p["src"], checksums=p["checksums"], platform=p["platform"], default_name=p["name"],
                              omitted=set(p["omitted_blobs"]))
    if p["target"] == "registry":
        from ansible_collections.aistack.platform.plugins.module_utils.images.registry import RegistryClient
        client = RegistryClient(p["registry"], username=p["registry_username"], password=p["registry_password"],
                                tls=p["registry_tls"], validate_certs=p["registry_validate_certs"],
                                ca_path=p["registry_ca_path"])
        registry = p["registry"].split("://", 1)[-1].rstrip("/")
        target = imp.RegistryTarget(client, registry, p["registry_project"], p["flatten"])
    elif p["containerd_images_dir"]:
        registry = p["registry"].split("://", 1)[-1].rstrip("/") if p["registry"] else None
        target = imp.ImagesDirTarget(p["containerd_images_dir"], registry, p["registry_project"], p["flatten"])
    else:
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import CtrClient
        ctr = CtrClient(p["containerd_socket"], p["containerd_namespace"], p["ctr_command"])
        registry = p["registry"].split("://", 1)[-1].rstrip("/") if p["registry"] else None
        target = imp.ContainerdTarget(ctr, registry, p["registry_project"], p["flatten"], unpack=p["unpack"])
    if receipt is not None or p["omitted_blobs"]:
        store = p["receipt_store"] or ("registry/%s/%s" % (p["registry"].split("://", 1)[-1].rstrip("/"),
                                                           (p["registry_project"] or "").strip("/"))
                                       if p["target"] == "registry" else None)
        target = receipts.ReceiptTarget(target, receipt, store, p["omitted_blobs"])
    changed, images = imp.import_images(target, loaded, check_mode=module.check_mode)
    described = receipts.describe(loaded, target.name_for)
    from_receipt = set(plan["target"] for plan in getattr(target, "last_plans", []) if plan.get("receipt"))
    for image in images:
        image.update(described.get(image["reference"]) or dict(blobs=[], manifests=[]))
        image["receipt"] = image["reference"] in from_receipt
    restarted = []
    if p["restart_workloads"] and changed:
        from ansible_collections.aistack.platform.plugins.module_utils.kube.client import open_client, require_kubernetes
        require_kubernetes(module)
        kube = open_client(p)
        refs = [i["reference"] for i in images if i["action"] == "imported"]
        restarted = imp.restart_workloads(kube, refs, p["restart_namespaces"] or None, check_mode=module.check_mode)
    result = dict(changed=changed, images=images, restarted=restarted)
    if module._diff:
        result["diff"] = dict(
            before="".join("%s %s\n" % (i["reference"], i["previous_digest"] or "(absent)") for i in images),
            after="".join("%s %s\n" % (i["reference"], i["digest"]) for i in images))
    return result


def read_receipt(value):
    """The receipt option: None, a dictionary, JSON text, or the path of a file holding it."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and not value.lstrip().startswith("{"):
        try:
            with open(value, "r") as handle:
                value = handle.read()
        except (IOError, OSError) as exc:
            raise AistackError("cannot read the receipt file '%s': %s" % (value, exc), field="receipt",
                               fix="give the receipt as a dictionary, its JSON text or a readable file")
    return receipts.load(value, field="receipt")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except AistackError as err:
        module.fail_json(**err.to_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
