# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of aistack.platform.helm_tenant: the no-op check in the controller process.

When the task runs on the controller (local connection, no task ``environment``), the plugin first
computes, in-process and without touching anything, whether the release would change (the same
``TenantRunner`` code the module runs, in check mode). When nothing would change it returns that
result directly: no module process, no AnsiballZ payload. Everything else (changes, failures,
``state=absent``, remote hosts) runs the module as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "aistack.platform.helm_tenant"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        fast = None
        try:
            fast = self._noop_result()
        except Exception as exc:  # any doubt: the module decides and reports
            display.vvv("helm_tenant: no in-process no-op check (%s: %s)" % (type(exc).__name__, exc))
            fast = None
        if fast is not None:
            result.update(fast)
            return result
        result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
        return result

    def _local(self):
        transport = getattr(self._connection, "transport", "") or ""
        environment = self._task.environment or []
        if isinstance(environment, list):
            environment = [item for item in environment if item]
        return transport in ("local", "ansible.builtin.local", "ansible.legacy.local") and not environment

    def _noop_result(self):
        if not self._local():
            display.vvv("helm_tenant: not local (%r, %r)"
                        % (getattr(self._connection, "transport", None), self._task.environment))
            return None
        from ansible_collections.aistack.platform.plugins.modules.helm_tenant import argument_spec
        validated = ArgumentSpecValidator(argument_spec()).validate(dict(self._task.args))
        if validated.error_messages:
            display.vvv("helm_tenant: arguments for the module to report (%s)" % validated.error_messages[0])
            return None
        params = validated.validated_parameters
        if params.get("state") != "present" or not params.get("chart") or not params.get("image"):
            return None
        from ansible_collections.aistack.platform.plugins.module_utils.tenant import credentials as tcreds
        from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
        from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import find_binary
        from ansible_collections.aistack.platform.plugins.module_utils.kube.client import kubeconfig_secrets, open_client
        from ansible_collections.aistack.platform.plugins.module_utils.tenant.runner import TenantRunner

        from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues

        files_values = tvalues.load_values_files(params.get("values_files"))
        if tcreds.inline_secret_values({"extra_values": params.get("extra_values"), "env": params.get("env"),
                                        "values_files": files_values}) \
                or kubeconfig_secrets(params):
            return None  # values to hide from the output: the module does that
        tpolicy.validate(params, files_values=files_values)
        find_binary(params.get("binary_path"))
        kube = open_client(params, prefer="library")
        warnings = []
        try:
            runner = TenantRunner(params, kube, None, check_mode=True, warn=warnings.append)
            outcome = runner.present()
        finally:
            kube.close()
        if outcome.get("changed"):
            reasons = outcome.get("changes") or outcome.get("actions") or []
            display.vvv("helm_tenant: would change (%s), running the module" % ", ".join(reasons))
            return None
        outcome["changed"] = False
        if warnings:
            outcome["warnings"] = warnings
        return outcome
