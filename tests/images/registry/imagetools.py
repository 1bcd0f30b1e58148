# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test tooling for image_import: write image archives in every form, run a throwaway registry.

Archives are written by this code from layer tarballs (built here, or exported from locally built
images), never downloaded. The registry is Debian's ``docker-registry`` (distribution 2.8) on
127.0.0.1 with a temporary storage directory; its access log is kept so tests can count writes.
"""

import bz2
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

CHUNK = 1 << 20


def tar_bytes(files):
    """A layer tarball from {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class Layer(object):
    """A layer held in a file (so large ones never sit in memory)."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        self.digest = sha256_file(path)

    @classmethod
    def from_bytes(cls, data, workdir):
        fd, path = tempfile.mkstemp(dir=workdir, suffix=".layer")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return cls(path)


def gzip_layer(layer, workdir):
    fd, path = tempfile.mkstemp(dir=workdir, suffix=".layer.gz")
    os.close(fd)
    with open(layer.path, "rb") as src, open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) as out:
            shutil.copyfileobj(src, out, CHUNK)
    return Layer(path)


def image_config(layers, arch="amd64", cmd=None):
    return {
        "architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd or ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + l.digest for l in layers]},
        "history": [{"created": "2026-01-01T00:00:00Z"} for _unused in layers],
    }


def _add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar, name, path):
    info = tarfile.TarInfo(name)
    info.size = os.path.getsize(path)
    info.mode = 0o644
    info.mtime = 0
    with open(path, "rb") as handle:
        tar.addfile(info, handle)


def _open_output(path, compression):
    raw = open(path, "wb")
    if compression in (None, "none"):
        return raw, [raw]
    if compression == "gzip":
        out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1)
        return out, [out, raw]
    if compression == "bzip2":
        out = bz2.BZ2File(raw, mode="wb", compresslevel=1)
        return out, [out, raw]
    if compression == "zstd":
        out = zstandard.ZstdCompressor(level=1).stream_writer(raw, closefd=False)
        return out, [out, raw]
    raise ValueError(compression)


def write_docker_archive(path, tags, layers, compression="none", config=None, extra=None, skip=()):
    """docker save layout (Docker < 25): <id>/layer.tar, <config-hex>.json, manifest.json, repositories.

    Layers come first, manifest.json last, as docker save writes them. ``skip`` drops members by name.
    """
    config = config or image_config(layers)
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    layer_names = []
    out, closers = _open_output(path, compression)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        parent = ""
        for layer in layers:
            layer_id = hashlib.sha256((parent + layer.digest).encode()).hexdigest()
            parent = layer_id
            name = "%s/layer.tar" % layer_id
            layer_names.append(name)
            if name not in skip:
                _add_bytes(tar, "%s/VERSION" % layer_id, b"1.0")
                _add_file(tar, name, layer.path)
        if "%s.json" % config_hex not in skip:
            _add_bytes(tar, "%s.json" % config_hex, config_bytes)
        manifest = [{"Config": "%s.json" % config_hex, "RepoTags": list(tags), "Layers": layer_names}]
        if "manifest.json" not in skip:
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        for name, data in (extra or {}).items():
            _add_bytes(tar, name, data)
    for closer in closers:
        closer.close()
    return dict(config_digest="sha256:" + config_hex, layer_names=layer_names)


def oci_manifest(config_bytes, layers, layer_media_type="application/vnd.oci.image.layer.v1.tar"):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_media_type, "digest": "sha256:" + l.digest, "size": l.size} for l in layers],
    }, sort_keys=True).encode()


def write_oci_archive(path, ref, layers, compression="none", diff_layers=None, layer_media_type=None,
                      annotate="containerd", skip=(), corrupt_manifest_layer=None):
    """OCI layout tar (what skopeo copy oci-archive: / ctr export write): blobs first, index.json last.

    ``layers`` are the blobs as stored (possibly gzip); ``diff_layers`` their uncompressed forms (for diff_ids).
    ``annotate``: 'containerd' (io.containerd.image.name + ref.name tag), 'tag' (ref.name tag only) or None.
    """
    media = layer_media_type or "application/vnd.oci.image.layer.v1.tar"
    config = image_config(diff_layers or layers)
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest_bytes = oci_manifest(config_bytes, layers, media)
    if corrupt_manifest_layer is not None:
        doc = json.loads(manifest_bytes)
        doc["layers"][0]["digest"] = corrupt_manifest_layer
        manifest_bytes = json.dumps(doc, sort_keys=True).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    tag = ref.rsplit(":", 1)[1]
    annotations = {}
    if annotate == "containerd":
        annotations = {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}
    elif annotate == "tag":
        annotations = {"org.opencontainers.image.ref.name": tag}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                            "size": len(manifest_bytes), "annotations": annotations}]}
    out, closers = _open_output(path, compression)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for layer in layers:
            name = "blobs/sha256/%s" % layer.digest
            if name not in skip:
                _add_file(tar, name, layer.path)
        _add_bytes(tar, "blobs/sha256/%s" % hashlib.sha256(config_bytes).hexdigest(), config_bytes)
        _add_bytes(tar, "blobs/sha256/%s" % manifest_digest.split(":")[1], manifest_bytes)
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tar, "index.json", json.dumps(index).encode())
    for closer in closers:
        closer.close()
    return dict(manifest_digest=manifest_digest)


SUFFIX = {"none": ".tar", "gzip": ".tar.gz", "bzip2": ".tar.bz2", "zstd": ".tar.zst"}


# ---------------------------------------------------------------------------------------------
# A throwaway registry (Debian's docker-registry) on 127.0.0.1
# ---------------------------------------------------------------------------------------------

def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class LocalRegistry(object):
    """``docker-registry`` serving a temp dir on 127.0.0.1:<port>; optional htpasswd basic auth."""

    BINARY = "/usr/bin/docker-registry"

    def __init__(self, workdir, htpasswd=None):
        self.workdir = workdir
        self.storage = os.path.join(workdir, "storage")
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "registry.log")
        self.htpasswd = htpasswd
        self.proc = None

    @staticmethod
    def available():
        return os.path.exists(LocalRegistry.BINARY)

    def start(self):
        os.makedirs(self.storage, exist_ok=True)
        auth = ""
        if self.htpasswd:
            auth = "auth:\n  htpasswd:\n    realm: test\n    path: %s\n" % self.htpasswd
        config = os.path.join(self.workdir, "config.yml")
        with open(config, "w") as handle:
            handle.write("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
                         "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"
                         "http:\n  addr: %s\n%s" % (self.storage, self.address, auth))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.BINARY, "serve", config], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("docker-registry exited: %s" % open(self.log_path).read())
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not listen on %s" % self.address)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def log_text(self):
        with open(self.log_path, "r", errors="replace") as handle:
            return handle.read()

    def blob_files(self):
        """Blob data files in storage (one per distinct blob)."""
        root = os.path.join(self.storage, "docker/registry/v2/blobs")
        found = []
        for dirpath, _dirs, files in os.walk(root):
            found.extend(os.path.join(dirpath, f) for f in files if f == "data")
        return sorted(found)

    def tags(self, repo):
        path = os.path.join(self.storage, "docker/registry/v2/repositories", repo, "_manifests/tags")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def repositories(self):
        root = os.path.join(self.storage, "docker/registry/v2/repositories")
        repos = []
        for dirpath, dirs, _files in os.walk(root):
            if "_manifests" in dirs:
                repos.append(os.path.relpath(dirpath, root))
        return sorted(repos)

    def all_tags(self):
        return sorted("%s:%s" % (r, t) for r in self.repositories() for t in self.tags(r))

    def write_requests(self, since=0):
        """Access-log lines of requests that write (POST/PUT/PATCH) after byte offset ``since``."""
        text = self.log_text()[since:]
        return [l for l in text.splitlines() if '"PUT ' in l or '"POST ' in l or '"PATCH ' in l]


# ---------------------------------------------------------------------------------------------
# Running the module the way users do (ansible -m), without needing a cluster
# ---------------------------------------------------------------------------------------------

def ansible_env(collections_path, extra=None):
    import sys
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "1"
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra or {})
    return env


def run_module(collections_path, name, args, check=False, env=None, timeout=900, diff=False):
    cmd = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", name, "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, env=ansible_env(collections_path, env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    try:
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no JSON result (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    return result


# ---------------------------------------------------------------------------------------------
# A private containerd (when the test cluster's is not up)
# ---------------------------------------------------------------------------------------------

class PrivateContainerd(object):
    """containerd with its own root, state and socket under ``workdir`` (CRI plugin off)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "containerd.sock")
        self.proc = None

    def start(self):
        config = os.path.join(self.workdir, "config.toml")
        with open(config, "w") as handle:
            handle.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
                         'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s"\n'
                         % (self.workdir, self.workdir, self.socket))
        self.log = open(os.path.join(self.workdir, "containerd.log"), "ab")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.socket) and subprocess.run(
                    ["ctr", "-a", self.socket, "version"], capture_output=True, check=False).returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("private containerd did not start; see %s/containerd.log" % self.workdir)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        # snapshot mounts are not made without a running container; the tree can go
        subprocess.run(["rm", "-rf", os.path.join(self.workdir, "root"), os.path.join(self.workdir, "state")],
                       check=False)
