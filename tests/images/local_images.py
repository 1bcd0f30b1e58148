"""Build the local site's images here and import them into the local cluster: what `make site` runs first.

No image can be pulled on the machines this project is built on, so every image the local site runs is
built from its upstream release (PyPI, Debian, Go modules) on the debootstrapped base image. Docker's layer
cache and the binaries' version-keyed caches make a warm run a check per image (a few seconds in all); an
image goes into the cluster's containerd only when the cluster lacks that exact image.

    python3 tests/images/local_images.py [NAME ...]    # default: every image of the local site
    python3 tests/images/local_images.py --list
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
BUILD_CONTEXT = HERE / "langgraph-worker" / "build-image.sh"


def _versions():
    out = {}
    for line in (ROOT / "tests" / "cluster" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def catalogue():
    """name -> (image reference, build command, where it runs: cluster and/or docker, cold build hint)."""
    v = _versions()
    loki = v.get("LOKI_VERSION", "v3.5.7").lstrip("v")
    traefik = v.get("TRAEFIK_VERSION", "v3.6.12")

    def ctx(name):
        return [str(BUILD_CONTEXT), str(HERE / name)]

    items = {
        "postgres": ("aistack.local/postgres:17", ctx("postgres"), {"docker", "cluster"}, "1 min"),
        "redis": ("aistack.local/redis:8", ctx("redis"), {"docker", "cluster"}, "30 s"),
        "langflow": ("aistack.local/langflow:1.13.0", ctx("langflow"), {"cluster"}, "2-6 min"),
        "lightrag": ("aistack.local/lightrag:1.5.7", ctx("lightrag"), {"cluster"}, "1-2 min"),
        "phoenix": ("aistack.local/phoenix:20.26.1", ctx("phoenix"), {"cluster"}, "2-4 min"),
        "prometheus": ("aistack.local/prometheus:2.53.3", ctx("prometheus"), {"cluster"}, "1 min"),
        "loki": ("aistack.local/loki:" + loki, [str(HERE / "loki" / "build-images.sh"), "loki"], {"cluster"},
                 "9 min (Go build, shared with promtail)"),
        "promtail": ("aistack.local/promtail:" + loki, [str(HERE / "loki" / "build-images.sh"), "promtail"],
                     {"cluster"}, "with loki"),
        "traefik": ("aistack.local/traefik:" + traefik, [str(HERE / "traefik" / "build-image.sh")], {"cluster"},
                    "10 min (Go build)"),
        "langgraph-worker": ("aistack.local/langgraph-worker:0.1.0", ctx("langgraph-worker"), {"cluster"}, "1 min"),
        "llm-standin": ("aistack.local/llm-standin:1.0.0", ctx("llm-standin"), {"cluster"}, "20 s"),
    }
    # A checkout without a part (e.g. before its image directory exists) simply lacks that image.
    return {name: item for name, item in items.items() if Path(item[1][-1] if len(item[1]) > 1 and
            item[1][0] == str(BUILD_CONTEXT) else item[1][0]).exists()}


def _log(msg):
    sys.stderr.write("[images %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def docker_has(ref, source_hash=None):
    """Docker holds ``ref`` (built from sources with ``source_hash``, when given)."""
    proc = subprocess.run(["docker", "image", "inspect", "-f", '{{index .Config.Labels "aistack.source-hash"}}', ref],
                          capture_output=True, text=True, check=False)
    return proc.returncode == 0 and (source_hash is None or proc.stdout.strip() == source_hash)


def source_hash(context):
    """Digest of a build context's files (names and contents), so an edit rebuilds an image whose tag stays."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(context).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def docker_id(ref):
    return subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True,
                          check=True).stdout.strip()


def cluster_config_digest(ref):
    """Config digest of ``ref`` in the local cluster's containerd, or None."""
    sock = subprocess.run([str(CLUSTER_SH), "containerd-socket"], capture_output=True, text=True,
                          check=False).stdout.strip()
    if not sock:
        return None
    listing = subprocess.run(["ctr", "-a", sock, "-n", "k8s.io", "images", "ls", "name==" + ref],
                             capture_output=True, text=True, check=False).stdout.splitlines()
    if len(listing) < 2:
        return None
    manifest = subprocess.run(["ctr", "-a", sock, "-n", "k8s.io", "content", "get", listing[1].split()[2]],
                              capture_output=True, text=True, check=False).stdout
    try:
        return json.loads(manifest)["config"]["digest"]
    except (ValueError, KeyError):
        return None


