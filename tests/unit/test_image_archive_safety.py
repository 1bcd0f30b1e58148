# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_import refuses archives shaped to leave an extraction directory, and invalid names, in its
validation pass: before any connection to a registry or any ctr process."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import sys
import tarfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))

import imagetools as it  # noqa: E402

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp  # noqa: E402

MODES = {"none": "w", "gzip": "w:gz", "bzip2": "w:bz2"}


@pytest.mark.parametrize("name,link,sym,hard,words", [
    ("/etc/passwd", None, False, False, "absolute path"),
    ("../evil", None, False, False, "leaves the extraction directory"),
    ("blobs/../../evil", None, False, False, "leaves the extraction directory"),
    ("a/b/../../../x", None, False, False, "leaves the extraction directory"),
    ("link", "/etc/shadow", True, False, "absolute path"),
    ("link", "../outside", True, False, "points outside"),
    ("a/b/link", "../../../x", True, False, "points outside"),
    ("hard", "/etc/shadow", False, True, "absolute path"),
    ("hard", "../x", False, True, "points outside"),
    ("a/hard", "a/../../x", False, True, "points outside"),
    ("link", "", True, False, "empty target"),
    ("", None, False, False, "empty name"),
])
def test_member_problem_refuses(name, link, sym, hard, words):
    problem = ia.member_problem(name, link, sym, hard)
    assert problem and words in problem


@pytest.mark.parametrize("name,link,sym,hard", [
    ("manifest.json", None, False, False),
    ("./blobs/sha256/abc", None, False, False),
    ("a/../b", None, False, False),
    ("a/b/link", "../c", True, False),          # a/c: inside
    ("a/b/link", "../../c", True, False),       # c: inside
    ("a/hard", "a/b", False, True),
    ("a/hard", "b", False, True),
])
def test_member_problem_accepts(name, link, sym, hard):
    assert ia.member_problem(name, link, sym, hard) is None


def _layers(tmp_path):
    return [it.Layer.from_bytes(it.tar_bytes({"hello.txt": b"hi\n"}), str(tmp_path))]


def _evil_archive(tmp_path, compression, evil):
    """A valid docker archive, then the evil member appended at the end (so only a pass over every member
    finds it)."""
    good = tmp_path / "good.tar"
    it.write_docker_archive(str(good), ["team/app:1.0"], _layers(tmp_path), "none")
    path = tmp_path / ("evil.tar" + {"none": "", "gzip": ".gz", "bzip2": ".bz2"}[compression])
    with tarfile.open(str(good)) as src, tarfile.open(str(path), MODES[compression]) as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isreg() else None)
        info = tarfile.TarInfo(evil["name"])
        data = evil.get("data")
        if evil.get("type"):
            info.type = evil["type"]
            info.linkname = evil["link"]
            out.addfile(info)
        else:
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return str(path)


EVIL = {
    "absolute": {"name": "/tmp/aistack-evil", "data": b"x"},
    "dotdot": {"name": "../../aistack-evil", "data": b"x"},
    "symlink-out": {"name": "escape", "type": tarfile.SYMTYPE, "link": "../../../../etc"},
    "symlink-abs": {"name": "escape", "type": tarfile.SYMTYPE, "link": "/etc/passwd"},
    "hardlink-out": {"name": "escape", "type": tarfile.LNKTYPE, "link": "../etc/passwd"},
    "hardlink-abs": {"name": "escape", "type": tarfile.LNKTYPE, "link": "/etc/passwd"},
}


@pytest.mark.parametrize("compression", sorted(MODES))
@pytest.mark.parametrize("kind", sorted(EVIL))
def test_index_pass_refuses_escaping_members(tmp_path, compression, kind):
    path = _evil_archive(tmp_path, compression, EVIL[kind])
    with pytest.raises(AistackError) as info:
        imp.load_sources(path)
    assert path in str(info.value) or os.path.basename(path) in str(info.value)
    assert info.value.fix


def test_the_same_archive_without_the_evil_member_loads(tmp_path):
    good = tmp_path / "good.tar"
    it.write_docker_archive(str(good), ["team/app:1.0"], _layers(tmp_path), "gzip")
    loaded = imp.load_sources(str(good))
    assert [image.ref for _index, images in loaded for image in images] == ["team/app:1.0"]


class _TrapTarget(object):
    """A target whose every I/O method fails the test: the plan must fail before any of them."""

    registry, project, flatten = "localhost:30500", None, False

    def name_for(self, ref):
        return ia.target_reference(ref, self.registry, self.project, self.flatten)

    def prepare(self):
        raise AssertionError("prepare() (a connection) reached with an invalid name")

    def plan(self, assigned):
        raise AssertionError("plan() reached")


def test_invalid_image_name_fails_before_the_target_is_touched(tmp_path):
    path = tmp_path / "img.tar"
    # a RepoTag the reference grammar refuses (upper case)
    it.write_docker_archive(str(path), ["Team/App:1.0"], _layers(tmp_path), "none")
    loaded = imp.load_sources(str(path))
    with pytest.raises(AistackError) as info:
        imp.import_images(_TrapTarget(), loaded)
    assert info.value.field == "src" and "Team/App:1.0" in str(info.value)


def test_too_long_tag_fails_before_the_target_is_touched(tmp_path):
    path = tmp_path / "img.tar"
    it.write_docker_archive(str(path), ["team/app:" + "v" * 129], _layers(tmp_path), "none")
    with pytest.raises(AistackError):
        imp.import_images(_TrapTarget(), imp.load_sources(str(path)))
