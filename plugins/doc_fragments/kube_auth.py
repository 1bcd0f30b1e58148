# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the collection's modules reach the Kubernetes API (module_utils/kube/auth.py).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - The kubeconfig of the target cluster, as a path or as a dictionary with its content.
      - When not given, E(K8S_AUTH_KUBECONFIG) is used, then every file in E(KUBECONFIG) (merged as
        C(kubectl) merges them), then C(~/.kube/config). Inside a pod with nothing given, its ServiceAccount.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
      - Also read from E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - The API server URL. With O(api_key), or O(username) and O(password), or O(client_cert) and O(client_key),
        no kubeconfig is read (what AWX's Kubernetes credential gives).
      - Also read from E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - A bearer token for the API server. Also read from E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for basic authentication. Also read from E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for basic authentication. Also read from E(K8S_AUTH_PASSWORD).
    type: str
  ca_cert:
    description:
      - The CA certificate that signs the API server's certificate.
      - Also read from E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - A client certificate for the API server. Also read from E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - The key of O(client_cert). Also read from E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - An HTTP proxy to the API server. Also read from E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Hosts not to reach through O(proxy). Also read from E(K8S_AUTH_NO_PROXY).
    type: str
  impersonate_user:
    description:
      - The user to act as. Also read from E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - The groups to act as. Also read from E(K8S_AUTH_IMPERSONATE_GROUPS) (comma-separated).
    type: list
    elements: str

notes:
  - The options, their aliases and the E(K8S_AUTH_*) variables are those of C(kubernetes.core), with the same
    precedence (option, then variable, then kubeconfig), so one C(module_defaults) entry serves both collections.
requirements:
  - kubernetes >= 24.2.0 (Python client)
"""

    # The API server's certificate check. Separate because site_check has a validate_certs of its own (the
    # ingress's certificates); there the API server's check comes from K8S_AUTH_VERIFY_SSL or the kubeconfig.
    VALIDATE_CERTS = r"""
options:
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Also read from E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
"""
