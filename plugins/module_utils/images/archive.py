# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image archives (docker-archive and OCI layout; plain tar, gzip, bzip2 or zstd): read, index, stream.

Two passes over an archive, memory flat whatever its size:

1. ``index_archive``: walk the tar once, keep only the small JSON members (manifests, configs,
   indexes) in memory and remember every member's size and first bytes. ``parse_index`` then turns
   that into ``ImageSpec`` objects: one per image, with its manifest (docker-archive images are
   converted to an OCI manifest whose layer digests come from the member names, the config's
   ``diff_ids`` or a hash taken in pass 1), and where every blob lives in the archive.
2. ``stream_members``: walk the archive again and hand the members a target still needs, one at a
   time, to a consumer that reads them in chunks (and verifies their digests while doing so).

Everything that is not I/O is a pure function so it can be tested without archives.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import gzip
import hashlib
import io
import json
import os
import re
import posixpath
import tarfile
import zlib

from ansible_collections.aistack.platform.plugins.module_utils.common import reference
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

try:
    import zstandard
    HAS_ZSTD = True
except ImportError:  # pragma: no cover - reported when a zstd archive shows up
    zstandard = None
    HAS_ZSTD = False

CHUNK = 1 << 20
# Members up to this size whose content looks like JSON are kept in memory during the index pass.
SMALL_MEMBER = 4 << 20
SMALL_TOTAL = 64 << 20

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.zst", ".tar.zstd", ".tzst")

_BLOB_PATH = re.compile(r"^(?:\./)?blobs/(sha256|sha512)/([a-f0-9]{64,128})$")
_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64,128})$")
_HEX_JSON = re.compile(r"^(?:\./)?([a-f0-9]{64})\.json$")


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------

def detect_compression(head):
    """Return 'gzip', 'bzip2', 'zstd', 'xz' or 'none' from an archive's first bytes (None if unknown)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "none"
    if len(head) >= 512 and head[:512] == b"\x00" * 512:
        return "none"
    return None


def layer_media_type(magic):
    """OCI media type of a layer blob from its first bytes (uncompressed tar when nothing matches)."""
    kind = detect_compression(magic) if magic else None
    if kind == "gzip":
        return MT_OCI_LAYER + "+gzip"
    if kind == "zstd":
        return MT_OCI_LAYER + "+zstd"
    return MT_OCI_LAYER


def is_archive_name(name):
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def canonical_json(obj):
    """Deterministic bytes for a manifest we generate: the digest is then stable across runs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_digest(value):
    match = _DIGEST.match(value or "")
    if not match:
        return None
    return match.group(1), match.group(2)


def blob_path(digest):
    alg, hexpart = parse_digest(digest)
    return "blobs/%s/%s" % (alg, hexpart)


def split_reference(ref):
    """Split an image reference into (domain, path, tag, digest); docker.io rules for short names.

    ``postgres:17`` -> ('docker.io', 'library/postgres', '17', None)
    ``localhost:30500/team/app@sha256:...`` -> ('localhost:30500', 'team/app', None, 'sha256:...')
    The grammar is checked by ``common/reference.py``; a bad reference raises ``ValueError``.
    """
    try:
        parts = reference.parse(ref, field="image")
    except AistackError as exc:
        raise ValueError(str(exc))
    domain, tag, digest = parts["domain"] or "docker.io", parts["tag"], parts["digest"]
    path_parts = parts["path"].split("/")
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = "docker.io"
    if domain == "docker.io" and len(path_parts) == 1:
        path_parts = ["library"] + path_parts
    if tag is None and digest is None:
        tag = "latest"
    return domain, "/".join(path_parts), tag, digest


def normalize_reference(ref):
    """Fully qualified form, as containerd and the kubelet store it (docker.io/library/x:tag)."""
    domain, path, tag, digest = split_reference(ref)
    out = "%s/%s" % (domain, path)
    if tag:
        out += ":" + tag
    if digest:
        out += "@" + digest
    return out


