"""Secret markers: every secret of the local site's vault replaced by a unique random value, and a search for
those values in what the site shows (playbook output, Helm values, ConfigMaps, pod specs).

Issue 14, "No secret reaches a log, a value or a diff". A marker is found plain, base64 (standard and URL-safe,
also inside a longer base64 text at any of the three byte alignments) and URL-encoded. Secrets (kind Secret)
are where the markers belong, so they are never searched.

Not a test file: test_site.py converges the local site with the markers and runs the search, and
test_secret_markers.py proves the search finds what it must (no cluster needed).
"""

import base64
import json
import os
import secrets
import subprocess
import urllib.parse
from pathlib import Path

import yaml

# Secrets that Langflow keeps in the site's Compose PostgreSQL, which outlives every converge: it creates its
# superuser once and never resets the password, and encrypts stored credentials with the secret key. An apply
# with a new value would lock the other tests (and every later converge) out of Langflow, so the apply run
# keeps the vault's own values of these (unique random strings as well, searched like any marker); the
# check-mode run gives them fresh markers like every other secret.
PERSISTED = ("vault_langflow_superuser_passwords", "vault_langflow_secret_keys")
FERNET = ("vault_langflow_secret_keys",)
# Vault secrets the local site does not use (demo_app_enabled: false), so no Secret holds their markers.
UNUSED_LOCALLY = ("vault_demo_api_key",)


def read_vault(vault_file, password_file):
    """The decrypted vars file (a dict)."""
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel
    secret = VaultSecret(Path(password_file).read_bytes().strip())
    text = VaultLib([("default", secret)]).decrypt(Path(vault_file).read_bytes())
    return yaml.safe_load(text)


def new_marker(fernet=False):
    """A unique random value: 'mk' + 28 hex digits (8+ characters, no quote, no newline, URL-safe), or a valid
    Fernet key (32 random bytes, URL-safe base64) where the app requires one."""
    if fernet:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return "mk" + secrets.token_hex(14)


def marker_vars(vault, keep=()):
    """The vault's variables with every string leaf replaced by a new marker, except under the names in
    ``keep`` (their vault values are kept). Same structure (dict keys such as release names stay)."""

    def replace(value, fernet):
        if isinstance(value, dict):
            return {key: replace(item, fernet) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item, fernet) for item in value]
        return new_marker(fernet)

    return {name: (value if name in keep else replace(value, name in FERNET)) for name, value in vault.items()}


def leaves(values, prefix=""):
    """{"vault_x" or "vault_x.key": value} for every string leaf."""
    out = {}
    if isinstance(values, dict):
        for key, item in values.items():
            out.update(leaves(item, "%s.%s" % (prefix, key) if prefix else str(key)))
    elif isinstance(values, list):
        for index, item in enumerate(values):
            out.update(leaves(item, "%s[%d]" % (prefix, index)))
    elif values is not None:
        out[prefix] = str(values)
    return out


def write_vars_file(path, values):
    """The markers as an extra-vars file (mode 0600), for ``-e @path``: never on a command line."""
    path = Path(path)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return "@%s" % path


def _b64_fragments(raw):
    """Base64 texts that any base64 encoding containing ``raw`` contains: for each of the three byte offsets
    the marker can start at, the characters fully determined by its bytes; standard and URL-safe alphabets."""
    out = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-offset * 8 // 6)             # ceil: the first character with no padding bit in it
        end = (offset + len(raw)) * 8 // 6      # floor: the last character fully made of the marker
        fragment = encoded[start:end]
        out.add(fragment)
        out.add(fragment.replace("+", "-").replace("/", "_"))
    return out


def encodings(marker):
    """{form: text} for one marker: plain, base64 fragments (b64@0, b64@1, ...), URL-encoded forms."""
    forms = {"plain": marker}
    for index, fragment in enumerate(sorted(_b64_fragments(marker.encode()))):
        forms["base64#%d" % index] = fragment
    for name, quoted in (("url", urllib.parse.quote(marker, safe="")),
                         ("url+", urllib.parse.quote_plus(marker)),
                         ("url/", urllib.parse.quote(marker))):
        if quoted != marker:
            forms[name] = quoted
    return forms


def search(haystacks, markers):
    """Every place a marker occurs: [(haystack name, marker label, form)], sorted.

    haystacks: {name: text}; markers: {label: value}.
    """
    needles = [(label, form, text) for label, value in markers.items() for form, text in encodings(value).items()]
    hits = set()
    for where, text in haystacks.items():
        for label, form, needle in needles:
            if needle in text:
                hits.add((where, label, form))
    return sorted(hits)


# ---------------------------------------------------------------- what the cluster shows

def _json(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, proc.stderr or proc.stdout))
    return json.loads(proc.stdout or "null")


def cluster_haystacks(env):
    """{name: text} of everything the cluster shows outside Secrets: ``helm get values --all`` of every release
    in every namespace, every ConfigMap (data, binaryData, annotations), every pod's spec and annotations."""
    out = {}
    for release in _json(["helm", "list", "--all-namespaces", "--all", "-o", "json"], env) or []:
        values = _json(["helm", "get", "values", release["name"], "-n", release["namespace"], "--all", "-o", "json"],
                       env)
        out["helm values %s/%s" % (release["namespace"], release["name"])] = json.dumps(values)
    for item in _json(["kubectl", "get", "configmaps", "--all-namespaces", "-o", "json"], env)["items"]:
        meta = item["metadata"]
        out["configmap %s/%s" % (meta["namespace"], meta["name"])] = json.dumps(
            {"data": item.get("data"), "binaryData": item.get("binaryData"),
             "annotations": meta.get("annotations"), "labels": meta.get("labels")})
    for item in _json(["kubectl", "get", "pods", "--all-namespaces", "-o", "json"], env)["items"]:
        meta = item["metadata"]
        out["pod %s/%s" % (meta["namespace"], meta["name"])] = json.dumps(
            {"spec": item.get("spec"), "annotations": meta.get("annotations"), "labels": meta.get("labels")})
    return out


def secret_values(env):
    """The decoded values of every Secret in every namespace, as one text (to check the markers got there)."""
    values = []
    for item in _json(["kubectl", "get", "secrets", "--all-namespaces", "-o", "json"], env)["items"]:
        for value in (item.get("data") or {}).values():
            values.append(base64.b64decode(value).decode(errors="replace"))
        values.extend((item.get("stringData") or {}).values())
    return "\n".join(values)