@contextlib.contextmanager
def _locked(name, waiting_msg=None):
    """Hold the file lock ``name`` (shared by every process on this machine: `make integration` builds the
    Go-built images in the background while tests that need them wait here instead of building them twice)."""
    locks = CACHE / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / (name.replace("/", "_").replace(":", "_") + ".lock"), "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            start = time.time()
            if waiting_msg:
                _log(waiting_msg)
            fcntl.flock(handle, fcntl.LOCK_EX)
            if waiting_msg:
                _log("%s: done waiting after %.0f s" % (name, time.time() - start))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(ref, command, hint=""):
    """docker build ``ref`` with ``command`` unless Docker has it (from the same sources, for a build context);
    returns seconds spent building. Another process building ``ref`` is waited for, not repeated."""
    wanted = None
    if command[0] == str(BUILD_CONTEXT):
        wanted = source_hash(command[1])
        command = command + [ref, wanted]
    if docker_has(ref, wanted):
        return 0.0
    with _locked("build-" + ref, "waiting for %s: another process builds it (cold: about %s)" % (ref, hint or "a minute")):
        if docker_has(ref, wanted):
            return 0.0
        _log("building %s (cold: about %s)" % (ref, hint or "a minute"))
        start = time.time()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not docker_has(ref, wanted):
            raise RuntimeError("building %s failed:\n%s%s" % (ref, proc.stdout[-3000:], proc.stderr[-3000:]))
        took = time.time() - start
        _log("built %s in %.0f s" % (ref, took))
        return took


def import_into_cluster(ref):
    """Import ``ref`` from Docker into the local cluster's containerd unless it holds that exact image.

    One import at a time, across processes: they are disk-bound, and two would only slow each other down."""
    with _locked("import", "waiting to import %s: another import runs" % ref):
        if cluster_config_digest(ref) == docker_id(ref):
            return False
        _log("importing %s into the cluster's containerd" % ref)
        subprocess.run([str(CLUSTER_SH), "import-image", ref], check=True, capture_output=True)
        return True


def lane(command):
    """Which build lane an image's command belongs to: "go" for the images around a Go binary that
    cluster.sh compiles (CPU-bound, minutes cold), "docker" for Docker builds on the base image (mostly
    package downloads and unpacking). The two lanes run side by side."""
    return "docker" if command[0] == str(BUILD_CONTEXT) else "go"


def plan(names, items, lanes=None):
    """The image names of each lane, in catalogue order -> {lane: [name, ...]} (lanes limits it)."""
    out = {}
    for name in names:
        which = lane(items[name][1])
        if lanes is None or which in lanes:
            out.setdefault(which, []).append(name)
    return out


def _run_lane(names, items, build_only):
    for name in names:
        ref, command, where, hint = items[name]
        build(ref, command, hint)
        if "cluster" in where and not build_only:
            import_into_cluster(ref)


def ensure(names=None, build_only=False, lanes=None):
    """Build (and, unless ``build_only``, import into the cluster) the images ``names`` (default: all),
    the Go lane and the Docker lane side by side."""
    items = catalogue()
    unknown = [n for n in names or [] if n not in items]
    if unknown:
        raise SystemExit("unknown image(s) %s; known: %s" % (", ".join(unknown), ", ".join(items)))
    start = time.time()
    work = plan(names or list(items), items, lanes)
    with ThreadPoolExecutor(max_workers=max(1, len(work))) as pool:
        futures = [pool.submit(_run_lane, lane_names, items, build_only) for lane_names in work.values()]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    count = sum(len(v) for v in work.values())
    _log("%d image(s) %s in %.0f s" % (count, "built" if build_only else "ready", time.time() - start))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--build-only", action="store_true",
                        help="build in Docker only, no cluster needed (make runs it while the cluster builds)")
    parser.add_argument("--lane", choices=["docker", "go"], action="append",
                        help="only the images of this build lane (repeatable)")
    args = parser.parse_args(argv)
    if args.list:
        for name, (ref, _cmd, where, hint) in catalogue().items():
            print("%-18s %-40s %-15s %-7s cold %s" % (name, ref, ",".join(sorted(where)), lane(_cmd), hint))
        return 0
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise SystemExit("no Docker engine: run tests/cluster/cluster.sh docker base-image")
    ensure(args.names, build_only=args.build_only, lanes=args.lane)
    return 0


if __name__ == "__main__":
    sys.exit(main())
