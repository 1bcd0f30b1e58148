"""Build the local site's images here and import them into the local cluster: what `make site` runs first.

No image can be pulled on the machines this project is built on, so every image the local site runs is
built from its upstream release (PyPI, Debian, Go modules) on the debootstrapped base image. Docker's layer
cache and the binaries' version-keyed caches make a warm run a check per image (a few seconds in all); an
image goes into the cluster's containerd only when the cluster lacks that exact image.

    python3 tests/images/local_images.py [NAME ...]    # default: every image of the local site
    python3 tests/images/local_images.py --list
"""

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
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


def build(ref, command, hint=""):
    """docker build ``ref`` with ``command`` unless Docker has it (from the same sources, for a build context);
    returns seconds spent building."""
    wanted = None
    if command[0] == str(BUILD_CONTEXT):
        wanted = source_hash(command[1])
        command = command + [ref, wanted]
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
    """Import ``ref`` from Docker into the local cluster's containerd unless it holds that exact image."""
    if cluster_config_digest(ref) == docker_id(ref):
        return False
    _log("importing %s into the cluster's containerd" % ref)
    subprocess.run([str(CLUSTER_SH), "import-image", ref], check=True, capture_output=True)
    return True


def ensure(names=None):
    items = catalogue()
    unknown = [n for n in names or [] if n not in items]
    if unknown:
        raise SystemExit("unknown image(s) %s; known: %s" % (", ".join(unknown), ", ".join(items)))
    start = time.time()
    for name in names or list(items):
        ref, command, where, hint = items[name]
        build(ref, command, hint)
        if "cluster" in where:
            import_into_cluster(ref)
    _log("%d image(s) ready in %.0f s" % (len(names or items), time.time() - start))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name, (ref, _cmd, where, hint) in catalogue().items():
            print("%-18s %-40s %-15s cold %s" % (name, ref, ",".join(sorted(where)), hint))
        return 0
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise SystemExit("no Docker engine: run tests/cluster/cluster.sh docker base-image")
    ensure(args.names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
