# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the site registry image for the local cluster from Debian's docker-registry package.

No image can be pulled here, so the registry role's image is made from this machine's
``/usr/bin/docker-registry`` (distribution 2.8, from Debian) and the libraries it links, as a
docker-archive that ``image_import`` then loads into the cluster's containerd. Entrypoint and
config path match the upstream ``registry:2`` image, so the role needs no override.

  build_image.py -o registry.tar [--tag aistack.local/registry:2.8.2]
"""

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imagetools as it  # noqa: E402

BINARY = "/usr/bin/docker-registry"
DEFAULT_CONFIG = b"""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
"""


def linked_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/") and os.path.exists(part):
                libs.append(part)
    return sorted(set(libs))


def package_version():
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "docker-registry"], capture_output=True, text=True, check=False)
    version = proc.stdout.strip().split("+")[0].split("~")[0]
    return version or "2"


def layer_bytes(files):
    buf = io.BytesIO()
    dirs = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = sorted(files.items())
        for name, _src in entries:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for name in sorted(dirs | {"var/lib/registry", "tmp"}):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, src in entries:
            data = src if isinstance(src, bytes) else open(os.path.realpath(src), "rb").read()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if not isinstance(src, bytes) else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(output, tag=None):
    tag = tag or "aistack.local/registry:%s" % package_version()
    files = {BINARY.lstrip("/"): BINARY}
    for lib in linked_libraries(BINARY):
        files[lib.lstrip("/")] = lib
    files["etc/docker/registry/config.yml"] = DEFAULT_CONFIG
    work = tempfile.mkdtemp(prefix="registry-image-", dir=os.path.dirname(os.path.abspath(output)))
    layer = it.Layer.from_bytes(layer_bytes(files), work)
    config = it.image_config([layer])
    config["config"] = {"Entrypoint": [BINARY, "serve"], "Cmd": ["/etc/docker/registry/config.yml"],
                        "ExposedPorts": {"5000/tcp": {}}, "Volumes": {"/var/lib/registry": {}}}
    it.write_docker_archive(output, [tag], [layer], "none", config=config)
    os.unlink(layer.path)
    os.rmdir(work)
    return tag


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--tag")
    args = parser.parse_args()
    print(build(args.output, args.tag))


if __name__ == "__main__":
    main()
