# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Airgap bundles: the signers a site trusts, the signature on a bundle and what its SHA256SUMS lists.

Pure functions; the airgap role runs ``ssh-keygen -Y sign`` / ``-Y verify`` and ``sha256sum``, these decide what
is trusted and word the refusals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import re
import struct

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import receipt as receipts

FIELD = "airgap_trusted_signers"
# Key types ssh-keygen -Y can sign with.
KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
# A principal of an allowed-signers file: no spaces, commas, quotes or wildcards.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
SIG_BEGIN = "-----BEGIN SSH SIGNATURE-----"
SIG_END = "-----END SSH SIGNATURE-----"
SIG_MAGIC = b"SSHSIG"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ENTRY_FIX = ("give each entry a name and the one line of the signer's public key, e.g. {name: ops, key: "
             "'ssh-ed25519 AAAA... ops@build'} (the .pub file next to the exporting host's airgap_signing_key).")


def _read_string(blob, offset, what):
    """One SSH wire-format string (uint32 length + bytes) of ``blob`` at ``offset``."""
    if offset + 4 > len(blob):
        raise ValueError("truncated %s" % what)
    (length,) = struct.unpack(">I", blob[offset:offset + 4])
    start = offset + 4
    if start + length > len(blob):
        raise ValueError("truncated %s" % what)
    return blob[start:start + length], start + length


