"""`ansible-galaxy collection build` makes an archive with the collection and nothing of the workshop."""

import subprocess
import tarfile

from conftest import ROOT

FORBIDDEN_TOP = {"tests", "benchmarks", "molecule", "build", ".venv", ".ansible", ".ci", ".git", "inventories"}


def test_build_leaves_out_tests_caches_and_outputs(tmp_path, collection_env):
    proc = subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path), str(ROOT)],
                          env=collection_env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    archives = list(tmp_path.glob("aistack-platform-*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as tar:
        names = tar.getnames()
    top = {n.split("/", 1)[0] for n in names}
    assert not top & FORBIDDEN_TOP, sorted(top & FORBIDDEN_TOP)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # What users need is there.
    for needed in ("MANIFEST.json", "plugins", "roles", "playbooks", "charts", "meta", "README.md"):
        assert needed in top, needed
    assert "plugins/modules/helm_tenant.py" in names
