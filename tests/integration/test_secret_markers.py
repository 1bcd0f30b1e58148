"""The secret-marker search (secret_markers.py) finds what it must: a marker planted plain, base64 at every
byte alignment (standard and URL-safe), URL-encoded, and nothing when no marker is there. No cluster needed:
test_site.py runs the same search on the converged local site, with its own planted control."""

import base64
import json
import urllib.parse

import pytest

import secret_markers as sm
from conftest import ROOT

VAULT = ROOT / "inventories" / "local" / "group_vars" / "all" / "vault.yml"
VAULT_PASS = ROOT / "inventories" / "local" / "vault-password.txt"


def test_markers_replace_every_vault_secret_and_fit_the_roles():
    vault = sm.read_vault(VAULT, VAULT_PASS)
    markers = sm.marker_vars(vault)
    assert set(markers) == set(vault)
    old, new = sm.leaves(vault), sm.leaves(markers)
    assert set(old) == set(new) and len(new) >= 10, sorted(new)
    assert len(set(new.values())) == len(new), "markers are unique"
    assert not set(old.values()) & set(new.values())
    for label, value in new.items():
        # databases role: 8+ characters, no quote or newline; Langflow: a Fernet key
        assert len(value) >= 8 and not set(value) & set("'\"\n\r"), label
        if label.startswith(sm.FERNET):
            assert len(base64.urlsafe_b64decode(value)) == 32, label
    kept = sm.leaves(sm.marker_vars(vault, keep=sm.PERSISTED))
    for label, value in kept.items():
        assert (value == old[label]) == label.startswith(sm.PERSISTED), label


@pytest.mark.parametrize("prefix", ["", "x", "xy", "xyz"])
def test_search_finds_a_marker_in_every_form(prefix):
    marker = sm.new_marker()
    fernet = sm.new_marker(fernet=True)  # has '=', '-', '_': URL-encoding changes it
    planted = {
        "plain": "log line ... %s%s ..." % (prefix, marker),
        "base64": json.dumps({"blob": base64.b64encode((prefix + marker + " tail").encode()).decode()}),
        "urlsafe": base64.urlsafe_b64encode(("??>" + prefix + marker).encode()).decode(),
        "url": "postgresql://u:%s@host/db" % urllib.parse.quote(prefix + fernet, safe=""),
        "clean": "nothing here but %s" % sm.new_marker(),
    }
    hits = sm.search(planted, {"m": marker, "f": fernet})
    where = {(hit[0], hit[1]) for hit in hits}
    assert where == {("plain", "m"), ("base64", "m"), ("urlsafe", "m"), ("url", "f")}, hits
    assert sm.search({"clean": planted["clean"]}, {"m": marker, "f": fernet}) == []


def test_vars_file_is_private(tmp_path):
    arg = sm.write_vars_file(tmp_path / "markers.json", {"vault_x": "mk1"})
    assert arg == "@%s" % (tmp_path / "markers.json")
    assert (tmp_path / "markers.json").stat().st_mode & 0o077 == 0
