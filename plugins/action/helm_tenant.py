# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of aistack.platform.helm_tenant: the no-op check and the rollout in the controller process.

When the task runs on the controller (local connection, no task ``environment``, no ``become``), the plugin
first computes, in-process and without touching anything, whether the release would change (the same
``TenantRunner`` code the module runs, in check mode). When nothing would change it returns that result
directly: no module process, no AnsiballZ payload. When something would change it runs the same code for
real in-process too, so the rollout's progress lines (``tenant/rollout.py``) appear while it waits, every
10 seconds and without ``-v``. Everything else (failures of the argument check, clear-text credentials in
the arguments, ``state=absent``, remote hosts) runs the module as usual; its progress lines are shown when it
returns.
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
        if self._task.args.get("render_dir"):
            # render only: the module runs helm template and opens no connection; nothing to check in-process
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
            return result
        fast = None
        try:
            fast = self._noop_result()
        except Exception as exc:  # any doubt: the module decides and reports
            display.vvv("helm_tenant: no in-process no-op check (%s: %s)" % (type(exc).__name__, exc))
            fast = None
        if fast is not None:
            result.update(fast)
            return result
        applied = None
        if self._prepared is not None:
            try:
                applied = self._apply_in_process()
            except Exception as exc:  # pylint: disable=broad-except
                display.vvv("helm_tenant: no in-process run (%s: %s)" % (type(exc).__name__, exc))
                applied = None
        if applied is not None:
            result.update(applied)
            return result
        outcome = self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars)
        if not self._task.no_log:
            for line in (outcome.get("rollout") or {}).get("progress") or []:
                display.display(line)
        result.update(outcome)
        return result

    def _apply_in_process(self):
        """The module's work in this process (the params passed every check of ``_noop_result``), progress
        lines displayed as they come; None where the module must do it."""
        from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
        from ansible_collections.aistack.platform.plugins.module_utils.helm.versions import VersionedHelmRunner
        from ansible_collections.aistack.platform.plugins.module_utils.kube.client import open_client
        from ansible_collections.aistack.platform.plugins.module_utils.tenant.runner import TenantRunner
        from ansible_collections.aistack.platform.plugins.modules.helm_tenant import argument_spec
        from ansible_collections.aistack.platform.plugins.plugin_utils.inprocess import failure, masked

        params = self._prepared
        warnings = []
        kube = open_client(params)  # the HTTPS transport: the rollout polls pods and workloads
        try:
            helm = VersionedHelmRunner(params.get("binary_path"), access=kube.access)
            runner = TenantRunner(params, kube, helm, check_mode=bool(self._task.check_mode),
                                  want_diff=bool(self._task.diff), warn=warnings.append)
            if not self._task.no_log:
                runner.progress = display.display
            try:
                outcome = runner.present()
            except AistackError as err:
                outcome = failure(err)
            else:
                if self._task.diff and runner.diffs:
                    outcome["diff"] = runner.diffs if len(runner.diffs) > 1 else runner.diffs[0]
        finally:
            kube.close()
        if warnings:
            outcome["warnings"] = warnings
        return masked(outcome, argument_spec(), params)

    _prepared = None  # the validated params, once _noop_result found them fit for an in-process run

    def _local(self):
        from ansible_collections.aistack.platform.plugins.plugin_utils.inprocess import runs_locally
        return runs_locally(self)

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
        self._prepared = params
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
