"""Benchmark: a cold Go build of one of the local cluster's pinned tools, the Go runtime's default GC pace
(GOGC=100) against the pace cluster.sh sets (GOGC=400 by default), side by side in one run.

The Go compiler and linker spend a good part of a cold build collecting garbage; a slower pace trades memory
for CPU on this 2-core machine. Each round builds the same tool from an empty build cache (the module cache is
shared and filled first, so downloads are not timed), alternating the two settings; the medians are compared,
and the peak resident memory of the largest compiler/linker process is printed beside them.
Target: ratio (GOGC=400 / GOGC=100) <= 0.9 with peak memory < 4 GiB.

  benchmarks/go_build_bench.py [--tool helm] [--rounds 1] [--gogc 400]
"""

from __future__ import print_function

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))


def build(tool, gogc, workdir):
    """Seconds and peak RSS (KiB) of `go build ... tool` from an empty GOCACHE."""
    gocache = Path(workdir) / ("gocache-%s" % gogc)
    shutil.rmtree(gocache, ignore_errors=True)
    env = dict(os.environ, GOCACHE=str(gocache), GOMODCACHE=str(CACHE / "go-mod"), GOFLAGS="-mod=mod",
               CGO_ENABLED="0", GOGC=str(gogc))
    start = time.time()
    proc = subprocess.run(["/usr/bin/time", "-v", "go", "build", "-trimpath", "-ldflags", "-s -w", "-o",
                           str(Path(workdir) / "out") + "/", "tool"], cwd=str(ROOT / "tests/cluster/go" / tool),
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.time() - start
    if proc.returncode != 0:
        raise SystemExit("build failed:\n" + proc.stderr[-3000:])
    # /usr/bin/time reports the largest child (the compile or link process with the biggest heap)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    shutil.rmtree(gocache, ignore_errors=True)
    return seconds, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", default="helm", help="a folder of tests/cluster/go (default helm)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gogc", type=int, default=400)
    args = parser.parse_args()
    subprocess.run(["go", "mod", "download"], cwd=str(ROOT / "tests/cluster/go" / args.tool), check=True,
                   env=dict(os.environ, GOMODCACHE=str(CACHE / "go-mod"), GOFLAGS="-mod=mod"))
    times = {100: [], args.gogc: []}
    peaks = {100: 0, args.gogc: 0}
    with tempfile.TemporaryDirectory(prefix="gobench-") as workdir:
        for round_ in range(args.rounds):
            order = (100, args.gogc) if round_ % 2 == 0 else (args.gogc, 100)
            for gogc in order:
                seconds, rss = build(args.tool, gogc, workdir)
                times[gogc].append(seconds)
                peaks[gogc] = max(peaks[gogc], rss)
                print("round %d GOGC=%-4d %6.1f s  peak %5d MiB" % (round_ + 1, gogc, seconds, rss // 1024), flush=True)
    base, tuned = statistics.median(times[100]), statistics.median(times[args.gogc])
    print("%s cold build: GOGC=100 %.1f s, GOGC=%d %.1f s, ratio %.2f (target <= 0.9); peak %d vs %d MiB"
          % (args.tool, base, args.gogc, tuned, tuned / base, peaks[100] // 1024, peaks[args.gogc] // 1024))


if __name__ == "__main__":
    main()
