"""AWX objects as code (playbooks/awx_objects.yml, its data playbooks/vars/awx_layers.yml), checked without an AWX
server (none can run here): one job template per layer playbook, the workflow in playbooks/site.yml's order, every
survey variable one the roles of that playbook accept (their meta/argument_specs.yml) with a matching type, every
awx.awx task argument an option the module documents, and the filters behind them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import COLLECTIONS, ROOT, run_role

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.filters import awx

DATA = yaml.safe_load((ROOT / "playbooks" / "vars" / "awx_layers.yml").read_text())
LAYERS = {layer["name"]: layer for layer in DATA["awx_layers"]}
# Playbooks of site.yml that are no layer of their own (no role, nothing to converge).
NOT_LAYERS = {"summary.yml"}
# survey question type -> the argument spec types that can take its answer
TYPES = {"integer": {"int"}, "float": {"float"}, "text": {"str", "list"}, "textarea": {"str", "list"},
         "password": {"str"}, "multiplechoice": {"str"}, "multiselect": {"list"}}


def _site_playbooks():
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    return [entry["ansible.builtin.import_playbook"] for entry in site]


def _roles_of(playbook):
    """The collection's roles a playbook runs (roles:, include_role, import_role)."""
    roles = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ansible.builtin.include_role", "ansible.builtin.import_role") and isinstance(value, dict):
                    roles.append(value["name"])
                elif key == "roles":
                    roles.extend(item["role"] if isinstance(item, dict) else item for item in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / playbook).read_text()))
    return sorted({role.split(".")[-1] for role in roles})