def target_repository(ref, registry=None, project=None, flatten=False):
    """Repository (without tag) an image goes to: ``<registry>/<project>/<path>``.

    With ``registry`` None the source domain is kept (containerd target). The path is kept whole
    (``docker.io/library/postgres`` -> ``library/postgres``), so that a containerd/k3s mirror for
    ``docker.io`` rewritten to ``<project>/`` finds it. ``flatten`` keeps only the last component
    (``ghcr.io/hkuds/lightrag`` -> ``lightrag``).
    """
    domain, path, _tag, _digest = split_reference(ref)
    if flatten:
        path = path.rsplit("/", 1)[-1]
    if project:
        path = "%s/%s" % (project.strip("/"), path)
    return "%s/%s" % (registry or domain, path)


def target_reference(ref, registry=None, project=None, flatten=False):
    _domain, _path, tag, digest = split_reference(ref)
    repo = target_repository(ref, registry, project, flatten)
    return "%s:%s" % (repo, tag) if tag else "%s@%s" % (repo, digest)


def member_problem(name, linkname=None, symlink=False, hardlink=False):
    """Why a tar member would leave the directory it is extracted into, or None.

    Refused: absolute names, names that climb out with '..', symbolic links whose target (relative to the
    link's own directory) is absolute or climbs out, hard links whose target (relative to the archive's root)
    does. The reader never extracts, but an archive shaped to escape is not an image archive to trust.
    """
    if not name:
        return "a member has an empty name"
    if "\0" in name:
        return "member name %r contains a NUL byte" % name
    if name.startswith("/"):
        return "member '%s' has an absolute path" % name
    clean = posixpath.normpath(name)
    if clean == ".." or clean.startswith("../"):
        return "member '%s' leaves the extraction directory ('..')" % name
    if symlink or hardlink:
        kind = "symbolic link" if symlink else "hard link"
        target = linkname or ""
        if not target:
            return "%s '%s' has an empty target" % (kind, name)
        if target.startswith("/"):
            return "%s '%s' points at the absolute path '%s'" % (kind, name, target)
        base = posixpath.dirname(clean) if symlink else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return "%s '%s' points outside the extraction directory ('%s')" % (kind, name, target)
    return None


def check_member(path, info):
    """Fail (naming the archive) when a tar member would leave the extraction directory."""
    problem = member_problem(info.name, info.linkname, info.issym(), info.islnk())
    if problem:
        _fail(path, problem, "recreate the archive with relative member names inside it (docker save / "
                             "skopeo copy oci-archive:...), or do not import an archive of unknown origin")


class MemberInfo(object):
    """One regular file in an archive, as seen by the index pass."""

    __slots__ = ("name", "size", "offset", "magic", "content", "digest")

    def __init__(self, name, size, offset=None, magic=b"", content=None, digest=None):
        self.name = name
        self.size = size
        self.offset = offset
        self.magic = magic
        self.content = content
        self.digest = digest

    def __repr__(self):
        return "MemberInfo(%r, %d)" % (self.name, self.size)


class BlobRef(object):
    """A blob an image needs and where it comes from: an archive member, or bytes we generated."""

    __slots__ = ("digest", "size", "media_type", "member", "data", "verified")

    def __init__(self, digest, size, media_type, member=None, data=None, verified=False):
        self.digest = digest
        self.size = size
        self.media_type = media_type
        self.member = member
        self.data = data
        self.verified = verified

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class ImageSpec(object):
    """One image of an archive: its source reference, manifest bytes and blobs.

    ``manifests`` holds (digest, media_type, bytes) for child manifests that must be written before
    the top-level one (image index); ``manifest`` is the top-level one, written last.
    """

    def __init__(self, source, ref, manifest, media_type, blobs, children=None, platform=None):
        self.source = source
        self.ref = ref
        self.manifest = manifest
        self.media_type = media_type
        self.digest = sha256_digest(manifest)
        self.blobs = blobs
        self.children = children or []
        self.platform = platform

    @property
    def size(self):
        return len(self.manifest) + sum(b.size for b in self.blobs) + sum(len(c[2]) for c in self.children)


