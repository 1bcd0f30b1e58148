# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``image_import`` does, target by target: plan (read-only), then write blobs, then manifests.

Order of writes, for both targets: every missing blob of every image first (verified against its
digest while it streams), manifests and tags last. Any bad input (structure errors are found by
the index pass, before anything is written; checksum errors while streaming) therefore leaves no new
tag or image record behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common import reference
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia
from ansible_collections.aistack.platform.plugins.module_utils.images.blobstream import (
    BlobStream, digest_error, hexdigest_of, new_hash, truncated_error)

WORKLOAD_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"))
RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


class VerifyingReader(object):
    """Reads a blob of known size and digest; raises before handing out the last block if it is wrong.

    The consumer (an HTTP upload or ctr's stdin) therefore never receives a complete wrong blob.
    The import paths use ``blobstream.BlobStream`` (the same check, with read-ahead); this one reads
    exactly what it is asked for, in the caller's thread.
    """

    def __init__(self, reader, blob, path):
        self.reader = reader
        self.blob = blob
        self.path = path
        self.hash = new_hash(blob.digest)
        self.count = 0

    def read(self, size=-1):
        left = self.blob.size - self.count
        if left <= 0:
            return b""
        if size is None or size < 0 or size > left:
            size = left
        data = self.reader.read(size)
        if not data:
            raise truncated_error(self.path, self.blob.digest, self.count, self.blob.size)
        self.hash.update(data)
        self.count += len(data)
        if self.count == self.blob.size:
            error = digest_error(self.path, self.blob.member, self.blob.digest, hexdigest_of(self.hash))
            if error is not None:
                raise error
        return data


def blob_stream(reader, blob, path):
    """The verified read-ahead reader the import paths send a streamed blob through (a context manager)."""
    return BlobStream(reader, blob.size, blob.digest, path, member=blob.member)


def verify_memory_blob(path, blob):
    alg, hexpart = ia.parse_digest(blob.digest)
    if hashlib.new(alg, blob.data).hexdigest() != hexpart:
        raise AistackError("archive '%s': member '%s' does not match its digest %s (corrupt archive)"
                           % (path, blob.member, blob.digest), field="src", fix="copy or save the archive again")


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

def load_checksums(path):
    if not path:
        return None, None
    try:
        with open(path, "r") as handle:
            return ia.parse_checksums(handle.read()), os.path.dirname(os.path.abspath(path))
    except (IOError, OSError) as exc:
        raise AistackError("cannot read '%s': %s" % (path, exc), field="checksums",
                           fix="point checksums at the bundle's SHA256SUMS file")


def load_sources(src, checksums=None, platform=None, default_name=None, omitted=None):
    """Index and parse every archive of ``src``: [(ArchiveIndex, [ImageSpec])]. Reads, never writes.

    ``omitted``: layer digests the archives may lack (a delta bundle; see images/receipt.py)."""
    sums, base = load_checksums(checksums)
    files = ia.find_archives(src)
    loaded = []
    for path in files:
        expected = None
        if sums is not None:
            rel = os.path.normpath(os.path.relpath(os.path.abspath(path), base))
            expected = sums.get(rel) or sums.get(os.path.basename(path))
            if expected is None:
                raise AistackError("archive '%s' is not listed in %s" % (path, checksums), field="checksums",
                                   fix="re-create the bundle's checksums, or remove the stray file")
        index = ia.index_archive(path, hash_raw=expected is not None)
        if expected is not None and index.raw_digest != "sha256:" + expected:
            raise AistackError("archive '%s': wrong checksum: the file has %s, %s expects sha256:%s"
                               % (path, index.raw_digest, checksums, expected), field="checksums",
                               fix="copy the file again from the bundle's source")
        images = ia.parse_index(index, platform=platform, default_name=default_name,
                                hash_member=lambda name, index=index: ia.hash_plain_member(index, name),
                                omitted=omitted)
        loaded.append((index, images))
    return loaded


