#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: airgap_bundle
short_description: The files of an airgap bundle, delta archives, parts of a given size, joining parts
version_added: 0.1.0
description:
  - The airgap role's file work on both sides of the air gap (C(docs/airgap.md)).
  - O(action=delta) (connected host) writes O(dest), an OCI layout archive of the images of O(src) (any archive
    C(aistack.platform.image_import) reads) with every manifest and config but only the layers not in O(omit),
    the digests the site's import receipt records. The same O(src) and O(omit) give the same bytes; its member
    C(aistack-delta.json) records what it was made of, so a second run writes nothing.
  - O(action=split) (connected host) cuts O(src) into C(<dest>.part000), C(.part001)... of O(part_size) bytes;
    parts already holding the right bytes are not written again, parts beyond the new count are removed.
  - O(action=join) (site) checks every part of O(parts) (size, sha256) and fails naming each one that is missing
    or damaged, before anything is written; then writes O(dest), their concatenation, and checks it against
    O(sha256). A O(dest) that already has that sha256 is left alone.
  - Files appear complete or not at all (written as C(*.partial), renamed).
options:
  action:
    description: What to do.
    type: str
    choices: [delta, split, join]
    required: true
  src:
    description: The image archive (V(delta)) or the file to cut (V(split)).
    type: path
  dest:
    description: The delta archive (V(delta)), the path the parts are named after (V(split)), the joined file (V(join)).
    type: path
    required: true
  omit:
    description: Layer digests to leave out (V(delta)).
    type: list
    elements: str
    default: []
  compression:
    description: Compression of the delta archive (V(delta)).
    type: str
    choices: [none, gzip, zstd]
    default: none
  platform:
    description: For image indexes whose archive holds only some platforms, the platform to keep (V(delta)).
    type: str
    default: linux/amd64
  part_size:
    description: The size of a part (V(split)), e.g. V(2GiB), V(700MiB), V(4GB), or bytes; at least 1 MiB.
    type: str
  parts:
    description: The parts to join, in order (V(join)), each C({file, sha256, size}), C(file) relative to O(base_dir).
    type: list
    elements: dict
  base_dir:
    description:
      - The directory the O(parts) are named from (V(join)), the bundle directory.
      - With V(split), the returned parts are named from it (else by their file name alone).
    type: path
  sha256:
    description: The sha256 (hex) of the joined file (V(join)), from the bundle's signed C(manifest.json).
    type: str
attributes:
  check_mode:
    support: full
    description: Computes what would be written (delta layers, parts) and writes nothing.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
author:
  - aistack platform engineering (@aistack-platform)
requirements:
  - zstandard (zstd archives)
"""

EXAMPLES = r"""
- name: The image without the layers the site already holds
  aistack.platform.airgap_bundle:
    action: delta
    src: /srv/bundle.work/images/team_app_2.0.tar
    dest: /srv/bundle/images/team_app_2.0.tar
    omit: "{{ lookup('file', 'site-receipt.json') | aistack.platform.airgap_receipt_base_blobs }}"

- name: Parts of at most 2 GiB
  aistack.platform.airgap_bundle:
    action: split
    src: /srv/bundle.work/images/team_app_2.0.tar
    dest: /srv/bundle/images/team_app_2.0.tar
    part_size: 2GiB

- name: The archive again, on site
  aistack.platform.airgap_bundle:
    action: join
    base_dir: /srv/bundle
    parts: "{{ entry.parts }}"
    sha256: "{{ entry.sha256 }}"
    dest: /srv/bundle/joined/images/team_app_2.0.tar
"""

RETURN = r"""
images:
  description: V(delta) - the images of the archive, C({ref, digest}).
  returned: action is delta
  type: list
  elements: dict
layers:
  description: V(delta) - every layer digest of the archive's images.
  returned: action is delta
  type: list
  elements: str
omitted:
  description: V(delta) - the layers left out (the import must find them at the target).
  returned: action is delta
  type: list
  elements: str
carried:
  description: V(delta) - the layers written.
  returned: action is delta
  type: list
  elements: str
size:
  description: Bytes of the delta archive, of the file cut (V(split)), of the joined file (V(join)).
  returned: always
  type: int
parts:
  description: V(split) - C({file, sha256, size}) per part, C(file) relative to O(base_dir) (else its file name).
  returned: action is split
  type: list
  elements: dict
sha256:
  description: V(split) - the sha256 of the whole file.
  returned: action is split
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import bundle


def argument_spec():
    return dict(
        action=dict(type="str", required=True, choices=["delta", "split", "join"]),
        src=dict(type="path"),
        dest=dict(type="path", required=True),
        omit=dict(type="list", elements="str", default=[]),
        compression=dict(type="str", default="none", choices=["none", "gzip", "zstd"]),
        platform=dict(type="str", default="linux/amd64"),
        part_size=dict(type="str"),
        parts=dict(type="list", elements="dict"),
        base_dir=dict(type="path"),
        sha256=dict(type="str"),
    )


def _require(p, *names):
    for name in names:
        if p[name] in (None, "", []):
            raise AistackError("is required with action %s." % p["action"], field=name,
                               fix="set %s (see ansible-doc aistack.platform.airgap_bundle)" % name)


def run(module):
    p = module.params
    if p["action"] == "delta":
        _require(p, "src")
        return bundle.write_delta(p["src"], p["dest"], p["omit"], p["compression"], p["platform"],
                                  check_mode=module.check_mode)
    if p["action"] == "split":
        _require(p, "src", "part_size")
        size = bundle.parse_size(p["part_size"], field="part_size")
        if not os.path.isfile(p["src"]):
            raise AistackError("'%s' does not exist." % p["src"], field="src", fix="point src at the file to cut")
        result = bundle.split_file(p["src"], p["dest"], size, check_mode=module.check_mode)
        result["parts"] = [dict(file=os.path.relpath(part["path"], p["base_dir"]) if p["base_dir"]
                                else os.path.basename(part["path"]), sha256=part["sha256"], size=part["size"])
                           for part in result["parts"]]
        return result
    _require(p, "parts", "base_dir", "sha256")
    return bundle.join_parts(p["parts"], p["base_dir"], p["dest"], p["sha256"], check_mode=module.check_mode)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except AistackError as err:
        module.fail_json(**err.to_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