def _fail(path, problem, fix=None):
    raise AistackError("archive '%s': %s" % (path, problem), field="src",
                       fix=fix or "re-create the archive (docker save / skopeo copy) and copy it again")


def _load_json(path, member, what):
    if member.content is None:
        _fail(path, "%s '%s' is too large (%d bytes) to be metadata" % (what, member.name, member.size))
    try:
        return json.loads(member.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(path, "%s '%s' is not valid JSON (%s)" % (what, member.name, exc))


def _member_for_blob(path, members, desc, owner, omitted=None):
    digest = desc.get("digest") if isinstance(desc, dict) else None
    if not parse_digest(digest or ""):
        _fail(path, "%s has a descriptor without a valid digest: %r" % (owner, desc))
    name = blob_path(digest)
    member = members.get(name)
    if member is None and omitted and digest in omitted and isinstance(desc.get("size"), int):
        return None  # a delta bundle's archive leaves out a layer the target already holds
    if member is None:
        _fail(path, "%s names blob %s, which is missing from the archive" % (owner, digest),
              fix="save the image again; the archive is incomplete")
    size = desc.get("size")
    if isinstance(size, int) and size != member.size:
        _fail(path, "%s says blob %s has %d bytes, the archive holds %d" % (owner, digest, size, member.size))
    return member


def _platform_string(platform):
    if not isinstance(platform, dict):
        return None
    value = "%s/%s" % (platform.get("os", ""), platform.get("architecture", ""))
    if platform.get("variant"):
        value += "/" + platform["variant"]
    return value


def _platform_matches(wanted, have):
    if not wanted or not have:
        return True
    w = wanted.split("/")
    h = have.split("/")
    if w[:2] != h[:2]:
        return False
    return len(w) < 3 or (len(h) >= 3 and w[2] == h[2])


def _oci_manifest_image(path, members, digest, media_type, data, ref, omitted=None):
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(path, "manifest %s is not valid JSON (%s)" % (digest, exc))
    owner = "manifest %s" % digest
    config = manifest.get("config")
    layers = manifest.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        _fail(path, "%s has no config or layers" % owner)
    blobs = []
    for number, desc in enumerate([config] + layers):
        member = _member_for_blob(path, members, desc, owner, omitted if number else None)
        if member is None:
            blobs.append(BlobRef(desc["digest"], desc["size"], desc.get("mediaType", MT_OCI_LAYER)))
            continue
        blobs.append(BlobRef(desc["digest"], member.size, desc.get("mediaType", MT_OCI_LAYER), member=member.name,
                             data=member.content))
    return ImageSpec(path, ref, data, media_type or manifest.get("mediaType") or MT_OCI_MANIFEST, blobs)


def _read_blob_json(path, members, desc, owner):
    member = _member_for_blob(path, members, desc, owner)
    if member.content is None:
        _fail(path, "%s: blob %s is too large to be a manifest" % (owner, desc["digest"]))
    if sha256_digest(member.content) != desc["digest"] and desc["digest"].startswith("sha256:"):
        _fail(path, "blob %s does not match its digest (the archive is corrupt)" % desc["digest"])
    return member.content


def _reference_from_annotations(annotations, default_name):
    """Image name from an OCI index entry; a bare tag is joined to ``default_name``."""
    annotations = annotations or {}
    name = annotations.get(ANNOTATION_IMAGE_NAME)
    if name:
        return name
    ref = annotations.get(ANNOTATION_REF_NAME)
    if not ref:
        return None
    if "/" in ref or ":" in ref or "@" in ref:
        return ref
    if default_name:
        return "%s:%s" % (default_name, ref)
    return None


def parse_oci_layout(path, members, platform=None, default_name=None, omitted=None):
    layout = members.get("oci-layout")
    if layout is not None:
        doc = _load_json(path, layout, "oci-layout")
        if not isinstance(doc, dict) or "imageLayoutVersion" not in doc:
            _fail(path, "oci-layout has no imageLayoutVersion")
    index = _load_json(path, members["index.json"], "index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        _fail(path, "index.json has no manifests list")
    images = []
    for number, desc in enumerate(entries):
        if not isinstance(desc, dict):
            _fail(path, "index.json entry %d is not an object" % number)
        ref = _reference_from_annotations(desc.get("annotations"), default_name)
        if not ref:
            _fail(path, "index.json entry %d (%s) has no image name" % (number, desc.get("digest")),
                  fix="set the module option name to the repository for this archive, or save it with a full name")
        images.append(_oci_image_from_desc(path, members, desc, ref, platform, omitted))
    return images


def _oci_image_from_desc(path, members, desc, ref, platform, omitted=None):
    owner = "index entry %s" % desc.get("digest")
    data = _read_blob_json(path, members, desc, owner)
    media_type = desc.get("mediaType")
    if media_type is None:
        try:
            media_type = json.loads(data.decode("utf-8")).get("mediaType")
        except (UnicodeDecodeError, ValueError):
            media_type = None
    if media_type in INDEX_TYPES:
        try:
            child_index = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            _fail(path, "index %s is not valid JSON (%s)" % (desc["digest"], exc))
        present, missing = [], []
        for child in child_index.get("manifests") or []:
            if blob_path(child.get("digest", "")) in members if parse_digest(child.get("digest", "")) else False:
                present.append(child)
            else:
                missing.append(child)
        if not missing:
            children = []
            blobs = []
            seen = set()
            for child in present:
                sub = _oci_image_from_desc(path, members, child, ref, None, omitted)
                for grandchild in sub.children:
                    children.append(grandchild)
                children.append((sub.digest, sub.media_type, sub.manifest))
                for blob in sub.blobs:
                    if blob.digest not in seen:
                        seen.add(blob.digest)
                        blobs.append(blob)
            return ImageSpec(path, ref, data, media_type, blobs, children=children)
        # An index with only some platforms in the archive: import the matching platform manifest.
        candidates = [c for c in present if _platform_matches(platform, _platform_string(c.get("platform")))]
        candidates = [c for c in candidates if (c.get("platform") or {}).get("architecture") != "unknown"]
        if not candidates:
            _fail(path, "image %s: the archive holds no manifest for platform %s" % (ref, platform or "any"),
                  fix="save the image for this platform, or set the module option platform")
        image = _oci_image_from_desc(path, members, candidates[0], ref, platform, omitted)
        image.platform = _platform_string(candidates[0].get("platform"))
        return image
    return _oci_manifest_image(path, members, desc["digest"], media_type, data, ref, omitted)


def parse_docker_archive(path, members, default_name=None):
    """docker save format: manifest.json lists Config, RepoTags and Layers (paths in the archive)."""
    doc = _load_json(path, members["manifest.json"], "manifest.json")
    if not isinstance(doc, list):
        _fail(path, "manifest.json is not a list of images")
    images = []
    for number, entry in enumerate(doc):
        if not isinstance(entry, dict) or not entry.get("Config") or not isinstance(entry.get("Layers"), list):
            _fail(path, "manifest.json entry %d has no Config or Layers" % number)
        config_member = members.get(entry["Config"])
        if config_member is None:
            _fail(path, "manifest.json entry %d names config '%s', which is missing from the archive"
                  % (number, entry["Config"]), fix="save the image again; the archive is incomplete")
        config = _load_json(path, config_member, "config")
        config_digest = sha256_digest(config_member.content)
        named = _BLOB_PATH.match(config_member.name) or _HEX_JSON.match(config_member.name)
        if named and named.groups()[-1] != config_digest.split(":", 1)[1]:
            _fail(path, "config '%s' does not match its digest (the archive is corrupt)" % config_member.name)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(entry["Layers"]):
            _fail(path, "image %d: config lists %d layers, manifest.json %d"
                  % (number, len(diff_ids), len(entry["Layers"])))
        blobs = [BlobRef(config_digest, config_member.size, MT_OCI_CONFIG, member=config_member.name,
                         data=config_member.content, verified=True)]
        for pos, layer_name in enumerate(entry["Layers"]):
            member = members.get(layer_name)
            if member is None:
                _fail(path, "manifest.json entry %d names layer '%s', which is missing from the archive"
                      % (number, layer_name), fix="save the image again; the archive is incomplete")
            media_type = layer_media_type(member.magic)
            named = _BLOB_PATH.match(member.name)
            if named:
                digest = "%s:%s" % named.groups()
            elif member.digest:
                digest = member.digest
            elif media_type == MT_OCI_LAYER:
                digest = diff_ids[pos]  # an uncompressed layer's digest is its diff_id; checked while streaming
            else:
                digest = None  # compressed and unnamed: hashed on demand (index_archive fills it in)
            if member.digest and media_type == MT_OCI_LAYER and member.digest != diff_ids[pos]:
                _fail(path, "layer '%s' does not match diff_id %s (the archive is corrupt)" % (layer_name,
                                                                                               diff_ids[pos]))
            blobs.append(BlobRef(digest, member.size, media_type, member=member.name))
        tags = entry.get("RepoTags") or []
        if not tags:
            if not default_name:
                _fail(path, "image %d (config %s) has no tag" % (number, config_digest),
                      fix="tag the image before docker save, or set the module option name")
            tags = ["%s:%s" % (default_name, "latest")]
        for tag in tags:
            images.append(("docker", tag, blobs, config))
    return images


def docker_manifest(blobs):
    """OCI image manifest for a docker-archive image (config first in ``blobs``)."""
    config, layers = blobs[0], blobs[1:]
    return canonical_json({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    })


# ---------------------------------------------------------------------------------------------
# I/O: opening, indexing and streaming archives
# ---------------------------------------------------------------------------------------------

class HashingReader(object):
    """File-like wrapper that hashes and counts what is read through it."""

    def __init__(self, fileobj, algorithm="sha256"):
        self.fileobj = fileobj
        self.hash = hashlib.new(algorithm)
        self.count = 0

    def read(self, size=-1):
        data = self.fileobj.read(size)
        if data:
            self.hash.update(data)
            self.count += len(data)
        return data

    def hexdigest(self):
        return self.hash.hexdigest()


class _ZstdFile(io.RawIOBase):
    def __init__(self, raw):
        super(_ZstdFile, self).__init__()
        self._reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK, read_across_frames=True)

    def readable(self):
        return True

    def readinto(self, buf):
        data = self._reader.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def read(self, size=-1):
        return self._reader.read(size if size is not None and size >= 0 else -1)


def open_decompressed(path, raw, kind=None):
    """Decompressing reader over ``raw`` (an open binary file, or any reader when ``kind`` is known)."""
    if kind is None:
        head = raw.read(512)
        raw.seek(0)
        kind = detect_compression(head)
    if kind == "gzip":
        return kind, gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return kind, bz2.BZ2File(raw, mode="rb")
    if kind == "zstd":
        if not HAS_ZSTD:
            raise AistackError("archive '%s' is zstd-compressed and the zstandard Python library is missing" % path,
                               field="src", fix="pip install zstandard on the host running the module")
        return kind, _ZstdFile(raw)
    if kind == "none":
        return kind, raw
    if kind == "xz":
        _fail(path, "xz compression is not supported", fix="recompress it with gzip, bzip2 or zstd")
    _fail(path, "unknown format: not a tar archive, nor gzip, bzip2 or zstd compressed",
          fix="give docker-archive or OCI layout archives (tar, .tar.gz, .tar.bz2, .tar.zst)")


_STREAM_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)
if HAS_ZSTD:
    _STREAM_ERRORS = _STREAM_ERRORS + (zstandard.ZstdError,)


