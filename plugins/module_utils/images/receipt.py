# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import receipts: which manifests and blobs each store of a site holds, and what follows from that.

A receipt (``aistack-receipt/v2``) is written by the airgap role after every imported archive and kept in a
ConfigMap and/or a file::

    {"format": "aistack-receipt/v2",
     "stores": {"registry/localhost:30500/aistack": {
        "files": {"<archive sha256>": {"file": "images/x.tar", "images": [{"reference": ..., "digest": ...}]}},
        "images": {"localhost:30500/aistack/team/app:1.0": {
            "digest": "sha256:<manifest>", "source": "team/app:1.0",
            "blobs": ["sha256:<config>", "sha256:<layer>", ...], "manifests": ["sha256:<child manifest>"]}}}}}

``files`` lets the import skip a whole archive by its sha256 (the v1 receipt had only that: it is still read,
its images then have no blobs); ``images`` says which digests a store holds: ``image_import`` skips an image whose
name the receipt records with the same manifest digest, finds in it a registry repository to mount a blob from,
and the export builds a delta bundle from its blobs. Pure functions, plus ``ReceiptTarget``, which wraps an
``importer`` target (``RegistryTarget``, ``ContainerdTarget``, ``ImagesDirTarget``) without changing it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

FORMAT = "aistack-receipt/v2"
FORMATS = ("aistack-receipt/v1", FORMAT)
FIX = ("delete the receipt (ConfigMap airgap_receipt_configmap, or airgap_receipt_file); the next import then "
       "imports everything again and writes a new one.")
STALE_FIX = ("the receipt the delta bundle was made from is stale (the site lost what it recorded): export a full "
             "bundle (without airgap_base_receipt), or one made from the site's current receipt.")


def load(receipt, field="airgap_receipt"):
    """A receipt as read (a dict, its JSON text, or nothing yet) -> a v2 dict; v1 receipts are converted (their
    images have no blobs); anything else raises, naming ``field`` and the fix."""
    if receipt in (None, "", {}):
        return {"format": FORMAT, "stores": {}}
    if isinstance(receipt, (bytes, bytearray)):
        receipt = receipt.decode("utf-8", "replace")
    if isinstance(receipt, str):
        try:
            receipt = json.loads(receipt)
        except ValueError as err:
            raise AistackError("the import receipt is not JSON (%s)." % err, field=field, fix=FIX)
    if not isinstance(receipt, dict) or receipt.get("format") not in FORMATS \
            or not isinstance(receipt.get("stores"), dict):
        raise AistackError("the import receipt is not an %s document." % " or ".join(FORMATS), field=field, fix=FIX)
    stores = {}
    for name, store in receipt["stores"].items():
        if not isinstance(store, dict):
            raise AistackError("store %r of the import receipt is not an object." % name, field=field, fix=FIX)
        files = dict(store.get("files") or {})
        images = {}
        for ref, image in (store.get("images") or {}).items():
            images[ref] = {"digest": image.get("digest"), "source": image.get("source"),
                           "blobs": list(image.get("blobs") or []), "manifests": list(image.get("manifests") or [])}
        # v1: the images of the archives it records, without blobs
        for record in files.values():
            for image in (record or {}).get("images") or []:
                if image.get("reference") and image.get("reference") not in images:
                    images[image["reference"]] = {"digest": image.get("digest"), "source": None, "blobs": [],
                                                  "manifests": []}
        stores[name] = {"files": files, "images": images}
    return {"format": FORMAT, "stores": stores}


def store_images(receipt, store):
    """{reference: {digest, source, blobs, manifests}} the receipt records in ``store``."""
    return (load(receipt)["stores"].get(store) or {}).get("images") or {}


def store_blobs(receipt, store):
    """Every blob digest (configs, layers) and child manifest digest the receipt records in ``store``."""
    held = set()
    for image in store_images(receipt, store).values():
        held.update(image.get("blobs") or [])
        held.update(image.get("manifests") or [])
    return held


