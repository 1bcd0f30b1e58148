"""tests/images/local_images.py: an edited build context gets a new source hash, an untouched one keeps it."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "local_images", Path(__file__).resolve().parents[1] / "images" / "local_images.py")
local_images = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(local_images)


def test_source_hash_follows_names_and_contents(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    first = local_images.source_hash(tmp_path)
    assert local_images.source_hash(tmp_path) == first
    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "main.pyc").write_bytes(b"\0")
    assert local_images.source_hash(tmp_path) == first
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    edited = local_images.source_hash(tmp_path)
    assert edited != first
    (tmp_path / "app" / "main.py").rename(tmp_path / "app" / "other.py")
    assert local_images.source_hash(tmp_path) != edited


def test_catalogue_holds_every_image_of_the_local_site():
    refs = {ref for ref, _cmd, _where, _hint in local_images.catalogue().values()}
    assert {"aistack.local/langflow:1.13.0", "aistack.local/postgres:17", "aistack.local/llm-standin:1.0.0"} <= refs
    assert all(":" in ref and not ref.endswith(":latest") for ref in refs)