def _stream_error(path, exc):
    text = str(exc) or exc.__class__.__name__
    # A cut compressed stream shows up as an early end of data (or, cut inside its first block, as no data at
    # all); the format cannot tell truncation from damage.
    _fail(path, "truncated or corrupt (%s)" % text)


def _wants_content(name, size, magic):
    if size > SMALL_MEMBER:
        return False
    if name in ("manifest.json", "index.json", "oci-layout", "repositories") or name.endswith(".json"):
        return True
    return _BLOB_PATH.match(name) is not None and magic[:1] in (b"{", b"[")


class ArchiveIndex(object):
    def __init__(self, path, compression, members, raw_digest=None, file_size=0):
        self.path = path
        self.compression = compression
        self.members = members
        self.raw_digest = raw_digest
        self.file_size = file_size


def index_archive(path, hash_raw=False):
    """Pass 1: every regular member's size, first bytes, small JSON contents; optionally the file's sha256.

    Plain tars are walked by seeking (headers only) unless the file's own digest is wanted;
    compressed ones are decompressed once. A compressed docker-archive layer whose name does not
    carry its digest is hashed here, while it streams by anyway.
    """
    members = {}
    total_small = [0]
    file_size = os.path.getsize(path)

    def note(info, stream, may_hash):
        name = info.name[2:] if info.name.startswith("./") else info.name
        if name in members:
            _fail(path, "member '%s' appears twice" % name)
        magic = stream.read(min(info.size, 512)) if info.size else b""
        content = None
        digest = None
        if _wants_content(name, info.size, magic):
            content = magic + stream.read(info.size - len(magic))
            total_small[0] += info.size
            if total_small[0] > SMALL_TOTAL:
                _fail(path, "more than %d MiB of JSON metadata" % (SMALL_TOTAL >> 20))
        elif (may_hash and not _BLOB_PATH.match(name)
              and detect_compression(magic + b"\x00" * 512) not in (None, "none")):
            hasher = hashlib.sha256(magic)
            while True:
                block = stream.read(CHUNK)
                if not block:
                    break
                hasher.update(block)
            digest = "sha256:" + hasher.hexdigest()
        members[name] = MemberInfo(name, info.size, getattr(info, "offset_data", None), magic[:16], content, digest)

    raw_digest = None
    try:
        with open(path, "rb") as raw:
            kind, _stream = open_decompressed(path, raw)
            if kind == "none" and not hash_raw:
                with tarfile.open(fileobj=raw, mode="r:") as tar:
                    for info in tar:
                        check_member(path, info)
                        if not info.isreg():
                            continue
                        if info.offset_data + info.size > file_size:
                            _fail(path, "truncated: member '%s' ends past the end of the file" % info.name)
                        raw.seek(info.offset_data)
                        note(info, _MemberReader(raw, info.size), False)
            else:
                hasher = HashingReader(raw)
                kind, stream = open_decompressed(path, hasher, kind)
                with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
                    for info in tar:
                        check_member(path, info)
                        if info.isreg():
                            note(info, _MemberReader(tar.extractfile(info), info.size), True)
                # read what follows the end-of-archive marker, so the digest covers the whole file
                while stream.read(CHUNK):
                    pass
                while hasher.read(CHUNK):
                    pass
                raw_digest = "sha256:" + hasher.hexdigest()
    except AistackError:
        raise
    except _STREAM_ERRORS as exc:
        _stream_error(path, exc)
    if not members:
        _fail(path, "not an image archive (an empty tar)")
    return ArchiveIndex(path, kind, members, raw_digest, file_size)


