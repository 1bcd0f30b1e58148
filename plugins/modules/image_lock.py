#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_lock
short_description: The lockfile of an airgap bundle - each image's manifest digest - written, or checked in a registry
version_added: 0.1.0
description:
  - "O(state=present) (on the connected host, by the airgap export): reads the manifest digest of each image from
    its archive in the bundle - the digest M(aistack.platform.image_import) pushes for it, so the one the site
    registry's tag and the pods' C(imageID) will show - and writes the lockfile C(images.lock.json):
    C({\"format\": \"aistack-images-lock/v1\", \"site\": ..., \"images\": {<reference>: <sha256 digest>}}),
    references sorted, so the same images always give the same bytes (the bundle's C(SHA256SUMS) lists it and its
    signature covers it)."
  - "O(state=verified) (at the site, after the import): asks the site registry which digest each locked image's tag
    resolves to (C(HEAD /v2/<repository>/manifests/<tag>) of the name M(aistack.platform.image_import) gave it) and
    fails when one is missing or resolves to another digest, naming the image, both digests and the fix."
  - Reads archives and the registry only; O(state=present) writes only the lockfile (C(*.partial), renamed).
options:
  path:
    description: The lockfile (C(<bundle>/images.lock.json)).
    type: path
    required: true
  state:
    description:
      - V(present) writes the lockfile from the archives of O(images).
      - V(verified) checks the tags of the site registry against the lockfile.
    type: str
    choices: [present, verified]
    default: present
  images:
    description:
      - With O(state=present), the bundle's images, C({ref, file}) with C(file) relative to O(bundle_dir) (the
        C(images) of the bundle's C(manifest.json)). Each archive must hold the image its C(ref) names, or exactly
        one image. An entry's C(archive), when given, is the archive's own path instead (an export that keeps whole
        archives outside the bundle).
      - With O(state=verified), the images to check (dicts with C(ref), e.g. the manifest's images that are not
        bootstrap images, which go to the nodes' containerd instead); empty checks every locked image. An image the
        lockfile does not list fails.
    type: list
    elements: dict
    default: []
  bundle_dir:
    description: With O(state=present), the bundle directory the archives' C(file) are relative to.
    type: path
  site:
    description: The site the bundle is for (recorded in the lockfile).
    type: str
    default: ""
  platform:
    description: For an archive holding an image index, the platform M(aistack.platform.image_import) pushes.
    type: str
    default: linux/amd64
  registry:
    description: With O(state=verified), the site registry (C(host[:port]), optionally with a scheme).
    type: str
  registry_project:
    description: The project prefix the import used (C(aistack_registry_project)).
    type: str
  flatten:
    description: The import's O(aistack.platform.image_import#module:flatten).
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
attributes:
  check_mode:
    support: full
    description: O(state=present) reads the archives and reports whether the lockfile would change, writing nothing.
  diff_mode:
    support: none
    description: No diff; the lockfile is small JSON, written whole.
author:
  - aistack platform engineering (@aistack-platform)
requirements:
  - requests (O(state=verified))
  - zstandard (zstd archives)
"""

EXAMPLES = r"""
- name: Write the lockfile of the bundle
  aistack.platform.image_lock:
    path: /srv/aistack-bundle/images.lock.json
    bundle_dir: /srv/aistack-bundle
    images:
      - {ref: "ghcr.io/hkuds/lightrag:v1.5.7", file: images/ghcr.io_hkuds_lightrag_v1.5.7.tar}
    site: plant-a

- name: Check the site registry serves the exported images
  aistack.platform.image_lock:
    path: /srv/aistack-bundle/images.lock.json
    state: verified
    registry: localhost:30500
    registry_project: aistack
"""

RETURN = r"""
images:
  description: One entry per locked image.
  returned: always
  type: list
  elements: dict
  contains:
    ref:
      description: The image as the site's manifests name it.
      type: str
    digest:
      description: The locked manifest digest.
      type: str
    file:
      description: The archive it was read from (O(state=present)).
      type: str
    target:
      description: The name in the site registry (O(state=verified)).
      type: str
      sample: localhost:30500/aistack/hkuds/lightrag:v1.5.7
    found:
      description: The digest the site registry's tag resolves to, null when it has no such tag (O(state=verified)).
      type: str
problems:
  description: With O(state=verified), one message per image the registry does not serve as locked.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import closure


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        state=dict(type="str", default="present", choices=["present", "verified"]),
        images=dict(type="list", elements="dict", default=[]),
        bundle_dir=dict(type="path"),
        site=dict(type="str", default=""),
        platform=dict(type="str", default="linux/amd64"),
        registry=dict(type="str"),
        registry_project=dict(type="str"),
        flatten=dict(type="bool", default=False),
        registry_username=dict(type="str"),
        registry_password=dict(type="str", no_log=True),
        registry_tls=dict(type="bool", default=False),
        registry_validate_certs=dict(type="bool", default=True),
        registry_ca_path=dict(type="path"),
    )


def archive_digest(path, ref, platform):
    """The manifest digest image_import pushes for ``ref`` out of the archive ``path``."""
    from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia
    from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp
    images = [image for _index, found in imp.load_sources(path, platform=platform) for image in found]
    try:
        wanted = ia.normalize_reference(ref)
    except ValueError as exc:
        raise AistackError("image %s: %s" % (ref, exc), field="images", fix="export the image with a valid name")
    named = [image for image in images if image.ref and ia.normalize_reference(image.ref) == wanted]
    if not named and len(images) == 1:
        named = images
    if len(named) != 1:
        raise AistackError("archive %s holds %s, not the one image %s." % (
            path, ", ".join(sorted(i.ref or "?" for i in images)) or "no image", ref), field="images",
            fix="export the image again (playbooks/airgap_export.yml)")
    return named[0].digest


def write_lock(module, p):
    if not p["bundle_dir"]:
        raise AistackError("is required with state=present.", field="bundle_dir", fix="set it to the bundle directory")
    entries = []
    for item in p["images"]:
        if not item.get("ref") or not item.get("file"):
            raise AistackError("every entry needs ref and file, got %r." % item, field="images",
                               fix="pass the images of the bundle's manifest.json")
        path = item.get("archive") or os.path.join(p["bundle_dir"], item["file"])
        digest = archive_digest(path, item["ref"], p["platform"])
        entries.append({"ref": item["ref"], "digest": digest, "file": item["file"]})
    text = closure.lock_text(entries, p["site"])
    current = None
    if os.path.exists(p["path"]):
        with open(p["path"]) as handle:
            current = handle.read()
    changed = current != text
    if changed and not module.check_mode:
        with open(p["path"] + ".partial", "w") as handle:
            handle.write(text)
        os.chmod(p["path"] + ".partial", 0o644)
        os.rename(p["path"] + ".partial", p["path"])
    return dict(changed=changed, images=entries, problems=[])


def verify_registry(p):
    from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia
    from ansible_collections.aistack.platform.plugins.module_utils.images.registry import RegistryClient, split_repo_ref
    if not p["registry"]:
        raise AistackError("is required with state=verified.", field="registry", fix="set it to the site registry")
    try:
        with open(p["path"]) as handle:
            locked = closure.read_lock(handle.read(), p["path"])
    except (IOError, OSError) as exc:
        raise AistackError("cannot read %s: %s" % (p["path"], exc), field="path",
                           fix="export the bundle with a lockfile (playbooks/airgap_export.yml)")
    registry = p["registry"].split("://", 1)[-1].rstrip("/")
    client = RegistryClient(p["registry"], username=p["registry_username"], password=p["registry_password"],
                            tls=p["registry_tls"], validate_certs=p["registry_validate_certs"],
                            ca_path=p["registry_ca_path"])
    wanted = [item.get("ref") for item in p["images"] or []]
    missing = sorted(ref for ref in wanted if ref not in locked)
    if missing:
        raise AistackError("%s does not lock %s." % (p["path"], ", ".join(missing)), field="images",
                           fix="export the bundle again: its lockfile and manifest must list the same images")
    images, problems = [], []
    for ref, digest in sorted(locked.items()):
        if wanted and ref not in wanted:
            continue
        target = ia.target_reference(ref, registry, p["registry_project"], p["flatten"])
        repo, tag = split_repo_ref(target)
        found = client.manifest_digest(repo, tag)
        images.append({"ref": ref, "digest": digest, "target": target, "found": found})
        if found != digest:
            problems.append("%s: the site registry %s, but the bundle's lockfile says %s. Fix: import the bundle "
                            "again (playbooks/airgap_import.yml, with -e airgap_receipt_skip=false when the registry "
                            "lost or changed data), or find who pushed another image under this tag." % (
                                ref, ("has no %s" % target) if found is None else ("resolves %s to %s" % (target, found)),
                                digest))
    return dict(changed=False, images=images, problems=problems)


def run(module):
    p = module.params
    if p["state"] == "present":
        return write_lock(module, p)
    return verify_registry(p)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except AistackError as err:
        module.fail_json(**err.to_result())
    if result.get("problems"):
        module.fail_json(msg=" ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