def base_blobs(receipt, stores=None):
    """The digests a delta bundle may leave out: those every chosen store holds (all stores of the receipt when
    ``stores`` is empty), so that the import finds them whichever of them it writes to."""
    doc = load(receipt, field="airgap_base_receipt")
    names = list(stores or sorted(doc["stores"]))
    unknown = [name for name in names if name not in doc["stores"]]
    if unknown:
        have = ", ".join(sorted(doc["stores"])) or "none"
        raise AistackError("the receipt has no store %s (it has %s)." % (", ".join(unknown), have),
                           field="airgap_base_store", fix="name a store of the receipt, or leave it empty for all.")
    held = None
    for name in names:
        blobs = store_blobs(doc, name)
        held = blobs if held is None else held & blobs
    return held or set()


def pending(receipt, store, entries):
    """The bundle entries ({file, sha256, ...} of manifest.json) whose archive the receipt does not record as
    imported into ``store`` (known by its sha256, whatever its file name)."""
    files = (load(receipt)["stores"].get(store) or {}).get("files") or {}
    return [entry for entry in entries or [] if entry.get("sha256") not in files]


def _matches(image, entry):
    name = str(image.get("file") or "")
    wanted = entry["file"]
    return name == wanted or name.endswith("/" + wanted)


def update(receipt, store, entries, results):
    """The receipt with ``entries`` recorded in ``store``: per archive sha256 its file and images; per image
    reference its manifest digest, source name, blobs and child manifests. ``results`` are image_import results
    (their ``images`` lists); an entry without any image result is not recorded."""
    doc = load(receipt)
    stores = dict(doc["stores"])
    record = stores.get(store) or {"files": {}, "images": {}}
    files, images = dict(record["files"]), dict(record["images"])
    written = [image for result in results or [] for image in (result or {}).get("images") or []]
    for entry in entries or []:
        mine = [image for image in written if _matches(image, entry)]
        if not mine:
            continue
        files[entry["sha256"]] = {"file": entry["file"], "images": sorted(
            ({"reference": image.get("reference"), "digest": image.get("digest")} for image in mine),
            key=lambda image: (image["reference"] or "", image["digest"] or ""))}
        for image in mine:
            images[image["reference"]] = {"digest": image.get("digest"), "source": entry.get("ref") or image.get("source"),
                                          "blobs": sorted(set(image.get("blobs") or [])),
                                          "manifests": sorted(set(image.get("manifests") or []))}
    stores[store] = {"files": files, "images": images}
    return {"format": FORMAT, "stores": stores}


def repository(reference):
    """``localhost:30500/aistack/team/app:1.0`` -> ``aistack/team/app`` (the registry host and tag dropped)."""
    rest = reference.split("/", 1)[1] if "/" in reference else reference
    rest = rest.split("@", 1)[0]
    head, sep, tail = rest.rpartition(":")
    return head if sep and "/" not in tail else rest


def repositories_holding(receipt, store, digest):
    """The registry repositories of ``store`` whose recorded images include blob ``digest``, sorted."""
    return sorted(set(repository(ref) for ref, image in store_images(receipt, store).items()
                      if digest in (image.get("blobs") or [])))


def drift(receipt, store, held, scope="all"):
    """Compare what the receipt records in ``store`` with ``held`` ({reference: digest} the store really has):
    {missing: [{reference, digest}], changed: [{reference, digest, held}], unexpected: [{reference, digest}],
    ok: int}. Missing: recorded, not there; changed: there with another digest; unexpected: there, not recorded.
    ``scope`` V(repositories) counts as unexpected only names of the repositories the receipt records (a node's
    containerd holds many images no bundle brought: the kubelet's pause image, pulled ones)."""
    recorded = store_images(receipt, store)
    held = dict(held or {})
    if scope == "repositories":
        mine = set(repository(ref) for ref in recorded)
        held = dict((ref, digest) for ref, digest in held.items() if ref in recorded or repository(ref) in mine)
    missing, changed, unexpected, same = [], [], [], 0
    for ref in sorted(recorded):
        digest = recorded[ref].get("digest")
        if ref not in held:
            missing.append({"reference": ref, "digest": digest})
        elif held[ref] != digest:
            changed.append({"reference": ref, "digest": digest, "held": held[ref]})
        else:
            same += 1
    for ref in sorted(set(held) - set(recorded)):
        unexpected.append({"reference": ref, "digest": held[ref]})
    return {"store": store, "missing": missing, "changed": changed, "unexpected": unexpected, "ok": same,
            "drift": bool(missing or changed or unexpected)}


# ---------------------------------------------------------------------------------------------
# image_import with a receipt and a delta bundle's omitted layers
# ---------------------------------------------------------------------------------------------