def _hash_rest(path, fileobj, size):
    """sha256 of a whole tar member (the index pass already read its first bytes; extractfile restarts)."""
    digest = hashlib.sha256()
    total = 0
    while True:
        block = fileobj.read(CHUNK)
        if not block:
            break
        digest.update(block)
        total += len(block)
    if total != size:
        _fail(path, "truncated: a member is cut short")
    return "sha256:" + digest.hexdigest()


class _MemberReader(object):
    """Reads exactly ``size`` bytes of a member, raising when the archive ends first."""

    def __init__(self, fileobj, size):
        self.fileobj = fileobj
        self.left = size

    def read(self, size=-1):
        if self.left <= 0:
            return b""
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self.fileobj.read(size)
        if not data:
            raise EOFError("unexpected end of data")
        self.left -= len(data)
        return data


def archive_format(members):
    if "index.json" in members and ("oci-layout" in members or "manifest.json" not in members):
        return "oci"
    if "manifest.json" in members:
        return "docker"
    if "index.json" in members:
        return "oci"
    return None


def parse_index(index, platform=None, default_name=None, hash_member=None, omitted=None):
    """ImageSpecs of an indexed archive. ``hash_member(name)`` hashes a member on demand (plain tars).

    ``omitted``: layer digests an OCI layout may lack (a delta bundle's archive: the target holds them); such a
    layer becomes a BlobRef without member or data, which the import must find at the target."""
    fmt = archive_format(index.members)
    if fmt is None:
        _fail(index.path, "unknown format: neither manifest.json (docker-archive) nor index.json (OCI layout)",
              fix="give an archive made by docker save, skopeo copy or ctr export")
    if fmt == "oci":
        return parse_oci_layout(index.path, index.members, platform, default_name, omitted)
    images = []
    for _kind, tag, blobs, _config in parse_docker_archive(index.path, index.members, default_name):
        for blob in blobs:
            if blob.digest is None:
                if hash_member is None:
                    _fail(index.path, "cannot compute the digest of layer '%s'" % blob.member)
                blob.digest = hash_member(blob.member)
                index.members[blob.member].digest = blob.digest
        images.append(ImageSpec(index.path, tag, docker_manifest(blobs), MT_OCI_MANIFEST, blobs))
    return images