def _role_options(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


def _accepted(playbook):
    """What a playbook's roles accept, plus the platform-wide variables (declared once, in roles/platform, and
    read by every layer: docs/platform-contract.md)."""
    options = dict(_role_options("platform"))
    for role in _roles_of(playbook):
        options.update(_role_options(role))
    return options


def test_one_job_template_per_layer_playbook():
    layers = [name[:-len(".yml")] for name in _site_playbooks() if name not in NOT_LAYERS]
    assert sorted(LAYERS) == sorted(layers + ["verify"])
    for name, layer in LAYERS.items():
        assert layer["playbook"] == "playbooks/%s.yml" % name
        assert (ROOT / layer["playbook"]).is_file()
        assert layer["description"]


def test_workflow_follows_site_yml_then_verify():
    order = [name[:-len(".yml")] for name in _site_playbooks() if name not in NOT_LAYERS]
    assert DATA["awx_workflow"] == order + ["verify"]
    # the chain the issue names, in that order
    chain = ["preflight", "k3s", "platform", "registry", "databases", "apps", "observability", "verify"]
    positions = [DATA["awx_workflow"].index(layer) for layer in chain]
    assert positions == sorted(positions)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_survey_variables_are_what_the_roles_accept(layer):
    entry = LAYERS[layer]
    accepted = _accepted(entry["playbook"])
    for question in entry["survey"]:
        variable = question["variable"]
        assert variable in accepted, "%s: %s is not an option of %s" % (layer, variable, _roles_of(entry["playbook"]))
        assert accepted[variable].get("type", "str") in TYPES[question["type"]], (layer, variable)
        # an optional question without a default: an empty answer leaves the inventory's value in force
        if not question.get("required"):
            assert question.get("default", "") == "", (layer, variable)


def test_roles_of_the_apps_playbook():
    assert _roles_of("playbooks/apps.yml") == ["demo_app", "langflow", "langgraph_worker", "lightrag", "services"]


def test_negative_control_a_variable_no_role_accepts():
    assert "langflow_teams" in _accepted("playbooks/apps.yml")
    assert "langflow_teams" not in _accepted("playbooks/verify.yml")
    assert "no_such_variable" not in _accepted("playbooks/apps.yml")


def test_sites_point_at_inventories_of_the_project():
    for site in DATA["awx_sites"]:
        assert (ROOT / site["inventory"]).is_file(), site
        assert site["inventory"].startswith("inventories/%s/" % site["site"])


# ---------------------------------------------------------------- awx.awx arguments

def _module_options(module):
    import ansible  # the pinned `ansible` bundle installs its collections beside ansible-core
    source = Path(ansible.__file__).resolve().parents[1] / "ansible_collections" / "awx" / "awx" / "plugins" / \
        "modules" / ("%s.py" % module)
    text = source.read_text()
    doc = text.split('DOCUMENTATION = r"""', 1)[1] if 'DOCUMENTATION = r"""' in text else \
        text.split("DOCUMENTATION = '''", 1)[1]
    doc = doc.split('"""', 1)[0].split("'''", 1)[0]
    parsed = yaml.safe_load(doc)
    options = dict(parsed.get("options") or {})
    for fragment in parsed.get("extends_documentation_fragment") or []:
        if fragment.endswith("auth") or fragment.endswith("auth_plugin"):
            options.update({"controller_host": {}, "controller_username": {}, "controller_password": {},
                            "controller_oauthtoken": {}, "validate_certs": {}, "controller_config_file": {},
                            "request_timeout": {}})
    aliases = {}
    for name, spec in options.items():
        for alias in (spec or {}).get("aliases") or []:
            aliases[alias] = spec
    options.update(aliases)
    return options


def _awx_tasks():
    for path in ("playbooks/awx_objects.yml", "playbooks/tasks/awx_site.yml"):
        doc = yaml.safe_load((ROOT / path).read_text())
        tasks = doc[0]["tasks"] if isinstance(doc[0], dict) and "tasks" in doc[0] else doc
        for task in tasks:
            for key, args in task.items():
                if key.startswith("awx.awx."):
                    yield path, task["name"], key.split(".")[-1], args


def test_awx_tasks_use_documented_options():
    seen = set()
    for path, name, module, args in _awx_tasks():
        seen.add(module)
        options = _module_options(module)
        unknown = sorted(set(args) - set(options))
        assert not unknown, "%s: %r passes %s, not options of awx.awx.%s" % (path, name, unknown, module)
        if module == "workflow_job_template":
            sub = options["workflow_nodes"]["suboptions"]
            node = awx.workflow_nodes(["a", "b"], "s", "e")[0]
            assert set(node) <= set(sub), set(node) - set(sub)
    assert seen == {"execution_environment", "project", "inventory", "inventory_source", "credential",
                    "job_template", "workflow_job_template"}


def test_playbooks_syntax():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    # and the kind scenario's playbooks (kind itself cannot run here: docs/awx.md, "molecule on kind")
    for playbook in ("playbooks/awx_objects.yml", "playbooks/awx_service_account.yml", "molecule/default/create.yml",
                     "molecule/default/converge.yml", "molecule/default/destroy.yml"):
        proc = subprocess.run(["ansible-playbook", "--syntax-check", playbook], cwd=str(ROOT), env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the filters

def test_survey_spec():
    spec = awx.survey_spec(LAYERS["apps"]["survey"], "apps", "d")
    assert spec["name"] == "apps" and spec["description"] == "d"
    first = spec["spec"][0]
    assert first == {"question_name": "Teams whose Langflow tenants to converge",
                     "question_description": "Comma-separated team names; empty converges every tenant of the "
                                             "inventory.",
                     "variable": "langflow_teams", "type": "text", "required": False, "default": ""}
    assert spec["spec"][1]["min"] == 0 and spec["spec"][1]["max"] == 50
    assert awx.survey_spec([]) == {"name": "", "description": "", "spec": []}


@pytest.mark.parametrize("questions, field", [
    ([{"type": "text"}], "survey[0]"),
    ([{"variable": "a"}, {"variable": "a"}], "survey[1]"),
    ([{"variable": "a", "type": "list"}], "survey[0].type"),
    ([{"variable": "a", "type": "multiselect"}], "survey[0].choices"),
])
def test_survey_spec_refuses(questions, field):
    with pytest.raises(AistackError) as err:
        awx.survey_spec(questions)
    assert err.value.field == field


def test_survey_extra_vars_as_awx_passes_them():
    questions = LAYERS["apps"]["survey"]
    assert awx.survey_extra_vars(questions) == {}
    assert awx.survey_extra_vars(questions, {"langflow_teams": "a,b", "langgraph_worker_replicas": "3"}) == \
        {"langflow_teams": "a,b", "langgraph_worker_replicas": 3}
    with pytest.raises(AistackError):
        awx.survey_extra_vars([{"variable": "x", "required": True}])


def test_workflow_nodes_chain():
    nodes = awx.workflow_nodes(DATA["awx_workflow"], "local", "dev")
    assert [n["identifier"] for n in nodes] == DATA["awx_workflow"]
    assert nodes[0]["unified_job_template"] == {"name": "aistack local/dev preflight", "type": "job_template",
                                                "organization": {"name": "Default"}}
    for node, following in zip(nodes, nodes[1:]):
        assert node["related"]["success_nodes"] == [{"identifier": following["identifier"]}]
    assert nodes[-1]["related"]["success_nodes"] == []
    with pytest.raises(AistackError):
        awx.workflow_nodes(["a", "a"], "s", "e")


def test_job_template_name():
    assert awx.job_template_name("apps", "example", "prd") == "aistack example/prd apps"


# ---------------------------------------------------------------- langflow_teams (the apps survey's question)

def test_langflow_teams_unknown_team_fails_before_deploying(tmp_path):
    proc = run_role(tmp_path, "langflow", {
        "langflow_tenants": [{"team": "alpha", "environments": ["dev"]}],
        "langflow_environments": {"dev": {"database_type": "sqlite"}},
        "langflow_teams": "alpha, nobody"})
    assert proc.returncode != 0
    assert "langflow_teams: nobody not in langflow_tenants; the teams are alpha." in " ".join(proc.stdout.split())
    assert "Deploy the IDE" not in proc.stdout.split("Check the teams to converge", 1)[0]


def test_survey_specs_are_json():
    for layer in LAYERS.values():
        json.dumps(awx.survey_spec(layer["survey"], layer["name"]))
