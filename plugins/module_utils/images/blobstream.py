# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving a blob's bytes once: read in large blocks, hash them in the same pass, hand them to a sender.

``BlobStream`` reads one blob of known size and digest out of an archive member. A helper thread
reads and hashes block N+1 while the caller sends block N into a socket or a pipe: reading,
hashing (OpenSSL's sha256, about 1 GB/s here) and the send all release the GIL, so on two cores
the hash costs no wall time instead of adding to the send. Blocks are ``bytes`` objects passed
through a bounded queue: memory stays at a few blocks whatever the blob's size.

The block that completes the blob is handed out only after the digest matched (``digest_error``),
so a consumer (an HTTP upload with Content-Length, ctr's stdin) never receives a complete wrong blob.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import queue
import threading

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

BLOCK = 1 << 20
# blocks read ahead of the consumer: with BLOCK, at most (DEPTH + 2) MiB in flight
DEPTH = 4


def new_hash(digest):
    """A hashlib object for ``digest``'s algorithm (``sha256:...`` / ``sha512:...``)."""
    alg = (digest or "").partition(":")[0]
    if alg not in ("sha256", "sha512"):
        raise AistackError("unsupported digest '%s'" % digest, field="src",
                           fix="give an archive whose blobs are named by sha256 or sha512 digests")
    return hashlib.new(alg)


def hexdigest_of(hasher):
    return "%s:%s" % (hasher.name, hasher.hexdigest())


def digest_error(path, member, expected, got):
    """The error for a blob whose bytes hash to ``got`` instead of ``expected``; None when they agree."""
    if got == expected:
        return None
    return AistackError("archive '%s': member '%s' has digest %s, the image manifest expects %s (corrupt archive)"
                        % (path, member, got, expected), field="src", fix="copy or save the archive again")


def truncated_error(path, digest, count, size):
    return AistackError("archive '%s': truncated: blob %s ends after %d of %d bytes" % (path, digest, count, size),
                        field="src", fix="copy the archive again")


class _End(object):
    """Queue item: the producer stopped, with ``error`` (re-raised by the consumer) or cleanly."""

    def __init__(self, error=None):
        self.error = error


class BlobStream(object):
    """A verified, read-ahead reader of one blob (``size`` bytes with ``digest``) from ``reader``.

    ``read(n)`` returns at most ``n`` bytes, ``b""`` at the end; whole blocks are returned without a copy
    when ``n`` is at least ``block``. Errors of the source (a truncated or corrupt archive) and a digest
    mismatch are raised in the consumer, by the ``read`` that would have returned the affected block.
    Use it as a context manager (or call ``close``), so the helper thread ends when the consumer stops early.
    Blobs of one block or less are read inline, without a thread.
    """

    def __init__(self, reader, size, digest, path, member=None, block=BLOCK, depth=DEPTH):
        self.reader = reader
        self.size = size
        self.digest = digest
        self.path = path
        self.member = member or digest
        self.block = block
        self.hash = new_hash(digest)
        self.count = 0  # bytes hashed (by the producer)
        self.sent = 0  # bytes handed out (to the consumer)
        self._current = b""
        self._pos = 0
        self._done = False
        self._stop = False
        self._thread = None
        self._queue = None
        if size > block:
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._produce, name="blobstream")
            self._thread.daemon = True
            self._thread.start()

    # -- producer ------------------------------------------------------------------------------
    def _next_block(self):
        """Read, hash and check the next block (the producer's step; inline for small blobs)."""
        left = self.size - self.count
        if left <= 0:
            return b""
        data = self.reader.read(min(self.block, left))
        if not data:
            raise truncated_error(self.path, self.digest, self.count, self.size)
        if len(data) > left:  # a reader that ignores the size asked for
            data = data[:left]
        self.hash.update(data)
        self.count += len(data)
        if self.count == self.size:
            error = digest_error(self.path, self.member, self.digest, hexdigest_of(self.hash))
            if error is not None:
                raise error
        return data

    def _produce(self):
        try:
            while not self._stop:
                data = self._next_block()
                if not data:
                    break
                self._queue.put(data)
            self._queue.put(_End())
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(_End(exc))

    def _take(self):
        if self._done:
            return b""
        if self._thread is None:
            try:
                data = self._next_block()
            except BaseException:
                self._done = True
                raise
        else:
            data = self._queue.get()
            if isinstance(data, _End):
                self._done = True
                self._thread.join()
                if data.error is not None:
                    raise data.error
                return b""
        if not data:
            self._done = True
        return data

    # -- consumer ------------------------------------------------------------------------------
    def read(self, size=-1):
        if self._pos >= len(self._current):
            self._current = self._take()
            self._pos = 0
            if not self._current:
                return b""
        current, pos = self._current, self._pos
        end = len(current) if size is None or size < 0 else min(len(current), pos + size)
        self._pos = end
        self.sent += end - pos
        if pos == 0 and end == len(current):
            return current
        return current[pos:end]

    def close(self):
        """Stop the helper thread (it finishes at most the block it is reading)."""
        if self._thread is None:
            return
        self._stop = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
        self._done = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