def assign_targets(loaded, to_ref):
    """[(index, image, target_ref)], refusing two different images for one target name."""
    seen = {}
    out = []
    for index, images in loaded:
        for image in images:
            try:
                target = to_ref(image.ref)
                reference.parse(target, field="src")
            except (ValueError, AistackError) as exc:
                raise AistackError("archive '%s': image name '%s' is invalid: %s" % (index.path, image.ref, exc),
                                   field="src", fix="re-tag the image before saving it")
            if target in seen and seen[target][1] != image.digest:
                raise AistackError("'%s' is in '%s' and in '%s' with different content" %
                                   (target, seen[target][0], index.path), field="src",
                                   fix="import one of them only")
            if target in seen:
                continue
            seen[target] = (index.path, image.digest)
            out.append((index, image, target))
    return out


def image_result(index, image, target, action, uploaded=0, present=0, previous=None):
    return dict(file=index.path, source=image.ref, reference=target, digest=image.digest, size=image.size,
                action=action, blobs_written=uploaded, blobs_present=present, previous_digest=previous)


def import_images(target, loaded, check_mode=False):
    """Import ``loaded`` archives into a target (``RegistryTarget``, ``ContainerdTarget``, ``ImagesDirTarget``):
    plan what each image needs, report it, and write only outside check mode and only when something changes.
    Returns ``(changed, results)``."""
    # every target name is checked before the target is touched (prepare() opens the connection)
    assigned = assign_targets(loaded, target.name_for)
    target.prepare()
    plans = target.plan(assigned)
    results = [image_result(p["index"], p["image"], p["target"], "skipped" if p["skip"] else "imported",
                            p["upload"], p["present"], p.get("previous")) for p in plans]
    changed = any(not p["skip"] for p in plans)
    if check_mode or not changed:
        return changed, results
    target.write(plans)
    return changed, results


# ---------------------------------------------------------------------------------------------
# Registry target
# ---------------------------------------------------------------------------------------------

class RegistryTarget(object):
    """A registry over the distribution API (``registry.RegistryClient``)."""

    def __init__(self, client, registry, project=None, flatten=False):
        self.client, self.registry, self.project, self.flatten = client, registry, project, flatten
        self.needed = {}  # blob digest -> (index, blob, [repos])

    def prepare(self):
        self.client.ping()

    def name_for(self, ref):
        return ia.target_reference(ref, self.registry, self.project, self.flatten)

    def plan(self, entries):
        from ansible_collections.aistack.platform.plugins.module_utils.images.registry import split_repo_ref

        client, plans, known = self.client, [], set()  # known: (repo, digest) present or about to be
        for index, image, target in entries:
            repo, tag = split_repo_ref(target)
            previous = client.manifest_digest(repo, tag)
            if previous == image.digest:
                plans.append(dict(index=index, image=image, target=target, repo=repo, tag=tag, skip=True,
                                  previous=previous, upload=0, present=len(image.blobs)))
                continue
            upload = present = 0
            for blob in image.blobs:
                key = (repo, blob.digest)
                if key in known:
                    present += 1
                    continue
                known.add(key)
                if client.blob_exists(repo, blob.digest):
                    present += 1
                    continue
                upload += 1
                self.needed.setdefault(blob.digest, (index, blob, []))[2].append(repo)
            children = [c for c in image.children if client.manifest_digest(repo, c[0]) != c[0]]
            plans.append(dict(index=index, image=image, target=target, repo=repo, tag=tag, skip=False,
                              upload=upload, present=present, children=children, previous=previous))
        return plans

    def write(self, plans):
        client = self.client
        # 1. blobs: from memory, then each archive streamed once for its missing members
        by_archive = {}
        for index, blob, repos in self.needed.values():
            if blob.data is not None:
                verify_memory_blob(index.path, blob)
                _push_everywhere(client, repos, blob, lambda blob=blob: _BytesReader(blob.data))
            else:
                by_archive.setdefault(index.path, (index, {}))[1].setdefault(blob.member, (blob, repos))
        for index, members in by_archive.values():
            def consume(name, reader, index=index, members=members):
                blob, repos = members[name]
                with blob_stream(reader, blob, index.path) as stream:
                    client.push_blob(repos[0], blob.digest, blob.size, stream)
                for repo in repos[1:]:
                    if not client.mount_blob(repo, blob.digest, repos[0]):
                        raise AistackError("registry %s refused to mount blob %s from %s into %s"
                                           % (client.registry, blob.digest, repos[0], repo), field="registry",
                                           fix="enable cross-repository mounts, or import one image per run")
            ia.stream_members(index, members.keys(), consume)
        # 2. manifests, tags last
        for plan in plans:
            if plan["skip"]:
                continue
            for digest, media_type, data in plan["children"]:
                client.put_manifest(plan["repo"], digest, media_type, data)
            got = client.put_manifest(plan["repo"], plan["tag"], plan["image"].media_type, plan["image"].manifest)
            if got and got != plan["image"].digest:
                raise AistackError("registry %s stored %s as %s, expected %s"
                                   % (client.registry, plan["target"], got, plan["image"].digest),
                                   field="registry")


