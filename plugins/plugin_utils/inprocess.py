# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the action plugins share when they run a module's logic in the controller process.

They do so only where the module would run on the controller anyway with nothing the module process would
change: a local connection, no task ``environment``, no ``become``. There they can print progress lines while
the work goes on (a module process can only answer when it ends). The result is filtered as the module's
would be: every value of a ``no_log`` option and every extra credential is removed from it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.parameters import _list_no_log_values, remove_values

LOCAL_TRANSPORTS = ("local", "ansible.builtin.local", "ansible.legacy.local")


def runs_locally(action):
    """Whether the task of this action plugin would run its module on the controller, as the controller's user,
    with the controller's environment."""
    transport = getattr(action._connection, "transport", "") or ""
    environment = action._task.environment or []
    if isinstance(environment, list):
        environment = [item for item in environment if item]
    become = bool(getattr(action._task, "become", False)) or bool(getattr(action._play_context, "become", False)) \
        if hasattr(action, "_play_context") else bool(getattr(action._task, "become", False))
    return transport in LOCAL_TRANSPORTS and not environment and not become


def masked(result, argument_spec, params, extra=()):
    """``result`` without any value of a no_log option of ``argument_spec`` nor any of ``extra``."""
    secrets = set(_list_no_log_values(argument_spec, params))
    secrets.update(value for value in extra if value)
    return remove_values(result, secrets) if secrets else result


def failure(err):
    """An AistackError as the failed task result the module would have returned."""
    result = err.to_result()
    result["failed"] = True
    result["changed"] = False
    return result
