# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: image_import against this machine's limits and the usual tools, side by side in one run.

Builds a ~1 GiB docker-archive here (4 layers of incompressible data by default) and moves the same
layer bytes with each of these, every one as its own process (its start-up counted) and into a fresh
target (a new docker-registry / a private containerd per run, so nothing is deduplicated):

  sha256 of the layers          hashlib, one pass over the layer files (what hashing each byte costs)
  raw upload, sendfile          a plain HTTP client: POST, then a monolithic PUT ?digest= (digest known in
                                advance) with Content-Length, the body moved by socket.sendfile (no copy
                                through user space, no hashing): the transport + registry limit
  raw upload, curl              the same PUT by curl -T (how the limit was first measured by hand)
  image_import -> registry      the module's code (load_sources + import_images), as the module runs it
  skopeo copy --preserve-digests -> registry   the same work: layers pushed as they are
  image_import -> containerd    through `ctr images import -` (unpack on)
  ctr images import             of the archive file (unpack on)

Each round runs every row once, the rows a ratio compares next to each other, every other round in the
reverse order; the machine is shared, so the medians over --rounds count (and the ratios of each round,
printed in brackets), and the load average is printed with every figure. MB/s are 10^6 bytes of layer
data per second. Peak RSS is the measured process's own ru_maxrss (ctr's excludes containerd, which
does the writing for both containerd rows; the registry's is in no row).

  .venv/bin/python benchmarks/image_import_bench.py [--size-mb 1024] [--rounds 3]
      [--compression none|gzip|zstd|bzip2] [--skip-containerd] [--json out.json]
Targets (issue 18): registry >= 0.9x the raw upload and >= 1.0x skopeo; containerd >= 1.0x ctr; peak RSS < 200 MiB.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "images", "registry"))
COLLECTIONS = os.path.join(ROOT, "build", "collections")

import imagetools as it  # noqa: E402

# The measured programs. argv: mode, then mode-specific arguments. Kept free of the benchmark's imports.
RUNNER = r"""
import hashlib, http.client, json, os, socket, subprocess, sys
sys.path.insert(0, %(collections)r)
mode = sys.argv[1]

def upload_session(conn, repo):
    conn.request("POST", "/v2/%%s/blobs/uploads/" %% repo, headers={"Content-Length": "0"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 202, resp.status
    location = resp.getheader("Location")
    if location.startswith("http"):
        location = "/" + location.split("/", 3)[3]
    return location + ("&" if "?" in location else "?")

if mode == "sha256":
    for path in sys.argv[2:]:
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as handle:
            while True:
                block = handle.read(1 << 20)
                if not block:
                    break
                digest.update(block)
elif mode in ("raw-sendfile", "raw-curl"):
    addr, layers = sys.argv[2], json.load(open(sys.argv[3]))
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    for layer in layers:
        url = upload_session(conn, "bench/raw") + "digest=" + layer["digest"]
        if mode == "raw-curl":
            subprocess.run(["curl", "-sSf", "-o", "/dev/null", "-X", "PUT", "-T", layer["path"],
                            "-H", "Content-Type: application/octet-stream", "http://%%s%%s" %% (addr, url)],
                           check=True)
            continue
        conn.putrequest("PUT", url)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(layer["size"]))
        conn.endheaders()
        with open(layer["path"], "rb") as handle:
            conn.sock.sendfile(handle, 0, layer["size"])
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201, resp.status
else:
    from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp
    src, dest = sys.argv[2], sys.argv[3]
    loaded = imp.load_sources(src)
    if mode == "registry":
        from ansible_collections.aistack.platform.plugins.module_utils.images.registry import RegistryClient
        changed, images = imp.import_images(imp.RegistryTarget(RegistryClient(dest), dest), loaded)
    else:
        from ansible_collections.aistack.platform.plugins.module_utils.images.containerd import CtrClient
        changed, images = imp.import_images(imp.ContainerdTarget(CtrClient(dest, "k8s.io")), loaded)
    assert changed, images
"""


def ensure_link():
    link = os.path.join(COLLECTIONS, "ansible_collections", "aistack", "platform")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)


