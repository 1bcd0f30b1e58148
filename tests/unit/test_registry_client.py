# -*- coding: utf-8 -*-
"""registry.py pure helpers and containerd.py output parsers."""

import io
import tarfile

from ansible_collections.aistack.platform.plugins.module_utils.images import registry as reg
from ansible_collections.aistack.platform.plugins.module_utils.images import containerd as ctd


def test_base_url():
    assert reg.registry_base_url("localhost:30500", False) == "http://localhost:30500"
    assert reg.registry_base_url("nexus.example:8443", True) == "https://nexus.example:8443"
    assert reg.registry_base_url("https://r.example/", False) == "https://r.example"


def test_parse_challenge():
    scheme, params = reg.parse_challenge('Bearer realm="https://auth.example/token",service="registry",'
                                         'scope="repository:a/b:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry", "scope": "repository:a/b:pull"}
    assert reg.parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
    assert reg.parse_challenge(None) == (None, {})


def test_split_repo_ref():
    assert reg.split_repo_ref("localhost:30500/team/app:1.0") == ("team/app", "1.0")
    assert reg.split_repo_ref("r:1/a@sha256:" + "c" * 64) == ("a", "sha256:" + "c" * 64)


def test_sized_body_reads_in_blocks():
    body = reg._SizedBody(io.BytesIO(b"x" * (3 << 20)), 3 << 20)
    assert len(body) == 3 << 20
    assert len(body.read(8192)) == reg.UPLOAD_BLOCK


def test_parse_ctr_output():
    images = ("REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
              "docker.io/library/a:1 application/vnd.oci.image.manifest.v1+json sha256:%s 1.0 MiB linux/amd64 -\n"
              % ("a" * 64))
    assert ctd.parse_images_ls(images) == {"docker.io/library/a:1": "sha256:" + "a" * 64}
    assert ctd.parse_images_ls("") == {}
    content = "DIGEST\tSIZE\tAGE\tLABELS\nsha256:%s\t12B\t1 minute\t-\n" % ("b" * 64)
    assert ctd.parse_content_ls(content) == {"sha256:" + "b" * 64}
    assert ctd.parse_content_ls("sha256:%s\n" % ("c" * 64)) == {"sha256:" + "c" * 64}


def test_tar_header_roundtrip():
    data = b"hello"
    raw = ctd.tar_header("blobs/sha256/" + "d" * 64, len(data)) + data + ctd.tar_padding(len(data)) + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.getmembers()[0]
        assert member.name == "blobs/sha256/" + "d" * 64
        assert tar.extractfile(member).read() == data
