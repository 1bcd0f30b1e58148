# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX objects of playbooks/awx_objects.yml from its data (playbooks/vars/awx_layers.yml): pure functions.

``survey_spec`` turns a layer's questions into AWX's survey specification, ``workflow_nodes`` the layer order into
the nodes of awx.awx.workflow_job_template, ``survey_extra_vars`` answers into the extra variables AWX passes (an
empty optional answer passes nothing, so the inventory's value stays in force), ``job_template_name`` the name
every object of a site and environment carries.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

QUESTION_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")


def job_template_name(layer, site, environment, prefix="aistack"):
    """``aistack <site>/<env> <layer>``."""
    return "%s %s/%s %s" % (prefix, site, environment, layer)


def survey_spec(questions, name="", description=""):
    """AWX's survey specification for a layer's questions (``variable``, ``type``, ``question``, optional
    ``description``, ``required``, ``default``, ``min``, ``max``, ``choices``)."""
    spec = []
    seen = set()
    for index, item in enumerate(questions or []):
        where = "survey[%d]" % index
        variable = item.get("variable")
        if not variable:
            raise AistackError("%s has no variable." % where, field=where, fix="name the variable the question sets")
        if variable in seen:
            raise AistackError("%s asks for %s twice." % (where, variable), field=where, fix="ask once")
        seen.add(variable)
        qtype = item.get("type", "text")
        if qtype not in QUESTION_TYPES:
            raise AistackError("%s has type '%s'." % (where, qtype), field=where + ".type",
                               fix="use one of %s" % ", ".join(QUESTION_TYPES))
        if qtype in ("multiplechoice", "multiselect") and not item.get("choices"):
            raise AistackError("%s (%s) has no choices." % (where, qtype), field=where + ".choices",
                               fix="list the choices")
        entry = {
            "question_name": item.get("question") or variable,
            "question_description": item.get("description", ""),
            "variable": variable,
            "type": qtype,
            "required": bool(item.get("required", False)),
            "default": item.get("default", ""),
        }
        for key in ("min", "max"):
            if item.get(key) is not None:
                entry[key] = item[key]
        if item.get("choices"):
            entry["choices"] = list(item["choices"])
        spec.append(entry)
    return {"name": name, "description": description, "spec": spec}


def survey_extra_vars(questions, answers=None):
    """The extra variables AWX passes for these answers: an answered question passes its value (typed as the
    question says), an unanswered one its default, and nothing when that is empty too."""
    answers = answers or {}
    out = {}
    for item in questions or []:
        variable = item["variable"]
        value = answers.get(variable, item.get("default", ""))
        if value in ("", None, []):
            if item.get("required"):
                raise AistackError("the survey needs an answer for %s." % variable, field=variable,
                                   fix="answer the question")
            continue
        qtype = item.get("type", "text")
        if qtype == "integer":
            value = int(value)
        elif qtype == "float":
            value = float(value)
        out[variable] = value
    return out


def workflow_nodes(layers, site, environment, prefix="aistack", organization="Default"):
    """awx.awx.workflow_job_template's ``workflow_nodes``: one node per layer, each run on the success of the one
    before (the chain of playbooks/site.yml)."""
    nodes = []
    layers = list(layers or [])
    if len(set(layers)) != len(layers):
        raise AistackError("the workflow lists a layer twice.", field="awx_workflow", fix="list each layer once")
    for index, layer in enumerate(layers):
        following = layers[index + 1] if index + 1 < len(layers) else None
        nodes.append({
            "identifier": layer,
            "unified_job_template": {
                "name": job_template_name(layer, site, environment, prefix),
                "type": "job_template",
                "organization": {"name": organization},
            },
            "related": {"success_nodes": [{"identifier": following}] if following else []},
        })
    return nodes
