# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Airgap bundle files: delta archives (an image archive without the layers a site holds), parts of a given size,
and joining parts back, each checked against its sha256.

- ``write_delta``: any archive ``image_import`` reads (docker-archive or OCI layout, plain or compressed) ->
  an OCI layout tar with every manifest and config and only the layers not in ``omit``. The same input and
  ``omit`` give the same bytes; the archive's last member ``aistack-delta.json`` records what it is made of,
  so a second export with the same input writes nothing.
- ``split_file`` / ``join_parts``: fixed-size parts ``<file>.partNNN``; unchanged parts are not written again;
  a join checks every part first and names each one that fails its sum (copy only those again).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import json
import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia

DELTA_MEMBER = "aistack-delta.json"
DELTA_FORMAT = "aistack-delta/v1"
BLOCK = 1 << 20
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B?|B)?\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1 << 10, "KI": 1 << 10, "M": 1000 ** 2, "MB": 1000 ** 2,
          "MIB": 1 << 20, "MI": 1 << 20, "G": 1000 ** 3, "GB": 1000 ** 3, "GIB": 1 << 30, "GI": 1 << 30,
          "T": 1000 ** 4, "TB": 1000 ** 4, "TIB": 1 << 40, "TI": 1 << 40}


def parse_size(value, field="airgap_export_split_size"):
    """``2GiB`` -> 2147483648, ``500MB`` -> 500000000, ``1048576`` -> 1048576; at least 1 MiB."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _SIZE.match(str(value or ""))
        if not match:
            raise AistackError("%r is not a size." % (value,), field=field,
                               fix="give a size such as 2GiB, 700MiB or 4GB (or a number of bytes).")
        number = int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])
    if number < (1 << 20):
        raise AistackError("%r is smaller than 1 MiB." % (value,), field=field, fix="give at least 1MiB.")
    return number


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _tar_header(name, size):
    from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import tar_header
    return tar_header(name, size)


def _tar_padding(size):
    return b"\x00" * ((512 - size % 512) % 512)


class _Output(object):
    """A tar written member by member to ``path`` (plain, gzip or zstd), hashing the file's bytes."""

    def __init__(self, path, compression):
        self.raw = open(path, "wb")
        self.compression = compression
        if compression == "gzip":
            self.out = gzip.GzipFile(fileobj=self.raw, mode="wb", mtime=0, compresslevel=6)
        elif compression == "zstd":
            if not ia.HAS_ZSTD:
                raise AistackError("zstd output needs the zstandard Python library.", field="compression",
                                   fix="pip install zstandard, or set compression: none")
            self.out = ia.zstandard.ZstdCompressor(level=3).stream_writer(self.raw, closefd=False)
        else:
            self.out = self.raw

    def add_bytes(self, name, data):
        self.out.write(_tar_header(name, len(data)))
        self.out.write(data)
        self.out.write(_tar_padding(len(data)))

    def add_stream(self, name, size, reader):
        self.out.write(_tar_header(name, size))
        left = size
        while left:
            block = reader.read(min(BLOCK, left))
            if not block:
                raise AistackError("a member ended early while writing %s" % name, field="src")
            self.out.write(block)
            left -= len(block)
        self.out.write(_tar_padding(size))

    def close(self):
        self.out.write(b"\x00" * 1024)
        if self.out is not self.raw:
            self.out.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()

    def discard(self):
        try:
            self.raw.close()
        except (OSError, ValueError):
            pass


def _images(path, platform=None):
    index = ia.index_archive(path)
    images = ia.parse_index(index, platform=platform,
                            hash_member=lambda name, index=index: ia.hash_plain_member(index, name))
    return index, images