class _BytesReader(object):
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data) - self.pos
        out = self.data[self.pos:self.pos + size]
        self.pos += len(out)
        return out


def _push_everywhere(client, repos, blob, reader_factory):
    client.push_blob(repos[0], blob.digest, blob.size, reader_factory())
    for repo in repos[1:]:
        if not client.mount_blob(repo, blob.digest, repos[0]):
            client.push_blob(repo, blob.digest, blob.size, reader_factory())


# ---------------------------------------------------------------------------------------------
# containerd target
# ---------------------------------------------------------------------------------------------

def containerd_name(ref, registry=None, project=None, flatten=False):
    if registry:
        return ia.target_reference(ref, registry, project, flatten)
    return ia.normalize_reference(ref)


class ContainerdTarget(object):
    """containerd's image store (k3s), through ``ctr`` (``containerd.CtrClient``)."""

    def __init__(self, ctr, registry=None, project=None, flatten=False, unpack=True):
        self.ctr, self.registry, self.project, self.flatten, self.unpack = ctr, registry, project, flatten, unpack
        self.needed = {}  # blob digest -> (index, blob)

    def prepare(self):
        self.ctr.check()

    def name_for(self, ref):
        return containerd_name(ref, self.registry, self.project, self.flatten)

    def plan(self, entries):
        existing, content, plans = self.ctr.images(), self.ctr.content(), []
        for index, image, target in entries:
            if existing.get(target) == image.digest:
                plans.append(dict(index=index, image=image, target=target, skip=True, upload=0,
                                  previous=image.digest, present=len(image.blobs)))
                continue
            upload = present = 0
            for blob in image.blobs:
                if blob.digest in content or blob.digest in self.needed:
                    present += 1
                    continue
                upload += 1
                self.needed[blob.digest] = (index, blob)
            plans.append(dict(index=index, image=image, target=target, skip=False, upload=upload, present=present,
                              previous=existing.get(target)))
        return plans

    def write(self, plans):
        stream = self.ctr.importer(unpack=self.unpack)
        try:
            by_archive = {}
            for digest, (index, blob) in self.needed.items():
                if blob.data is not None:
                    verify_memory_blob(index.path, blob)
                    stream.add_bytes(ia.blob_path(digest), blob.data)
                else:
                    by_archive.setdefault(index.path, (index, {}))[1].setdefault(blob.member, blob)
            for index, members in by_archive.values():
                def consume(name, reader, index=index, members=members):
                    blob = members[name]
                    with blob_stream(reader, blob, index.path) as verified:
                        stream.add_stream(ia.blob_path(blob.digest), blob.size, verified)
                ia.stream_members(index, members.keys(), consume)
            entries_out = []
            written = set()
            for plan in plans:
                if plan["skip"]:
                    continue
                image = plan["image"]
                for blob in image.blobs:
                    # configs are small: always send them, ctr reads them to build the image record
                    if blob.data is not None and blob.digest not in self.needed and blob.digest not in written:
                        verify_memory_blob(plan["index"].path, blob)
                        stream.add_bytes(ia.blob_path(blob.digest), blob.data)
                        written.add(blob.digest)
                for digest, _media_type, data in image.children:
                    if digest not in written:
                        stream.add_bytes(ia.blob_path(digest), data)
                        written.add(digest)
                if image.digest not in written:
                    stream.add_bytes(ia.blob_path(image.digest), image.manifest)
                    written.add(image.digest)
                _domain, _path, tag, _dig = ia.split_reference(plan["target"])
                entries_out.append({
                    "mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                    "annotations": {ia.ANNOTATION_IMAGE_NAME: plan["target"], ia.ANNOTATION_REF_NAME: tag or ""},
                })
            stream.add_bytes("oci-layout", ia.canonical_json({"imageLayoutVersion": "1.0.0"}))
            stream.add_bytes("index.json", ia.canonical_json({"schemaVersion": 2, "mediaType": ia.MT_OCI_INDEX,
                                                              "manifests": entries_out}))
        except BaseException:
            stream.abort()
            raise
        stream.finish()
        after = self.ctr.images()
        for plan in plans:
            if not plan["skip"] and after.get(plan["target"]) != plan["image"].digest:
                raise AistackError("ctr import ran but containerd has %s as %s, expected %s"
                                   % (plan["target"], after.get(plan["target"]), plan["image"].digest),
                                   field="containerd_socket")


