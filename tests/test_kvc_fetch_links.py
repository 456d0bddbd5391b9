"""Makefiles that link with absolute paths into DESTDIR, builds that fail or give an unusable tree:
the user sees their own answer (kvc.module_repo) named, never kmwizard's cache, and nothing broken
stays cached."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
import yaml

from kmwizard.cli import main
from kmwizard.kvc import fetch, transpile
from kmwizard.kvc.dataurl import decode_data_url
from kvc_fixtures import MODULE_MAKEFILE, MODULE_WRAPPER, git, make_fixture_repos
from kvc_trees import build_kvc_tree

pytestmark = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")),
                                reason="the KVC path runs real git and make")

ABSOLUTE_LINK = "\tln -sf $(DESTDIR)/lib/kvc/simple-kmod-wrapper.sh $(DESTDIR)/bin/spkut-abs\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fetch.clear_memo()
    yield tmp_path / "cache"
    fetch.clear_memo()


def _set_makefile(repos, text: str) -> None:
    (repos.module / "Makefile").write_text(text)
    git(repos.module, "commit", "--quiet", "-am", "makefile")


def _generate(repos, out: Path) -> int:
    # file:// URLs: the repositories are cloned and cached by URL and ref, as for a remote
    sets = [f"kvc.framework_repo={repos.url('framework')}", f"kvc.module_repo={repos.url('module')}",
            "kvc.enable_style=require-unit"]
    return main(["generate", *[a for s in sets for a in ("--set", s)], "-o", str(out)])


def _delivered(out: Path) -> dict[str, tuple[bytes, int]]:
    mc = yaml.safe_load((out / "99-worker-kvc-simple-kmod.yaml").read_text())
    files = {}
    for entry in mc["spec"]["config"]["storage"]["files"]:
        data = decode_data_url(entry["contents"]["source"])
        files[entry["path"]] = (gzip.decompress(data) if entry["contents"].get("compression") else data, entry["mode"])
    return files


def test_absolute_link_into_destdir_resolves_inside_the_tree(tmp_path, cache, capsys):
    repos = make_fixture_repos(tmp_path / "repos")
    _set_makefile(repos, MODULE_MAKEFILE + ABSOLUTE_LINK)
    assert _generate(repos, tmp_path / "out") == 0, capsys.readouterr().err
    files = _delivered(tmp_path / "out")
    assert files["/usr/local/bin/spkut-abs"] == (MODULE_WRAPPER.encode(), 0o755)


def test_absolute_link_in_a_given_fakeroot(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    (root / "usr/local/bin/inside").symlink_to(f"{root}/usr/local/lib/kvc/simple-kmod-wrapper.sh")
    (root / "usr/local/bin/hop").symlink_to("inside")
    (root / "usr/local/bin/outside").symlink_to("/usr/bin/true")
    files, findings = transpile.transpile_tree(root, gzip_allowed=False)
    paths = {f["path"]: f for f in files}
    assert paths["/usr/local/bin/inside"]["mode"] == 0o755 and "/usr/local/bin/hop" in paths
    assert [f.where for f in findings] == ["kvc.fakeroot:/usr/local/bin/outside"]
    assert "absolute" in findings[0].message


def test_unusable_tree_names_the_answer_and_is_not_cached(tmp_path, cache, capsys):
    repos = make_fixture_repos(tmp_path / "repos")
    _set_makefile(repos, MODULE_MAKEFILE + "\tln -sf ../lib/kvc/missing.sh $(DESTDIR)/bin/broken\n")
    assert _generate(repos, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "kvc.module_repo:/usr/local/bin/broken" in err and "dangling" in err
    assert str(cache) not in err and ".build-" not in err
    assert not [p for p in (cache / "kmwizard" / "kvc").iterdir() if not p.name.startswith(".")]
    # fixed upstream at the same ref: the next run builds again instead of reusing the broken tree
    _set_makefile(repos, MODULE_MAKEFILE)
    fetch.clear_memo()
    assert _generate(repos, tmp_path / "out") == 0, capsys.readouterr().err


def test_failed_make_names_the_answer_not_the_cache(tmp_path, cache, capsys):
    repos = make_fixture_repos(tmp_path / "repos")
    _set_makefile(repos, MODULE_MAKEFILE + "\tfalse $(CURDIR)\n")
    assert _generate(repos, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "kvc.module_repo" in err and "make install" in err
    assert str(cache) not in err, err
    kvc_dir = cache / "kmwizard" / "kvc"
    assert not kvc_dir.exists() or not os.listdir(kvc_dir)
