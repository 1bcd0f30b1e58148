# -*- coding: utf-8 -*-
"""The collection documents what it ships: filter sidecar docs, the changelog sources, the README's content lists.

These fail when a filter, module or role is added without its documentation (no cluster needed).
"""

from __future__ import absolute_import, division, print_function

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FQCN = "aistack.platform"


# --- helpers (each has a negative control below) -------------------------------------------------------------

def registered_filters(filter_dir):
    """{filter name: plugin file stem} for every FilterModule in ``filter_dir``/*.py."""
    out = {}
    for path in sorted(Path(filter_dir).glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module("ansible_collections.aistack.platform.plugins.filter.%s" % path.stem)
        for name in module.FilterModule().filters():
            assert name not in out, "filter %s registered by both %s.py and %s.py" % (name, out[name], path.stem)
            out[name] = path.stem
    return out


def doc_problems(name, sidecar):
    """What is wrong with the sidecar doc of filter ``name`` (its parsed YAML, or None when there is none)."""
    if sidecar is None:
        return ["plugins/filter/%s.yml is missing" % name]
    problems = []
    doc = sidecar.get("DOCUMENTATION") or {}
    if doc.get("name") != name:
        problems.append("DOCUMENTATION.name is %r, not %r" % (doc.get("name"), name))
    for key in ("short_description", "description", "author"):
        if not doc.get(key):
            problems.append("DOCUMENTATION.%s is empty" % key)
    options = doc.get("options") or {}
    if "_input" not in options:
        problems.append("DOCUMENTATION.options has no _input")
    positional = [p.strip() for p in str(doc.get("positional") or "").split(",") if p.strip()]
    problems.extend("positional %s is not an option" % p for p in positional if p not in options)
    if not str(sidecar.get("EXAMPLES") or "").strip():
        problems.append("EXAMPLES is empty")
    if "_value" not in (sidecar.get("RETURN") or {}):
        problems.append("RETURN has no _value")
    return ["%s: %s" % (name, p) for p in problems]


def missing_names(names, text, prefix=FQCN + "."):
    """The names that ``text`` never mentions as ``prefix + name`` (a whole name, not a longer one's start)."""
    return sorted(n for n in names if not re.search(r"%s\b" % re.escape(prefix + n), text))


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


FILTERS = registered_filters(ROOT / "plugins" / "filter")
README = (ROOT / "README.md").read_text(encoding="utf-8")
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))


# --- filter plugins ------------------------------------------------------------------------------------------

def test_the_collection_registers_filters():
    assert len(FILTERS) >= 20, sorted(FILTERS)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_has_a_sidecar_doc_with_its_name(name):
    path = ROOT / "plugins" / "filter" / ("%s.yml" % name)
    assert doc_problems(name, load_yaml(path) if path.exists() else None) == []


def test_every_sidecar_doc_belongs_to_a_registered_filter():
    docs = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))
    assert sorted(set(docs) - set(FILTERS)) == []


def test_doc_problems_reports_a_missing_or_wrong_doc():
    good = {"DOCUMENTATION": {"name": "f", "short_description": "s", "description": ["d"], "author": "a",
                              "positional": "_input, other", "options": {"_input": {}, "other": {}}},
            "EXAMPLES": "x: \"{{ 1 | f }}\"", "RETURN": {"_value": {"description": "r"}}}
    assert doc_problems("f", good) == []
    assert doc_problems("f", None) == ["plugins/filter/f.yml is missing"]
    assert doc_problems("g", good) == ["g: DOCUMENTATION.name is 'f', not 'g'"]
    bad = dict(good, RETURN={}, DOCUMENTATION=dict(good["DOCUMENTATION"], positional="_input, third"))
    assert doc_problems("f", bad) == ["f: positional third is not an option", "f: RETURN has no _value"]


def test_registered_filters_finds_each_filter_of_a_plugin_file():
    found = registered_filters(ROOT / "plugins" / "filter")
    assert found["k3s_validate"] == "k3s"
    assert found["verify_junit"] == "verify"
    assert found["endpoint_lines"] == "summary"


# --- changelog -----------------------------------------------------------------------------------------------

def test_changelog_config_parses_and_names_its_output():
    config = load_yaml(ROOT / "changelogs" / "config.yaml")
    assert config["changes_file"] == "changelog.yaml"
    assert config["notesdir"] == "fragments"
    outputs = [entry["file"] for entry in config["output"]]
    assert outputs and all((ROOT / name).is_file() for name in outputs), outputs


def test_changelog_yaml_parses_with_dated_releases():
    changes = load_yaml(ROOT / "changelogs" / "changelog.yaml")
    releases = changes["releases"]
    assert releases, "changelog.yaml has no release"
    for version, release in releases.items():
        assert re.match(r"^\d+\.\d+\.\d+", str(version)), version
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", str(release.get("release_date"))), version


def test_fragments_use_the_configured_sections():
    config = load_yaml(ROOT / "changelogs" / "config.yaml")
    sections = {name for name, _title in config["sections"]}
    sections |= {config["prelude_section_name"], config["trivial_section_name"]}
    fragments = sorted((ROOT / "changelogs" / "fragments").glob("*.y*ml"))
    for path in fragments:
        fragment = load_yaml(path)
        assert isinstance(fragment, dict) and fragment, path.name
        assert sorted(set(fragment) - sections) == [], path.name


# --- README --------------------------------------------------------------------------------------------------

def test_readme_lists_every_module():
    assert MODULES, "no module found"
    assert missing_names(MODULES, README) == []


def test_readme_lists_every_role():
    assert ROLES, "no role found"
    assert missing_names(ROLES, README) == []


def test_readme_lists_every_playbook_and_filter():
    assert missing_names(PLAYBOOKS, README) == []
    assert missing_names(FILTERS, README) == []


def test_readme_points_at_nothing_outside_the_collection():
    assert "../" not in README
    assert "DESIGN.md" not in README


def test_missing_names_finds_the_one_left_out():
    listing = "| `aistack.platform.helm_tenant` | ... |\n| `aistack.platform.image_import_extra` | ... |\n"
    assert missing_names(["helm_tenant", "image_import", "site_check"], listing) == ["image_import", "site_check"]
    assert missing_names(["helm_tenant"], listing) == []