# ---------------------------------------------------------------------------------------------
# k3s images directory (agent/images): archives k3s imports when it starts
# ---------------------------------------------------------------------------------------------

def images_dir_file(target, digest):
    """File name for one image in k3s's agent/images directory: the name, then the digest (idempotency key)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", target)
    return "%s_%s.tar" % (safe, digest.split(":", 1)[1][:16])


class _TarFileWriter(object):
    """Writes an OCI layout tar to ``path`` member by member (headers from containerd.tar_header)."""

    def __init__(self, path):
        self.path = path
        self.handle = open(path, "wb")

    def add_bytes(self, name, data):
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import tar_header, tar_padding
        self.handle.write(tar_header(name, len(data)))
        self.handle.write(data)
        self.handle.write(tar_padding(len(data)))

    def begin(self, name, size):
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import tar_header
        self.handle.write(tar_header(name, size))

    def end(self, size):
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import tar_padding
        self.handle.write(tar_padding(size))

    def close(self):
        self.handle.write(b"\x00" * 1024)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()


class ImagesDirTarget(object):
    """One OCI archive per image in a directory (k3s: /var/lib/rancher/k3s/agent/images, imported at start).

    Skipped when the file for this name and digest exists; a file for the same name with another digest is
    replaced. Files are written as ``*.partial`` (which k3s ignores) and renamed when complete.
    """

    def __init__(self, directory, registry=None, project=None, flatten=False):
        self.directory, self.registry, self.project, self.flatten = directory, registry, project, flatten

    def prepare(self):
        pass

    def name_for(self, ref):
        return containerd_name(ref, self.registry, self.project, self.flatten)

    def plan(self, entries):
        directory = self.directory
        existing = set(os.listdir(directory)) if os.path.isdir(directory) else set()
        plans = []
        for index, image, target in entries:
            name = images_dir_file(target, image.digest)
            prefix = name[:-(len(image.digest.split(":", 1)[1][:16]) + 5)]
            stale = sorted(f for f in existing if f.startswith(prefix) and f.endswith(".tar") and f != name
                           and re.match(r"^_[a-f0-9]{16}\.tar$", f[len(prefix):]))
            skip = name in existing
            plans.append(dict(index=index, image=image, target=target, skip=skip, path=os.path.join(directory, name),
                              previous=image.digest if skip else None, stale=stale,
                              upload=0 if skip else len(image.blobs), present=len(image.blobs) if skip else 0))
        return plans

    def write(self, plans):
        if not os.path.isdir(self.directory):
            try:
                os.makedirs(self.directory)
            except OSError as exc:
                raise AistackError("cannot create '%s': %s" % (self.directory, exc), field="containerd_images_dir")
        todo = [p for p in plans if not p["skip"]]
        for plan in todo:
            plan["writer"] = _TarFileWriter(plan["path"] + ".partial")
        try:
            by_archive = {}
            for plan in todo:
                for blob in plan["image"].blobs:
                    if blob.data is not None:
                        verify_memory_blob(plan["index"].path, blob)
                        plan["writer"].add_bytes(ia.blob_path(blob.digest), blob.data)
                    else:
                        members = by_archive.setdefault(plan["index"].path, (plan["index"], {}))[1]
                        members.setdefault(blob.member, (blob, []))[1].append(plan["writer"])
            for index, members in by_archive.values():
                def consume(name, reader, index=index, members=members):
                    blob, writers = members[name]
                    for writer in writers:
                        writer.begin(ia.blob_path(blob.digest), blob.size)
                    with blob_stream(reader, blob, index.path) as verifier:
                        while True:
                            block = verifier.read(ia.CHUNK)
                            if not block:
                                break
                            for writer in writers:
                                writer.handle.write(block)
                    for writer in writers:
                        writer.end(blob.size)
                ia.stream_members(index, members.keys(), consume)
            for plan in todo:
                image = plan["image"]
                writer = plan["writer"]
                for digest, _media_type, data in image.children:
                    writer.add_bytes(ia.blob_path(digest), data)
                writer.add_bytes(ia.blob_path(image.digest), image.manifest)
                _domain, _path, tag, _dig = ia.split_reference(plan["target"])
                writer.add_bytes("oci-layout", ia.canonical_json({"imageLayoutVersion": "1.0.0"}))
                writer.add_bytes("index.json", ia.canonical_json({
                    "schemaVersion": 2, "mediaType": ia.MT_OCI_INDEX,
                    "manifests": [{"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                                   "annotations": {ia.ANNOTATION_IMAGE_NAME: plan["target"],
                                                   ia.ANNOTATION_REF_NAME: tag or ""}}]}))
                writer.close()
        except BaseException:
            for plan in todo:
                try:
                    plan["writer"].handle.close()
                    os.unlink(plan["writer"].path)
                except OSError:
                    pass
            raise
        for plan in todo:
            os.rename(plan["writer"].path, plan["path"])
            for old in plan["stale"]:
                try:
                    os.unlink(os.path.join(self.directory, old))
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------------
# Rollout restart
# ---------------------------------------------------------------------------------------------

def _same_image(a, b):
    try:
        return ia.normalize_reference(a) == ia.normalize_reference(b)
    except ValueError:
        return a == b


def workloads_using(objects, refs):
    """(kind, namespace, name) of workloads whose pod template runs one of ``refs``."""
    hits = []
    for obj in objects:
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        images = [c.get("image") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
        if any(img and _same_image(img, ref) for img in images for ref in refs):
            meta = obj.get("metadata") or {}
            hits.append((obj.get("kind"), meta.get("namespace"), meta.get("name")))
    return hits


def restart_patch(now=None):
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}}}}


def restart_workloads(kube, refs, namespaces=None, check_mode=False):
    if not refs:
        return []
    objects = []
    for api_version, kind in WORKLOAD_KINDS:
        for ns in namespaces or [None]:
            for obj in kube.list(api_version, kind, namespace=ns):
                obj.setdefault("kind", kind)
                objects.append(obj)
    hits = workloads_using(objects, refs)
    patch = restart_patch()
    out = []
    for kind, ns, name in hits:
        if not check_mode:
            kube.patch("apps/v1", kind, name, ns, patch)
        out.append(dict(kind=kind, namespace=ns, name=name))
    return out