def fingerprint(blob):
    """The SHA256 fingerprint ssh-keygen prints for a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _parse_key(text, field):
    parts = str(text or "").strip().split(None, 2)
    if len(parts) < 2:
        raise AistackError("%r is not an SSH public key line (<type> <base64> [comment])." % (text,),
                           field=field, fix=ENTRY_FIX)
    key_type, b64 = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise AistackError("key type %r cannot sign bundles." % key_type, field=field,
                           fix="use a key of type %s (ssh-keygen -t ed25519)." % ", ".join(KEY_TYPES[:5]))
    try:
        blob = base64.b64decode(b64.encode("ascii"), validate=True)
        inner, _unused = _read_string(blob, 0, "key type")
    except (binascii.Error, ValueError, UnicodeError):
        raise AistackError("the key is not valid base64 of an SSH public key.", field=field, fix=ENTRY_FIX)
    if inner.decode("ascii", "replace") != key_type:
        raise AistackError("the key says %s but its data is a %s key." % (key_type, inner.decode("ascii", "replace")),
                           field=field, fix=ENTRY_FIX)
    return dict(type=key_type, key=b64, comment=parts[2].strip() if len(parts) > 2 else "",
                fingerprint=fingerprint(blob))


def bundle_signer(entry, field=FIELD):
    """One entry of airgap_trusted_signers ({name, key}, or the public key line alone, named by its comment)
    -> {name, type, key, comment, fingerprint, line}; a bad entry raises AistackError naming ``field``."""
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"name", "key"})
        if unknown:
            raise AistackError("unknown key(s) %s." % ", ".join(unknown), field=field, fix=ENTRY_FIX)
        if not entry.get("key"):
            raise AistackError("the entry has no key.", field=field, fix=ENTRY_FIX)
        signer = _parse_key(entry["key"], field)
        name = str(entry.get("name") or signer["comment"])
    elif isinstance(entry, str):
        signer = _parse_key(entry, field)
        name = signer["comment"]
    else:
        raise AistackError("an entry must be a dictionary {name, key} or a public key line, not %s."
                           % type(entry).__name__, field=field, fix=ENTRY_FIX)
    if not NAME_RE.match(name):
        raise AistackError("signer name %r is not a plain name (letters, digits, . _ @ + -, up to 64)." % (name,),
                           field=field, fix="set name: to a plain name such as ops or build@example.org.")
    signer.update(name=name, line="%s %s" % (signer["type"], signer["key"]))
    return signer


def signers_problems(signers, require_signature=True):
    """What is wrong with airgap_trusted_signers: one sentence per problem, naming the field and the fix."""
    if signers is None:
        signers = []
    if not isinstance(signers, list):
        return ["%s must be a list of {name, key}, not %s. Fix: %s" % (FIELD, type(signers).__name__, ENTRY_FIX)]
    problems = []
    if require_signature and not signers:
        problems.append(
            "%s is empty and airgap_require_signature is true, so no bundle can be imported. Fix: add the public "
            "key of the exporting host's airgap_signing_key ({name: ops, key: 'ssh-ed25519 AAAA...'}), or set "
            "airgap_require_signature: false to import unsigned bundles." % FIELD)
    names, prints = {}, {}
    for index, entry in enumerate(signers):
        field = "%s[%d]" % (FIELD, index)
        try:
            signer = bundle_signer(entry, field=field)
        except AistackError as err:
            problems.append(str(err))
            continue
        for seen, value, what in ((names, signer["name"], "name"), (prints, signer["fingerprint"], "key")):
            if value in seen:
                problems.append("%s: the same %s as %s[%d] (%s). Fix: keep one entry per signer."
                                % (field, what, FIELD, seen[value], value))
            seen.setdefault(value, index)
    return problems


def allowed_signers(signers, namespace):
    """The allowed-signers file ssh-keygen -Y verify reads: one line per trusted signer, limited to the
    bundle namespace."""
    if not re.match(r"^[A-Za-z0-9_.@-]+$", str(namespace or "")):
        raise AistackError("%r is not a signature namespace." % (namespace,), field="airgap_signature_namespace",
                           fix="use a plain word such as aistack-bundle (the same at export and import).")
    lines = []
    for index, entry in enumerate(signers or []):
        signer = bundle_signer(entry, field="%s[%d]" % (FIELD, index))
        lines.append('%s namespaces="%s" %s\n' % (signer["name"], namespace, signer["line"]))
    return "".join(lines)


def signature_info(armored):
    """An armored SSH signature (SHA256SUMS.sig) -> {fingerprint, type, namespace, hash_algorithm}.

    Only read, not verified: ssh-keygen -Y verify does that. Raises AistackError when it is no SSH signature."""
    text = str(armored or "").strip()
    fix = "export the bundle again on the connected host (it signs SHA256SUMS with airgap_signing_key)."
    if not (text.startswith(SIG_BEGIN) and text.endswith(SIG_END)):
        raise AistackError("SHA256SUMS.sig is not an SSH signature (no %s armor)." % SIG_BEGIN, fix=fix)
    body = "".join(text[len(SIG_BEGIN):-len(SIG_END)].split())
    try:
        blob = base64.b64decode(body.encode("ascii"), validate=True)
        if not blob.startswith(SIG_MAGIC):
            raise ValueError("no SSHSIG magic")
        offset = len(SIG_MAGIC) + 4
        if offset > len(blob):
            raise ValueError("truncated version")
        (version,) = struct.unpack(">I", blob[len(SIG_MAGIC):offset])
        if version != 1:
            raise ValueError("unknown version %d" % version)
        public, offset = _read_string(blob, offset, "public key")
        namespace, offset = _read_string(blob, offset, "namespace")
        _reserved, offset = _read_string(blob, offset, "reserved")
        hash_alg, offset = _read_string(blob, offset, "hash algorithm")
        key_type, _unused = _read_string(public, 0, "key type")
    except (binascii.Error, ValueError, UnicodeError) as err:
        raise AistackError("SHA256SUMS.sig is not a readable SSH signature (%s)." % err, fix=fix)
    return dict(fingerprint=fingerprint(public), type=key_type.decode("ascii", "replace"),
                namespace=namespace.decode("utf-8", "replace"), hash_algorithm=hash_alg.decode("ascii", "replace"))


def signature_fingerprint(armored):
    """The fingerprint of the key that made an armored SSH signature."""
    return signature_info(armored)["fingerprint"]


def signature_signer(armored, signers, namespace):
    """The trusted signer ({name, fingerprint, ...}) that made ``armored``; refuses, with the fix, a signature
    by a key the site does not trust or made for another namespace."""
    info = signature_info(armored)
    for index, entry in enumerate(signers or []):
        signer = bundle_signer(entry, field="%s[%d]" % (FIELD, index))
        if signer["fingerprint"] == info["fingerprint"]:
            break
    else:
        raise AistackError(
            "the bundle is signed by %s key %s, which this site does not trust." % (info["type"], info["fingerprint"]),
            field=FIELD,
            fix="if that is your exporting host's key (ssh-keygen -lf <airgap_signing_key>.pub prints its "
                "fingerprint), add its public key line to airgap_trusted_signers; otherwise do not import this "
                "bundle.")
    if info["namespace"] != namespace:
        raise AistackError("the bundle is signed for namespace %r, this site expects %r."
                           % (info["namespace"], namespace), field="airgap_signature_namespace",
                           fix="use the same airgap_signature_namespace at export and import.")
    return signer


def sums_files(text):
    """The file paths a sha256sum file lists, in order; refuses malformed lines and paths leaving the bundle."""
    files = []
    for number, raw in enumerate(str(text or "").splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        digest, sep, path = line.partition("  ")
        if not sep:
            digest, sep, path = line.partition(" *")
        if not sep or not SHA256_RE.match(digest) or not path:
            raise AistackError("SHA256SUMS line %d is not '<sha256>  <path>': %r." % (number, line[:120]),
                               fix="export the bundle again; do not edit SHA256SUMS by hand.")
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or "\\" in path:
            raise AistackError("SHA256SUMS line %d names %r, outside the bundle." % (number, path),
                               fix="do not import this bundle; export it again on the connected host.")
        files.append(path)
    return files


def sums_problems(text, manifest):
    """What the bundle's SHA256SUMS fails to cover: manifest.json and every file the manifest lists must be
    there (sha256sum --check only checks the files a sums file names)."""
    listed = set(sums_files(text))
    problems = []
    if "manifest.json" not in listed:
        problems.append("SHA256SUMS does not list manifest.json, so the signature does not cover the manifest.")
    for kind in ("images", "charts", "k3s", "lock"):
        entries = (manifest or {}).get(kind) or []
        for entry in ([entries] if entries else []) if isinstance(entries, dict) else entries:
            # a split file travels as its parts (the manifest, itself listed, holds the whole file's sha256)
            for name in [part.get("file") for part in entry.get("parts") or []] or [entry.get("file")]:
                if name not in listed:
                    problems.append("SHA256SUMS does not list %s (%s of the manifest)." % (name, kind))
    return problems


# --- import receipts (the logic is in images/receipt.py, shared with image_import) ------------------------------

RECEIPT_FORMAT = receipts.FORMAT
RECEIPT_FIX = receipts.FIX


def receipt_pending(receipt, store, entries):
    """The bundle entries ({file, sha256, ...} of manifest.json) the receipt does not record as imported into
    ``store`` (e.g. registry/localhost:30500/aistack): an archive is known by its sha256, whatever its file name."""
    return receipts.pending(receipt, store, entries)


def receipt_update(receipt, store, entries, results):
    """The receipt (v2) with ``entries`` recorded in ``store``: per archive sha256 its bundle file and images, per
    image reference its manifest digest, blobs and child manifests (from the image_import ``results``)."""
    return receipts.update(receipt, store, entries, results)


def receipt_base_blobs(receipt, stores=None):
    """The digests a delta bundle leaves out: those every chosen store of the site's receipt holds, sorted."""
    return sorted(receipts.base_blobs(receipt, stores))


def receipt_drift(receipt, store, held, scope="all"):
    """The receipt of ``store`` against ``held`` ({reference: digest} the store really holds)."""
    return receipts.drift(receipt, store, held, scope)
