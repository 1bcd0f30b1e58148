# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd image store through ``ctr`` (as shipped with containerd, or ``k3s ctr``).

Why ``ctr images import`` of an archive we write ourselves: it is the one interface containerd
offers outside Go for writing content *and* creating image records *and* unpacking layers for the
snapshotter in one transaction (a lease protects the blobs; image records are created only after
the whole stream was read). We feed it a normalized OCI layout streamed through its stdin, holding
only the blobs the store lacks (``ctr content ls``) plus the manifests, configs and ``index.json``
last. When our own digest check fails mid-stream the process is killed before ``index.json`` is
written, so no image record appears. Images whose name already points at the same manifest digest
(``ctr images ls``) are not sent at all, so a repeated import runs no ``ctr import``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import signal
import subprocess
import tarfile
import tempfile

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

BLOCK = 1 << 20
# ctr's stdin: the default pipe holds 64 KiB, a sixteenth of one of our blocks (every block would take 16 hand-overs
# between us and ctr); Linux's default cap for an unprivileged pipe is 1 MiB (/proc/sys/fs/pipe-max-size)
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def widen_pipe(fd, size=PIPE_SIZE):
    """Ask Linux for a pipe buffer of ``size`` bytes (capped by /proc/sys/fs/pipe-max-size); best effort."""
    try:
        return fcntl.fcntl(fd, F_SETPIPE_SZ, size)
    except (OSError, IOError, ValueError):
        return None


def parse_images_ls(text):
    """``ctr images ls`` table -> {name: digest}."""
    images = {}
    lines = text.splitlines()
    for line in lines[1:] if lines and lines[0].startswith("REF") else lines:
        cols = line.split()
        if len(cols) >= 3 and cols[2].startswith("sha256:"):
            images[cols[0]] = cols[2]
    return images


def parse_content_ls(text):
    """``ctr content ls`` (or ``-q``) -> set of digests."""
    digests = set()
    for line in text.splitlines():
        cols = line.split()
        if cols and cols[0].startswith("sha256:"):
            digests.add(cols[0])
    return digests


def tar_header(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o444
    info.mtime = 0
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def tar_padding(size):
    return b"\x00" * ((512 - size % 512) % 512)


class CtrClient(object):
    def __init__(self, socket, namespace="k8s.io", command=None):
        self.socket = socket
        self.namespace = namespace
        self.command = list(command or ["ctr"])

    def _base(self):
        return self.command + ["-a", self.socket, "-n", self.namespace]

    def run(self, *args):
        try:
            proc = subprocess.run(self._base() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  check=False)
        except OSError as exc:
            raise AistackError("cannot run %s: %s" % (self.command[0], exc), field="ctr_command",
                               fix="install containerd's ctr, or set ctr_command (e.g. [k3s, ctr])")
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise AistackError("'%s %s' failed: %s" % (" ".join(self.command), " ".join(args), err),
                               field="containerd_socket",
                               fix="check that containerd listens on %s and the namespace exists" % self.socket)
        return proc.stdout.decode("utf-8", "replace")

    def check(self):
        if not os.path.exists(self.socket):
            raise AistackError("containerd socket '%s' does not exist" % self.socket, field="containerd_socket",
                               fix="set containerd_socket (k3s: /run/k3s/containerd/containerd.sock)")
        self.run("version")

    def images(self):
        return parse_images_ls(self.run("images", "ls"))

    def content(self):
        return parse_content_ls(self.run("content", "ls", "-q"))

    def importer(self, unpack=True):
        return _ImportStream(self._base(), unpack)


class _ImportStream(object):
    """A running ``ctr images import -`` whose stdin we write an OCI layout tar into."""

    def __init__(self, base, unpack):
        args = base + ["images", "import", "--all-platforms"]
        if not unpack:
            args.append("--no-unpack")
        args.append("-")
        # output goes to a file, never a pipe: a full pipe would block ctr while we block on its stdin
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise AistackError("cannot run %s: %s" % (base[0], exc), field="ctr_command")
        widen_pipe(self.proc.stdin.fileno())
        self.written = 0

    def _write(self, data):
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self.abort()
            raise AistackError("ctr import stopped reading: %s" % self._stderr(), field="containerd_socket",
                               fix="check containerd's log")

    def add_bytes(self, name, data):
        self._write(tar_header(name, len(data)))
        self._write(data)
        self._write(tar_padding(len(data)))

    def add_stream(self, name, size, reader):
        """Copy ``size`` bytes from ``reader`` (which verifies them) as one tar member."""
        self._write(tar_header(name, size))
        left = size
        while left:
            block = reader.read(min(BLOCK, left))
            if not block:
                raise AistackError("member for %s ended early" % name)
            self._write(block)
            left -= len(block)
        self._write(tar_padding(size))
        self.written += size

    def _stderr(self):
        if self.proc.poll() is None:
            self.proc.wait()
        try:
            self.log.seek(0)
            return self.log.read()[-4000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def finish(self):
        self._write(b"\x00" * 1024)
        self.proc.stdin.close()
        code = self.proc.wait()
        out = self._stderr()
        self.log.close()
        if code != 0:
            raise AistackError("ctr images import failed: %s" % out, field="containerd_socket")
        return out

    def abort(self):
        """Kill ctr before it sees a complete archive: it then creates no image."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.stdin.close()
        except (OSError, BrokenPipeError):
            pass
        self.proc.wait()
