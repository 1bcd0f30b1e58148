# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of aistack.platform.release_wait: the wait in the controller process, progress as it comes.

Where the module would run on the controller anyway (local connection, no task ``environment``, no
``become``), the plugin runs the module's ``execute`` in-process and prints each progress line as the wait
produces it. Elsewhere the module runs as usual and its lines are printed when it returns.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "aistack.platform.release_wait"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        outcome = None
        try:
            outcome = self._in_process()
        except Exception as exc:  # pylint: disable=broad-except
            display.vvv("release_wait: no in-process run (%s: %s)" % (type(exc).__name__, exc))
            outcome = None
        if outcome is None:
            outcome = self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars)
            if not self._task.no_log:
                for line in outcome.get("progress") or []:
                    display.display(line)
        result.update(outcome)
        return result

    def _in_process(self):
        from ansible_collections.aistack.platform.plugins.plugin_utils.inprocess import failure, masked, runs_locally
        if not runs_locally(self):
            return None
        from ansible_collections.aistack.platform.plugins.modules.release_wait import argument_spec, execute
        from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
        from ansible_collections.aistack.platform.plugins.module_utils.kube.client import kubeconfig_secrets
        validated = ArgumentSpecValidator(argument_spec()).validate(dict(self._task.args))
        if validated.error_messages:
            return None  # the module reports them
        params = validated.validated_parameters
        lines = []

        def _report(line):
            lines.append(line)
            if not self._task.no_log:
                display.display(line)
        try:
            outcome = execute(params, check_mode=bool(self._task.check_mode), report=_report)
        except AistackError as err:
            outcome = failure(err)
            outcome["changed"] = bool(err.details.get("changed"))
        outcome["progress"] = lines
        return masked(outcome, argument_spec(), params, extra=kubeconfig_secrets(params))