def _layers(image):
    """The layer digests of an image (configs are not layers: they always travel)."""
    configs = set()
    for manifest in [image.manifest] + [child[2] for child in image.children]:
        try:
            doc = json.loads(manifest.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(doc.get("config"), dict):
            configs.add(doc["config"].get("digest"))
    return [blob.digest for blob in image.blobs if blob.digest not in configs]


def delta_key(images, omitted, compression):
    return ia.canonical_json({"format": DELTA_FORMAT, "images": sorted([image.ref, image.digest] for image in images),
                              "omitted": sorted(omitted), "compression": compression or "none"})


def existing_key(path):
    """The ``aistack-delta.json`` of an archive written by write_delta, or None."""
    if not os.path.isfile(path):
        return None
    try:
        index = ia.index_archive(path)
    except AistackError:
        return None
    member = index.members.get(DELTA_MEMBER)
    return member.content if member is not None else None


def write_delta(src, dest, omit, compression="none", platform=None, check_mode=False):
    """Write ``dest``: the images of archive ``src`` as an OCI layout tar without the layers in ``omit``.

    Returns {changed, images: [{ref, digest}], layers, omitted, carried, size}: ``omitted`` are the layers left
    out (the import must find them at the target), ``carried`` the ones written."""
    from ansible_collections.aistack.platform.plugins.module_utils.images import importer
    omit = set(omit or ())
    index, images = _images(src, platform)
    layers, omitted = [], []
    for image in images:
        for digest in _layers(image):
            if digest not in layers:
                layers.append(digest)
    omitted = [digest for digest in layers if digest in omit]
    carried = [digest for digest in layers if digest not in omit]
    key = delta_key(images, omitted, compression)
    result = dict(images=[dict(ref=image.ref, digest=image.digest) for image in images], layers=layers,
                  omitted=omitted, carried=carried, dest=dest)
    if existing_key(dest) == key:
        result.update(changed=False, size=os.path.getsize(dest))
        return result
    result["changed"] = True
    if check_mode:
        result["size"] = None
        return result
    partial = dest + ".partial"
    out = _Output(partial, compression)
    left_out = set(omitted)
    try:
        written = set()
        by_member = {}
        for image in images:
            for blob in image.blobs:
                if blob.digest in left_out or blob.digest in written:
                    continue
                written.add(blob.digest)
                if blob.data is not None:
                    importer.verify_memory_blob(src, blob)
                    out.add_bytes(ia.blob_path(blob.digest), blob.data)
                else:
                    by_member.setdefault(blob.member, blob)

        def consume(name, reader):
            blob = by_member[name]
            out.add_stream(ia.blob_path(blob.digest), blob.size, importer.VerifyingReader(reader, blob, src))
        ia.stream_members(index, list(by_member), consume)
        entries = []
        for image in images:
            for digest, _media_type, data in image.children:
                if digest not in written:
                    written.add(digest)
                    out.add_bytes(ia.blob_path(digest), data)
            if image.digest not in written:
                written.add(image.digest)
                out.add_bytes(ia.blob_path(image.digest), image.manifest)
            _domain, _path, tag, _digest = ia.split_reference(image.ref)
            entries.append({"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                            "annotations": {ia.ANNOTATION_IMAGE_NAME: image.ref, ia.ANNOTATION_REF_NAME: tag or ""}})
        out.add_bytes("oci-layout", ia.canonical_json({"imageLayoutVersion": "1.0.0"}))
        out.add_bytes("index.json", ia.canonical_json({"schemaVersion": 2, "mediaType": ia.MT_OCI_INDEX,
                                                       "manifests": entries}))
        out.add_bytes(DELTA_MEMBER, key)
        out.close()
    except BaseException:
        out.discard()
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    os.rename(partial, dest)
    result["size"] = os.path.getsize(dest)
    return result


# ---------------------------------------------------------------------------------------------
# Parts
# ---------------------------------------------------------------------------------------------

PART_RE = re.compile(r"\.part[0-9]{3}$")


def part_name(path, number):
    return "%s.part%03d" % (path, number)


def split_file(src, prefix, part_size, check_mode=False):
    """Cut ``src`` into ``<prefix>.part000``, ``.part001``... of ``part_size`` bytes (the last one shorter).
    A part whose file already holds the same bytes is left alone; parts beyond the new count are removed.
    Returns {changed, parts: [{path, size, sha256}], removed, size, sha256}."""
    total = os.path.getsize(src)
    count = max(1, (total + part_size - 1) // part_size)
    parts, changed, whole = [], False, hashlib.sha256()
    with open(src, "rb") as handle:
        for number in range(count):
            path = part_name(prefix, number)
            start = number * part_size
            size = min(part_size, total - start)
            digest = hashlib.sha256()
            left = size
            while left:
                block = handle.read(min(BLOCK, left))
                if not block:
                    raise AistackError("'%s' shrank while it was split." % src, field="src")
                digest.update(block)
                whole.update(block)
                left -= len(block)
            hexdigest = digest.hexdigest()
            same = os.path.isfile(path) and os.path.getsize(path) == size and sha256_file(path) == hexdigest
            if not same:
                changed = True
                if not check_mode:
                    _copy_range(src, start, size, path)
            parts.append(dict(path=path, size=size, sha256=hexdigest))
    directory, base = os.path.split(prefix)
    removed = sorted(os.path.join(directory or ".", name) for name in os.listdir(directory or ".")
                     if name.startswith(base + ".part") and PART_RE.search(name)
                     and os.path.join(directory or ".", name) not in [p["path"] for p in parts])
    if removed:
        changed = True
        if not check_mode:
            for path in removed:
                os.unlink(path)
    return dict(changed=changed, parts=parts, removed=removed, size=total, sha256=whole.hexdigest())


def _copy_range(src, start, size, path):
    partial = path + ".partial"
    with open(src, "rb") as handle, open(partial, "wb") as out:
        handle.seek(start)
        left = size
        while left:
            block = handle.read(min(BLOCK, left))
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())
    os.rename(partial, path)


def check_parts(parts, base_dir=""):
    """The parts ({file, sha256[, size]}) that are missing or fail their sum: [(file, problem)]."""
    bad = []
    for part in parts:
        path = os.path.join(base_dir, part["file"])
        if not os.path.isfile(path):
            bad.append((part["file"], "missing"))
            continue
        if part.get("size") is not None and os.path.getsize(path) != int(part["size"]):
            bad.append((part["file"], "%d bytes, expected %d" % (os.path.getsize(path), int(part["size"]))))
            continue
        if sha256_file(path) != part["sha256"]:
            bad.append((part["file"], "sha256 differs from SHA256SUMS"))
    return bad


def join_parts(parts, base_dir, dest, sha256, check_mode=False):
    """Check every part, then write ``dest`` as their concatenation (``.partial``, renamed once its sha256 is
    ``sha256``). A ``dest`` that already has that sha256 is left alone. Returns {changed, size}."""
    bad = check_parts(parts, base_dir)
    if bad:
        raise AistackError("bundle part(s) fail their check, nothing was joined: %s."
                           % "; ".join("%s (%s)" % item for item in bad), field="parts",
                           fix="copy only the part(s) named again from the connected host's bundle, then run the "
                               "import again.")
    if os.path.isfile(dest) and sha256_file(dest) == sha256:
        return dict(changed=False, size=os.path.getsize(dest))
    if check_mode:
        return dict(changed=True, size=sum(int(p.get("size") or 0) for p in parts))
    directory = os.path.dirname(dest)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory)
    partial = dest + ".partial"
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in parts:
            with open(os.path.join(base_dir, part["file"]), "rb") as handle:
                for block in iter(lambda: handle.read(BLOCK), b""):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        os.unlink(partial)
        raise AistackError("the parts of %s join into sha256 %s, the bundle's manifest says %s."
                           % (dest, digest.hexdigest(), sha256), field="parts",
                           fix="export the bundle again; its parts do not belong together.")
    os.rename(partial, dest)
    return dict(changed=True, size=os.path.getsize(dest))
