# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the airgap role's signed bundles and import receipts; the logic is in plugins/module_utils/filters/airgap.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import airgap
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "airgap_bundle_signer": _wrap(airgap.bundle_signer),
            "airgap_signers_problems": _wrap(airgap.signers_problems),
            "airgap_allowed_signers": _wrap(airgap.allowed_signers),
            "airgap_signature_fingerprint": _wrap(airgap.signature_fingerprint),
            "airgap_signature_signer": _wrap(airgap.signature_signer),
            "airgap_sums_files": _wrap(airgap.sums_files),
            "airgap_sums_problems": _wrap(airgap.sums_problems),
            "airgap_receipt_pending": _wrap(airgap.receipt_pending),
            "airgap_receipt_update": _wrap(airgap.receipt_update),
            "airgap_receipt_base_blobs": _wrap(airgap.receipt_base_blobs),
            "airgap_receipt_drift": _wrap(airgap.receipt_drift),
        }