def _is_omitted(blob):
    return blob.member is None and blob.data is None


class ReceiptTarget(object):
    """Wraps an importer target: images the receipt records under their target name with the same manifest
    digest are skipped without asking the target; layers a delta bundle left out (``omitted``) must be at the
    target, or (registry) in a repository the receipt names, mounted from there before anything is written.
    Otherwise the plan fails naming the digest, before any write."""

    def __init__(self, inner, receipt=None, store=None, omitted=()):
        self.inner = inner
        self.receipt = load(receipt, field="receipt")
        self.store = store
        self.images = store_images(self.receipt, store) if store else {}
        self.omitted = set(omitted or ())
        self.mounts = []  # (repo, digest, from_repo)
        self.last_plans = []

    def prepare(self):
        self.inner.prepare()

    def name_for(self, ref):
        return self.inner.name_for(ref)

    def plan(self, entries):
        rest = [(index, image, target) for index, image, target in entries
                if (self.images.get(target) or {}).get("digest") != image.digest]
        plans = self.inner.plan(rest) if rest else []
        self._resolve_omitted(plans)
        by_target = dict((plan["target"], plan) for plan in plans)
        out = []
        for index, image, target in entries:
            if target in by_target:
                out.append(by_target[target])
            else:
                out.append(dict(index=index, image=image, target=target, skip=True, upload=0,
                                present=len(image.blobs), previous=image.digest, receipt=True))
        self.last_plans = out
        return out

    def _missing(self, digest, plan):
        return AistackError(
            "blob %s of %s is not in archive '%s' (a delta bundle leaves out the layers the site's receipt records) "
            "and the target does not hold it." % (digest, plan["target"], plan["index"].path), field="omitted_blobs",
            fix=STALE_FIX)

    def _resolve_omitted(self, plans):
        from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp

        active = [plan for plan in plans if not plan["skip"]]
        if isinstance(self.inner, imp.ImagesDirTarget):
            for plan in active:
                for blob in plan["image"].blobs:
                    if _is_omitted(blob):
                        raise AistackError("archive '%s' is part of a delta bundle (it lacks layer %s): it cannot "
                                           "seed containerd_images_dir, which needs whole images."
                                           % (plan["index"].path, blob.digest), field="containerd_images_dir",
                                           fix="import a full bundle (exported without airgap_base_receipt).")
            return
        needed = getattr(self.inner, "needed", {})
        resolved = set()
        for plan in active:
            for blob in plan["image"].blobs:
                if not _is_omitted(blob) or blob.digest not in needed:
                    continue
                if isinstance(self.inner, imp.RegistryTarget):
                    repos = needed[blob.digest][2]
                    sources = [repo for repo in repositories_holding(self.receipt, self.store, blob.digest)
                               if repo not in repos]
                    found = None
                    for source in sources:
                        if self.inner.client.blob_exists(source, blob.digest):
                            found = source
                            break
                    if found is None:
                        raise self._missing(blob.digest, plan)
                    self.mounts.extend((repo, blob.digest, found) for repo in repos)
                else:
                    raise self._missing(blob.digest, plan)
                del needed[blob.digest]
                resolved.add(blob.digest)
        for plan in active:
            count = len([blob for blob in plan["image"].blobs if blob.digest in resolved])
            moved = min(count, plan.get("upload", 0))
            plan["upload"] = plan.get("upload", 0) - moved
            plan["present"] = plan.get("present", 0) + moved

    def write(self, plans):
        for repo, digest, source in self.mounts:
            if not self.inner.client.mount_blob(repo, digest, source):
                raise AistackError("registry %s refused to mount blob %s from %s into %s, and the delta bundle does "
                                   "not carry it." % (self.inner.client.registry, digest, source, repo),
                                   field="registry", fix="enable cross-repository mounts, or " + STALE_FIX)
        self.inner.write(plans)


def describe(loaded, name_for):
    """{target reference: {blobs, manifests}} of the loaded archives' images (what a receipt records)."""
    out = {}
    for _index, images in loaded:
        for image in images:
            try:
                target = name_for(image.ref)
            except (ValueError, AistackError):
                continue
            out.setdefault(target, {"blobs": sorted(set(blob.digest for blob in image.blobs)),
                                    "manifests": sorted(set(child[0] for child in image.children))})
    return out
