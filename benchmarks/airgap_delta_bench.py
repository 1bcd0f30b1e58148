# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the full airgap bundle against the delta bundle of a one-image version bump, same run.

A "connected" registry on 127.0.0.1 holds a site's images: --images images that share one base layer
(--base-mb) and each have their own layer (--app-mb), all gzip as registries publish them. Then:

  1. playbooks/airgap_export.yml writes the full bundle (signed);
  2. the import tasks push it into a "site" registry, which writes the import receipt (a file);
  3. one image gets a new version: the base layer kept, its own layer rebuilt (same size);
  4. playbooks/airgap_export.yml with airgap_base_receipt (the receipt of step 2) writes the delta bundle;
  5. the delta is imported on the site (it must find the omitted layers there).

Printed side by side: the bytes of each bundle's image files and of the whole directory, their ratio, the layers
each carries, and how long each export and import took (ansible-playbook wall time, playbook start included).

  .venv/bin/python benchmarks/airgap_delta_bench.py [--images 6] [--base-mb 64] [--app-mb 16] [--json out.json]
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

IMPORT_PLAYBOOK = """
- name: Import the bundle (the registry part of playbooks/airgap_import.yml)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Verify and import
      ansible.builtin.include_role:
        name: aistack.platform.airgap
        tasks_from: import
"""


def layer(work, name, size):
    raw = it.Layer.from_bytes(it.tar_bytes({name: os.urandom(size)}), work)
    packed = it.gzip_layer(raw, work)
    packed.raw = raw
    return packed


def push(source, work, ref, layers):
    archive = os.path.join(work, ref.replace("/", "_").replace(":", "_") + ".tar")
    it.write_oci_archive(archive, "%s/%s" % (source.address, ref), layers, diff_layers=[l.raw for l in layers],
                         layer_media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    result = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                           dict(src=archive, target="registry", registry=source.address))
    if result.get("failed"):
        raise SystemExit("push of %s failed: %s" % (ref, result.get("msg")))
    os.unlink(archive)
    return "%s/%s" % (source.address, ref)


def playbook(path, extra):
    env = it.ansible_env(COLLECTIONS, {"ANSIBLE_STDOUT_CALLBACK": "default"})
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", path, "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
                          env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (path, proc.stdout[-4000:]))
    return seconds


def measure(bundle):
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    image_bytes = 0
    for image in manifest["images"]:
        files = [part["file"] for part in image.get("parts") or []] or [image["file"]]
        image_bytes += sum(os.path.getsize(os.path.join(bundle, name)) for name in files)
    total = sum(os.path.getsize(os.path.join(dirpath, name)) for dirpath, _dirs, names in os.walk(bundle)
                for name in names)
    carried = sum(len(image.get("carried") or []) for image in manifest["images"])
    return dict(image_bytes=image_bytes, total_bytes=total, format=manifest["format"],
                layers_carried=carried if manifest["format"].endswith("v2") else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--base-mb", type=int, default=64)
    parser.add_argument("--app-mb", type=int, default=16)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not it.LocalRegistry.available() or not shutil.which("skopeo"):
        raise SystemExit("needs Debian's docker-registry and skopeo (apt-get install docker-registry skopeo)")
    work = tempfile.mkdtemp(prefix="airgap-delta-bench-")
    source = it.LocalRegistry(os.path.join(work, "source")).start()
    site = it.LocalRegistry(os.path.join(work, "site")).start()
    try:
        key = os.path.join(work, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        signer = dict(name="bench", key=open(key + ".pub").read().strip())
        base = layer(work, "base", args.base_mb << 20)
        refs = [push(source, work, "bench/app%d:1.0" % n, [base, layer(work, "app", args.app_mb << 20)])
                for n in range(args.images)]
        common = dict(airgap_image_vars=[], airgap_bootstrap_images=[], aistack_charts=[], airgap_k3s_release=False,
                      airgap_export_tls_verify=False, airgap_signing_key=key)
        full, delta = os.path.join(work, "full"), os.path.join(work, "delta")
        receipt = os.path.join(work, "receipt.json")
        export = os.path.join(ROOT, "playbooks", "airgap_export.yml")
        import_pb = os.path.join(work, "import.yml")
        with open(import_pb, "w") as handle:
            handle.write(IMPORT_PLAYBOOK)
        imports = dict(aistack_registry=site.address, aistack_registry_project="site", airgap_receipt_configmap="",
                       airgap_receipt_file=receipt, airgap_trusted_signers=[signer],
                       aistack_charts_dir=os.path.join(work, "charts"))
        times = {}
        print("%d images of %d MiB shared base + %d MiB own layer; bump: app0 1.0 -> 2.0 (own layer rebuilt)"
              % (args.images, args.base_mb, args.app_mb))
        times["export_full"] = playbook(export, dict(common, aistack_images=refs, aistack_bundle_dir=full))
        times["import_full"] = playbook(import_pb, dict(imports, aistack_bundle_dir=full))
        bumped = push(source, work, "bench/app0:2.0", [base, layer(work, "app", args.app_mb << 20)])
        times["export_delta"] = playbook(export, dict(common, aistack_images=[bumped] + refs[1:],
                                                      aistack_bundle_dir=delta, airgap_base_receipt=receipt))
        times["import_delta"] = playbook(import_pb, dict(imports, aistack_bundle_dir=delta))
        got = dict(full=measure(full), delta=measure(delta))
        print("%-34s %16s %16s %8s" % ("", "full bundle", "delta (1 bump)", "ratio"))
        for label, key_ in (("image files (MiB)", "image_bytes"), ("bundle directory (MiB)", "total_bytes")):
            print("%-34s %16.2f %16.2f %7.1fx" % (label, got["full"][key_] / 1048576.0, got["delta"][key_] / 1048576.0,
                                                  got["full"][key_] / float(max(got["delta"][key_], 1))))
        # the full bundle's archives each carry the shared base layer and their own one
        print("%-34s %16s %16s" % ("layers carried", args.images * 2, got["delta"]["layers_carried"]))
        print("%-34s %16.1f %16.1f %7.1fx" % ("export (s, ansible-playbook)", times["export_full"], times["export_delta"],
                                              times["export_full"] / max(times["export_delta"], 0.001)))
        print("%-34s %16.1f %16.1f %7.1fx" % ("import on site (s, ansible-playbook)", times["import_full"],
                                              times["import_delta"], times["import_full"] / max(times["import_delta"], 0.001)))
        print("(the delta export's own time includes reading every whole archive again to write its delta)")
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(dict(args=vars(args), sizes=got, seconds=times), handle, indent=2)
    finally:
        source.stop()
        site.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
