# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the collection's modules reach the Kubernetes API.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig file of the target cluster.
      - When not given, the E(KUBECONFIG) environment variable is used, then C(~/.kube/config).
    type: path
  context:
    description:
      - The kubeconfig context to use. Defaults to the kubeconfig's current context.
    type: str
requirements:
  - kubernetes >= 24.2.0 (Python client)
"""