def hash_plain_member(index, name):
    member = index.members[name]
    with open(index.path, "rb") as raw:
        raw.seek(member.offset)
        return _hash_rest(index.path, _MemberReader(raw, member.size), member.size)


def stream_members(index, wanted, consume):
    """Pass 2: call ``consume(member_name, reader)`` for each name in ``wanted``, in archive order.

    ``reader.read(n)`` returns at most n bytes and raises AistackError if the archive ends early.
    Plain tars are read by offset (no decompression, no walk); compressed ones are walked once.
    """
    wanted = set(wanted)
    if not wanted:
        return
    path = index.path
    try:
        with open(path, "rb") as raw:
            if index.compression == "none":
                for name in sorted(wanted, key=lambda n: index.members[n].offset):
                    member = index.members[name]
                    raw.seek(member.offset)
                    consume(name, _MemberReader(raw, member.size))
                return
            _kind, stream = open_decompressed(path, raw)
            with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
                for info in tar:
                    name = info.name[2:] if info.name.startswith("./") else info.name
                    if name in wanted:
                        consume(name, _MemberReader(tar.extractfile(info), info.size))
                        wanted.discard(name)
                        if not wanted:
                            break
    except AistackError:
        raise
    except _STREAM_ERRORS as exc:
        _stream_error(path, exc)
    if wanted:
        _fail(path, "member(s) %s vanished between the two passes" % ", ".join(sorted(wanted)))


def find_archives(src):
    """The archive files a ``src`` path names: the file itself, or a directory's archives sorted by name."""
    if os.path.isdir(src):
        found = sorted(os.path.join(src, n) for n in os.listdir(src)
                       if is_archive_name(n) and os.path.isfile(os.path.join(src, n)))
        if not found:
            raise AistackError("directory '%s' holds no image archive (*.tar, *.tar.gz, *.tar.bz2, *.tar.zst)" % src,
                               field="src", fix="point src at an archive or a directory of archives")
        return found
    if not os.path.isfile(src):
        raise AistackError("'%s' does not exist." % src, field="src", fix="point src at an archive or a directory")
    return [src]


def parse_checksums(text):
    """sha256sum output -> {relative path: hex}."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-f0-9]{64})\s+\*?(.+)$", line)
        if not match:
            raise AistackError("line %d is not '<sha256>  <file>'" % number, field="checksums",
                               fix="give a file written by sha256sum")
        sums[os.path.normpath(match.group(2))] = match.group(1)
    return sums
