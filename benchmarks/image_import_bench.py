# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: image_import against skopeo copy (registry) and ctr images import (containerd), same run.

Builds a ~1 GiB docker-archive here (4 layers of incompressible data by default), then imports it:

  registry   : image_import (target=registry)    vs  skopeo copy docker-archive: docker://
               (skopeo both with --preserve-digests, i.e. layers pushed as they are, like image_import,
               and with its default gzip recompression)
  containerd : image_import (target=containerd)  vs  ctr images import (both unpack)

Every run gets a fresh registry / containerd, so nothing is deduplicated across tools. Peak RSS is the
measured process's own ru_maxrss (for image_import: the Python process running the module's code;
ctr's figure does not include containerd, which does the writing for both containerd runs).

  .venv/bin/python benchmarks/image_import_bench.py [--size-mb 1024] [--compression none|gzip|zstd]
      [--skip-containerd] [--json out.json]
Target: >= 0.8x skopeo's throughput, peak RSS < 200 MiB.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "images", "registry"))
COLLECTIONS = os.path.join(ROOT, "build", "collections")

import imagetools as it  # noqa: E402

RUNNER = r"""
import sys
sys.path.insert(0, %(collections)r)
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp
target, src, dest = sys.argv[1], sys.argv[2], sys.argv[3]
loaded = imp.load_sources(src)
if target == "registry":
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


def measure(cmd, env=None):
    """Run ``cmd``; return (seconds, peak RSS in MiB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace")
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (" ".join(cmd), out, err[-3000:]))
    return elapsed, usage.ru_maxrss / 1024.0


def build_archive(work, size_mb, compression):
    layers = []
    per_layer = max(1, size_mb // 4)
    for number in range(4):
        path = os.path.join(work, "layer%d.tar" % number)
        with open(path, "wb") as raw:
            import tarfile
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo("data/blob%d.bin" % number)
                info.size = per_layer << 20
                info.mtime = 0
                reader = _RandomReader(info.size)
                tar.addfile(info, reader)
        layers.append(it.Layer(path))
    archive = os.path.join(work, "bench" + it.SUFFIX[compression])
    it.write_docker_archive(archive, ["aistack.local/bench:1"], layers, compression)
    for layer in layers:
        os.unlink(layer.path)
    return archive


class _RandomReader(object):
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def row(name, seconds, rss, size):
    mbps = size / (1 << 20) / seconds
    print("  %-44s %7.1f s %8.1f MB/s  peak RSS %7.1f MiB" % (name, seconds, mbps, rss))
    return dict(name=name, seconds=round(seconds, 2), mb_per_s=round(mbps, 1), peak_rss_mib=round(rss, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("AISTACK_BENCH_SIZE_MB", "1024")))
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "zstd", "bzip2"])
    parser.add_argument("--skip-containerd", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    ensure_link()
    work = tempfile.mkdtemp(prefix="aistack-bench-", dir=os.environ.get("AISTACK_BENCH_DIR"))
    results = {}
    try:
        archive = build_archive(work, args.size_mb, args.compression)
        size = os.path.getsize(archive)
        print("archive %s: %.0f MiB (%s)" % (archive, size / (1 << 20), args.compression))
        runner = os.path.join(work, "runner.py")
        with open(runner, "w") as handle:
            handle.write(RUNNER % {"collections": COLLECTIONS})

        print("registry (docker-registry on 127.0.0.1, fresh storage per run):")
        reg_rows = []
        for name, cmd in [
            ("image_import -> registry", [sys.executable, runner, "registry", archive, "{addr}"]),
            ("skopeo copy --preserve-digests -> registry",
             ["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
              "docker-archive:" + archive, "docker://{addr}/bench/skopeo:1"]),
            ("skopeo copy (gzip, default) -> registry",
             ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "docker-archive:" + archive,
              "docker://{addr}/bench/skopeo:1"]),
        ]:
            regdir = tempfile.mkdtemp(dir=work)
            registry = it.LocalRegistry(regdir).start()
            try:
                seconds, rss = measure([c.replace("{addr}", registry.address) for c in cmd])
            finally:
                registry.stop()
                shutil.rmtree(regdir, ignore_errors=True)
            reg_rows.append(row(name, seconds, rss, size))
        results["registry"] = reg_rows
        ours, skopeo_plain, skopeo_gzip = reg_rows
        print("  ratio image_import / skopeo --preserve-digests: %.2fx; / skopeo default: %.2fx"
              % (ours["mb_per_s"] / skopeo_plain["mb_per_s"], ours["mb_per_s"] / skopeo_gzip["mb_per_s"]))

        if not args.skip_containerd and shutil.which("containerd"):
            print("containerd (private instance per run, unpack on):")
            ctd_rows = []
            for name, cmd in [
                ("image_import -> containerd", [sys.executable, runner, "containerd", archive, "{sock}"]),
                ("ctr images import", ["ctr", "-a", "{sock}", "-n", "k8s.io", "images", "import", archive]),
            ]:
                cdir = tempfile.mkdtemp(dir=work)
                ctd = it.PrivateContainerd(cdir).start()
                try:
                    seconds, rss = measure([c.replace("{sock}", ctd.socket) for c in cmd])
                finally:
                    ctd.stop()
                    shutil.rmtree(cdir, ignore_errors=True)
                ctd_rows.append(row(name, seconds, rss, size))
            results["containerd"] = ctd_rows
            print("  ratio image_import / ctr images import: %.2fx"
                  % (ctd_rows[0]["mb_per_s"] / ctd_rows[1]["mb_per_s"]))
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(dict(size_bytes=size, compression=args.compression, results=results), handle, indent=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
