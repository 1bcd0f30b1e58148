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


def test_plan_splits_go_built_images_from_docker_builds():
    items = local_images.catalogue()
    work = local_images.plan(list(items), items)
    assert set(work) == {"docker", "go"}
    assert set(work["go"]) == {"loki", "promtail", "traefik"}
    assert "langflow" in work["docker"] and "postgres" in work["docker"]
    assert sorted(work["go"] + work["docker"]) == sorted(items)
    # loki before promtail: promtail's image reuses the binaries loki's build compiled
    assert work["go"].index("loki") < work["go"].index("promtail")
    assert local_images.plan(["traefik", "redis"], items, lanes=["docker"]) == {"docker": ["redis"]}
    assert local_images.plan(["traefik"], items, lanes=["docker"]) == {}


def test_ensure_runs_both_lanes_and_imports_one_at_a_time(monkeypatch):
    import threading
    import time
    items = local_images.catalogue()
    active, seen, imports, overlap = set(), [], [], []
    lock = threading.Lock()

    def fake_build(ref, command, hint=""):
        with lock:
            active.add(local_images.lane(command))
            overlap.append(len(active))
        time.sleep(0.02)
        with lock:
            active.discard(local_images.lane(command))
        seen.append(ref)
        return 0.0

    def fake_import(ref):
        imports.append(ref)

    monkeypatch.setattr(local_images, "build", fake_build)
    monkeypatch.setattr(local_images, "import_into_cluster", fake_import)
    local_images.ensure(["loki", "traefik", "langflow", "phoenix"])
    assert sorted(seen) == sorted(items[n][0] for n in ("loki", "traefik", "langflow", "phoenix"))
    assert max(overlap) == 2, "the two lanes did not run side by side"
    assert sorted(imports) == sorted(seen)
    seen.clear()
    imports.clear()
    local_images.ensure(["langflow"], build_only=True)
    assert seen == [items["langflow"][0]] and imports == []


def test_a_second_builder_waits_for_the_first_and_builds_nothing(tmp_path, monkeypatch):
    import threading
    import time
    monkeypatch.setattr(local_images, "CACHE", tmp_path)
    built, has = [], {"x": False}
    monkeypatch.setattr(local_images, "docker_has", lambda ref, wanted=None: has["x"])

    def slow_build(*_args, **_kwargs):
        time.sleep(0.3)
        built.append(1)
        has["x"] = True
        return local_images.subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(local_images.subprocess, "run", slow_build)
    threads = [threading.Thread(target=local_images.build, args=("aistack.local/x:1", ["/bin/true"])) for _unused in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert built == [1], "both builders ran the build"
    assert (tmp_path / "locks" / "build-aistack.local_x_1.lock").exists()