def measure(cmd, work):
    """Run ``cmd``; return (seconds, peak RSS in MiB of that process). Output goes to a file, not a pipe."""
    with tempfile.TemporaryFile(dir=work) as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            raise SystemExit("%s failed:\n%s" % (" ".join(cmd), out.read()[-3000:].decode(errors="replace")))
    return elapsed, usage.ru_maxrss / 1024.0


class _RandomReader(object):
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def build_archive(work, size_mb, compression):
    """The archive, and its layers as files (path, size, digest) for the rows that read layers directly."""
    layers = []
    per_layer = max(1, size_mb // 4)
    for number in range(4):
        path = os.path.join(work, "layer%d.tar" % number)
        with open(path, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo("data/blob%d.bin" % number)
                info.size = per_layer << 20
                info.mtime = 0
                tar.addfile(info, _RandomReader(info.size))
        layers.append(it.Layer(path))
    archive = os.path.join(work, "bench" + it.SUFFIX[compression])
    it.write_docker_archive(archive, ["aistack.local/bench:1"], layers, compression)
    listing = os.path.join(work, "layers.json")
    with open(listing, "w") as handle:
        json.dump([dict(path=l.path, size=l.size, digest="sha256:" + l.digest) for l in layers], handle)
    return archive, layers, listing


def load_average():
    return "%.1f" % os.getloadavg()[0]


class Row(object):
    def __init__(self, key, label, target, cmd):
        self.key, self.label, self.target, self.cmd = key, label, target, cmd
        self.seconds, self.rss, self.loads = [], [], []


def run_row(row, work):
    """One measurement of ``row`` against a fresh target; returns (seconds, rss)."""
    scratch = tempfile.mkdtemp(dir=work)
    server = None
    try:
        if row.target == "registry":
            server = it.LocalRegistry(scratch).start()
            cmd = [c.replace("{addr}", server.address) for c in row.cmd]
        elif row.target == "containerd":
            server = it.PrivateContainerd(scratch).start()
            cmd = [c.replace("{sock}", server.socket) for c in row.cmd]
        else:
            cmd = row.cmd
        os.sync()  # the previous run's writes are not flushed on this one's time
        row.loads.append(os.getloadavg()[0])
        seconds, rss = measure(cmd, work)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    row.seconds.append(seconds)
    row.rss.append(rss)
    return seconds, rss


def mbps(size, seconds):
    return size / 1e6 / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("AISTACK_BENCH_SIZE_MB", "1024")),
                        help="archive size in MiB (4 layers)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all rows; medians are reported")
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "zstd", "bzip2"])
    parser.add_argument("--skip-containerd", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    ensure_link()
    missing = [tool for tool in ("skopeo", "curl") if shutil.which(tool) is None]
    if not it.LocalRegistry.available():
        missing.append("docker-registry")
    with_containerd = not args.skip_containerd
    if with_containerd and not (shutil.which("containerd") and shutil.which("ctr")):
        missing.append("containerd")
    if missing:
        sys.exit("missing: %s (apt-get install %s, or tests/cluster/cluster.sh build)"
                 % (", ".join(missing), " ".join(missing)))
    work = tempfile.mkdtemp(prefix="aistack-bench-", dir=os.environ.get("AISTACK_BENCH_DIR"))
    try:
        print("building the archive (%d MiB, %s) ..." % (args.size_mb, args.compression), flush=True)
        archive, layers, listing = build_archive(work, args.size_mb, args.compression)
        size = sum(l.size for l in layers)
        print("archive %s: %.0f MiB; layer data %d bytes (%.2f GB)"
              % (archive, os.path.getsize(archive) / (1 << 20), size, size / 1e9))
        runner = os.path.join(work, "runner.py")
        with open(runner, "w") as handle:
            handle.write(RUNNER % {"collections": COLLECTIONS})
        py = [sys.executable, runner]
        # the order puts each pair that a ratio compares side by side, and every other round runs it backwards
        # (A B B A), so a load that rises or falls during a round weighs on both members of a pair alike
        rows = [
            Row("sha256", "sha256 of the layers (hashlib, one pass)", None, py + ["sha256"] + [l.path for l in layers]),
            Row("skopeo", "skopeo copy --preserve-digests -> registry", "registry",
                ["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
                 "docker-archive:" + archive, "docker://{addr}/bench/skopeo:1"]),
            Row("ours_registry", "image_import -> registry", "registry", py + ["registry", archive, "{addr}"]),
            Row("raw_sendfile", "raw upload: PUT ?digest=, sendfile", "registry",
                py + ["raw-sendfile", "{addr}", listing]),
            Row("raw_curl", "raw upload: PUT ?digest=, curl -T", "registry", py + ["raw-curl", "{addr}", listing]),
        ]
        if with_containerd:
            rows += [
                Row("ours_containerd", "image_import -> containerd (unpack)", "containerd",
                    py + ["containerd", archive, "{sock}"]),
                Row("ctr", "ctr images import (unpack)", "containerd",
                    ["ctr", "-a", "{sock}", "-n", "k8s.io", "images", "import", archive]),
            ]
        for number in range(args.rounds):
            order = rows if number % 2 == 0 else rows[::-1]
            print("round %d/%d (load average %s):" % (number + 1, args.rounds, load_average()), flush=True)
            for row in order:
                seconds, rss = run_row(row, work)
                print("  %-44s %6.2f s %7.1f MB/s  peak RSS %6.1f MiB  load %.1f"
                      % (row.label, seconds, mbps(size, seconds), rss, row.loads[-1]), flush=True)

        by_key = dict((row.key, row) for row in rows)
        med = dict((row.key, statistics.median(row.seconds)) for row in rows)
        print()
        print("medians of %d round(s), %.2f GB of layer data (load average during the runs %.1f-%.1f):"
              % (args.rounds, size / 1e9, min(min(r.loads) for r in rows), max(max(r.loads) for r in rows)))
        print("  %-44s %8s %9s %14s %12s" % ("", "s", "MB/s", "MB/s (rounds)", "peak RSS"))
        for row in rows:
            print("  %-44s %8.2f %9.1f %14s %8.1f MiB" % (
                row.label, med[row.key], mbps(size, med[row.key]),
                "/".join("%.0f" % mbps(size, s) for s in row.seconds), max(row.rss)))
        raw_key = min(("raw_sendfile", "raw_curl"), key=lambda k: med[k])
        ratios = [
            ("image_import registry / raw upload (%s)" % by_key[raw_key].label.split(", ")[-1], "ours_registry",
             raw_key, 0.9),
            ("image_import registry / skopeo --preserve-digests", "ours_registry", "skopeo", 1.0),
            ("image_import registry / sha256 alone", "ours_registry", "sha256", None),
        ]
        if with_containerd:
            ratios.append(("image_import containerd / ctr images import", "ours_containerd", "ctr", 1.0))
        print("ratios of throughput (median; per round in brackets):")
        summary = {}
        for label, ours, other, target in ratios:
            ratio = med[other] / med[ours]
            paired = [o / s for s, o in zip(by_key[ours].seconds, by_key[other].seconds)]
            verdict = ""
            if target is not None:
                verdict = "  target >= %.1f: %s" % (target, "met" if ratio >= target else "NOT met")
            print("  %-52s %.2fx  [%s]%s" % (label, ratio, " ".join("%.2f" % p for p in paired), verdict))
            summary[ours + "/" + other] = round(ratio, 3)
        peak = max(max(by_key[k].rss) for k in by_key if k.startswith("ours_"))
        print("  peak RSS of image_import: %.1f MiB (target < 200 MiB)" % peak)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(dict(size_bytes=size, compression=args.compression, rounds=args.rounds, ratios=summary,
                               rows=[dict(key=r.key, label=r.label, seconds=[round(s, 3) for s in r.seconds],
                                          peak_rss_mib=[round(m, 1) for m in r.rss],
                                          load_average=[round(v, 2) for v in r.loads],
                                          median_mb_per_s=round(mbps(size, med[r.key]), 1)) for r in rows]),
                          handle, indent=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
