#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_inventory
short_description: List the images an OCI registry or containerd holds, by name and manifest digest
version_added: 0.1.0
description:
  - Read-only. With O(target=registry), every tag of every repository under O(registry_project) (the registry's
    catalog, each repository's tag list, a C(HEAD) per tag for its manifest digest); with O(target=containerd), the
    image records of containerd's namespace (C(ctr images ls)).
  - The airgap role's drift report compares the result with the import receipt (C(docs/airgap.md)).
options:
  target:
    description: What to list.
    type: str
    choices: [containerd, registry]
    required: true
  registry:
    description: Registry address (C(host[:port]), optionally with C(http://) or C(https://)); required for V(registry).
    type: str
  registry_project:
    description: Only repositories under this path prefix (the import's project); all when empty.
    type: str
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
    description: How to run C(ctr), e.g. V([k3s, ctr]).
    type: list
    elements: str
    default: [ctr]
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
author:
  - aistack platform engineering (@aistack-platform)
requirements:
  - requests (registry target)
  - ctr (containerd target)
"""

EXAMPLES = r"""
- name: What the site registry holds under the project
  aistack.platform.image_inventory:
    target: registry
    registry: localhost:30500
    registry_project: aistack
  register: held
"""

RETURN = r"""
images:
  description: "C({name: manifest digest}); registry names are C(<registry>/<repository>:<tag>)."
  returned: always
  type: dict
  sample: {"localhost:30500/aistack/library/postgres:17": "sha256:..."}
count:
  description: How many names.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common import reference
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import inventory


def argument_spec():
    return dict(
        target=dict(type="str", required=True, choices=["containerd", "registry"]),
        registry=dict(type="str"),
        registry_project=dict(type="str"),
        registry_username=dict(type="str"),
        registry_password=dict(type="str", no_log=True),
        registry_tls=dict(type="bool", default=False),
        registry_validate_certs=dict(type="bool", default=True),
        registry_ca_path=dict(type="path"),
        containerd_socket=dict(type="path", default="/run/k3s/containerd/containerd.sock"),
        containerd_namespace=dict(type="str", default="k8s.io"),
        ctr_command=dict(type="list", elements="str", default=["ctr"]),
    )


def run(module):
    p = module.params
    if p["target"] == "registry":
        if not p["registry"]:
            raise AistackError("is required when target is registry.", field="registry",
                               fix="set registry, e.g. localhost:30500")
        address = p["registry"].split("://", 1)[-1].rstrip("/")
        reference.validate_domain(address.split("/", 1)[0], field="registry")
        if p["registry_project"]:
            reference.validate_path(p["registry_project"].strip("/"), field="registry_project")
        from ansible_collections.aistack.platform.plugins.module_utils.images.registry import RegistryClient
        client = RegistryClient(p["registry"], username=p["registry_username"], password=p["registry_password"],
                                tls=p["registry_tls"], validate_certs=p["registry_validate_certs"],
                                ca_path=p["registry_ca_path"])
        client.ping()
        images = inventory.registry_images(client, address, p["registry_project"])
    else:
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import CtrClient
        ctr = CtrClient(p["containerd_socket"], p["containerd_namespace"], p["ctr_command"])
        ctr.check()
        images = inventory.containerd_images(ctr)
    return dict(changed=False, images=images, count=len(images))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except AistackError as err:
        module.fail_json(**err.to_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
