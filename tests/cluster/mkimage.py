"""Write a single-layer image as a docker-archive (what `docker save` makes, `docker load` and
`ctr images import` read), without a Docker engine.

The test cluster's system images (pause, CoreDNS, local-path provisioner, demohttp) are one static
binary each, and the Debian base is one rootfs tarball, so a builder this small is all they need and
the cluster does not depend on dockerd. Output is reproducible: fixed mtimes, sorted entries.

  python3 mkimage.py --tag aistack.local/pause:1 --file /path/pause:/pause --entrypoint /pause -o pause.tar
  python3 mkimage.py --tag aistack.local/debian:trixie --rootfs-tar rootfs.tar --cmd /bin/bash -o debian.tar
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile

CHUNK = 1 << 20


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _add_dirs(tar, path, seen):
    parts = path.strip("/").split("/")[:-1]
    for i in range(len(parts)):
        name = "/".join(parts[: i + 1])
        if name and name not in seen:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
            seen.add(name)


def write_layer(layer_path, files):
    """Layer from (source, destination) pairs; source None means an empty directory."""
    seen = set()
    with tarfile.open(layer_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for src, dest in sorted(files, key=lambda item: item[1]):
            _add_dirs(tar, dest, seen)
            name = dest.strip("/")
            if src is None:
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if name == "tmp" else 0o755
                tar.addfile(info)
                seen.add(name)
                continue
            info = tarfile.TarInfo(name)
            info.size = os.path.getsize(src)
            info.mode = os.stat(src).st_mode & 0o7777
            with open(src, "rb") as handle:
                tar.addfile(info, handle)


def build(args):
    work = tempfile.mkdtemp(prefix="mkimage-", dir=os.path.dirname(os.path.abspath(args.output)))
    try:
        layer = os.path.join(work, "layer.tar")
        if args.rootfs_tar:
            shutil.copyfile(args.rootfs_tar, layer)
        else:
            files = []
            for spec in args.file:
                src, dest = spec.split(":", 1)
                files.append((src, dest))
            for directory in args.dir:
                files.append((None, directory))
            write_layer(layer, files)
        diff_id = _sha256_file(layer)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + args.env,
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "aistack mkimage.py"}],
        }
        if args.entrypoint:
            config["config"]["Entrypoint"] = args.entrypoint
        if args.cmd:
            config["config"]["Cmd"] = args.cmd
        if args.user:
            config["config"]["User"] = args.user
        if args.port:
            config["config"]["ExposedPorts"] = {"%s/tcp" % p: {} for p in args.port}
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": [diff_id + "/layer.tar"]}]
        tmp_out = args.output + ".part"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as out:
            for name, payload in ((config_name, config_bytes),
                                  ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                info.mode = 0o644
                out.addfile(info, io.BytesIO(payload))
            info = tarfile.TarInfo(diff_id)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            out.addfile(info)
            out.add(layer, arcname=diff_id + "/layer.tar", filter=_normalise)
        os.replace(tmp_out, args.output)
        print("%s sha256:%s" % (args.tag, hashlib.sha256(config_bytes).hexdigest()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _normalise(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--file", action="append", default=[], help="SRC:DEST (repeatable)")
    parser.add_argument("--dir", action="append", default=[], help="empty directory to create (repeatable)")
    parser.add_argument("--rootfs-tar", help="use this tarball as the layer")
    parser.add_argument("--entrypoint", nargs="+")
    parser.add_argument("--cmd", nargs="+")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--user")
    parser.add_argument("--port", action="append", default=[])
    parser.add_argument("-o", "--output", required=True)
    build(parser.parse_args())


if __name__ == "__main__":
    main()
