"""Local checkouts on the preview's hot path: git is asked again only when the checkout's refs change."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from kmwizard.kvc import fetch
from kvc_fixtures import git, make_fixture_repos

pytestmark = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")),
                                reason="local checkouts are probed with real git")


@pytest.fixture
def repos(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fetch.clear_memo()
    return make_fixture_repos(tmp_path / "repos")


def _count_git(monkeypatch) -> list:
    calls = []
    real = subprocess.run

    def spy(args, *a, **k):
        if args and args[0] == "git":
            calls.append(args)
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "run", spy)  # fetch imports subprocess where it runs git
    return calls


def test_unchanged_checkout_costs_no_git_call(repos, monkeypatch):
    args = (str(repos.framework), "master", str(repos.module), "master")
    first = fetch.obtain_sources(*args)
    calls = _count_git(monkeypatch)
    assert fetch.obtain_sources(*args) == first
    assert calls == []


def test_switching_branch_or_committing_is_seen(repos, monkeypatch):
    args = (str(repos.framework), "master", str(repos.module), "master")
    on_master = fetch.obtain_sources(*args)
    assert on_master.module_dir == repos.module  # the checked-out commit: used in place
    git(repos.module, "checkout", "--quiet", "next")
    elsewhere = fetch.obtain_sources(*args)
    assert elsewhere.module_dir != repos.module, "master is no longer checked out: it must be cloned at master"
    git(repos.module, "checkout", "--quiet", "master")
    (repos.module / "NEWFILE").write_text("x\n")
    git(repos.module, "add", "NEWFILE")
    git(repos.module, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "more")
    assert fetch.obtain_sources(*args).module_dir == repos.module
    assert fetch._rev_parse(repos.module, "master") == git(repos.module, "rev-parse", "HEAD").strip()
