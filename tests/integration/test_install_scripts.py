"""The install scripts work from a stock Debian 12 machine's apt sources (bookworm alone).

tests/images/apt-suite.sh is run against a scratch apt configuration that holds only the stock
bookworm sources (a copy of this machine's debian.sources), with its own lists and cache, so the test
neither depends on nor changes what this machine has configured. Needs the Debian mirror.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "images" / "apt-suite.sh"
STOCK = Path("/etc/apt/sources.list.d/debian.sources")
COMPOSE = os.environ.get("COMPOSE_DEB_VERSION", "2.26.1-4")

pytestmark = pytest.mark.skipif(not STOCK.exists() or shutil.which("apt-get") is None,
                                reason="needs Debian's apt and its stock debian.sources")


def _scratch(tmp_path):
    etc, state, cache = tmp_path / "etc", tmp_path / "state", tmp_path / "cache"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "preferences.d").mkdir()
    (etc / "apt.conf.d").mkdir()
    # Only bookworm suites: what a new machine has.
    text = STOCK.read_text()
    assert "trixie" not in text, "the stock sources already hold trixie: not a stock machine's sources"
    (etc / "sources.list.d" / "debian.sources").write_text(text)
    env = dict(os.environ, APT_ETC_DIR=str(etc), APT_STATE_DIR=str(state), APT_CACHE_DIR=str(cache))
    for d in (state / "lists" / "partial", cache / "archives" / "partial"):
        d.mkdir(parents=True)
    # An empty dpkg status: what this machine has installed does not show up as a version.
    (state / "status").write_text("")
    opts = [f"-o=Dir::Etc={etc}", f"-o=Dir::State={state}", f"-o=Dir::Cache={cache}",
            f"-o=Dir::State::status={state / 'status'}"]
    return env, opts, etc


def _policy(opts):
    return subprocess.run(["apt-cache", *opts, "policy", "docker-compose"], check=True,
                          capture_output=True, text=True).stdout


def test_trixie_added_pinned_low_and_idempotent(tmp_path):
    env, opts, etc = _scratch(tmp_path)
    subprocess.run(["apt-get", "-qq", *opts, "update"], check=True, capture_output=True)
    # Negative control: from the stock sources alone, the compose v2 plugin cannot be installed.
    before = _policy(opts)
    assert COMPOSE not in before, before

    first = subprocess.run([str(SCRIPT), "trixie"], env=env, check=True, capture_output=True, text=True)
    assert "added Debian trixie" in first.stdout, first.stdout
    after = _policy(opts)
    assert f" {COMPOSE} 100" in after, after  # installable, by its version
    # bookworm stays the default: the candidate is still bookworm's v1.
    candidate = next(line.split()[1] for line in after.splitlines() if "Candidate:" in line)
    assert candidate != COMPOSE, after
    files = {p: p.read_text() for p in (etc / "sources.list.d" / "aistack-trixie.sources",
                                        etc / "preferences.d" / "aistack-trixie.pref")}

    second = subprocess.run([str(SCRIPT), "trixie"], env=env, check=True, capture_output=True, text=True)
    assert "already configured" in second.stdout, second.stdout
    assert {p: p.read_text() for p in files} == files
