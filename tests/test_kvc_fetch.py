"""Fetching the KVC repositories and installing them into a fakeroot, through real git and make.

The judge of the tree is the hand-written ``expected_tree`` of ``tests/kvc_fixtures.py``
(what the two Makefiles install), not anything computed by kmwizard.
"""
from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kmwizard.answers import Answers
from kmwizard.kvc import fetch
from kmwizard.kvc.fetch import FetchError
from tests.kvc_fixtures import MODULE_CONF, git, make_fixture_repos, tree_of

pytestmark = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")),
                                reason="git and make are needed to drive the fixture repositories")


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return make_fixture_repos(tmp_path_factory.mktemp("repos"))


@pytest.fixture(autouse=True)
def fresh_memo():
    fetch.clear_memo()
    yield
    fetch.clear_memo()


def conf_of(fakeroot: Path) -> str:
    return (fakeroot / "etc/kvc/simple-kmod.conf").read_text()


def tools_dir(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def make_repo(root: Path, makefile: str) -> Path:
    root.mkdir()
    (root / "Makefile").write_text(makefile)
    git(root, "init", "--quiet", "--initial-branch=master")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "fixture")
    return root


def test_local_checkouts_install_like_the_manual_procedure(repos, tmp_path):
    old = os.umask(0o077)  # a strict caller umask must not leak into the tree's directories
    try:
        sources = fetch.obtain_sources(str(repos.framework), "HEAD", str(repos.module), "HEAD",
                                       cache_dir=tmp_path)
    finally:
        os.umask(old)
    assert tree_of(sources.fakeroot) == repos.expected_tree
    assert os.readlink(sources.fakeroot / "usr/local/bin/spkut") == "../lib/kvc/simple-kmod-wrapper.sh"
    assert os.readlink(sources.fakeroot / "usr/local/share/simple-kmod/current") == "data"
    assert (sources.fakeroot / "usr/local/lib/kvc").stat().st_mode & 0o777 == 0o755
    assert sources.module_dir == repos.module and sources.framework_dir == repos.framework


def test_urls_are_cloned_at_the_ref(repos, tmp_path):
    master = fetch.obtain_sources(repos.url("framework"), "master", repos.url("module"), "master",
                                  cache_dir=tmp_path)
    assert tree_of(master.fakeroot) == repos.expected_tree
    assert (master.module_dir / "Dockerfile.rhel").is_file()
    assert "KMOD_SOFTWARE_VERSION=next1" in conf_of(
        fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "next", cache_dir=tmp_path))
    assert "KMOD_SOFTWARE_VERSION=dd1a7d4" in conf_of(
        fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "v1", cache_dir=tmp_path))
    commit = git(repos.module, "rev-parse", "next")
    assert "KMOD_SOFTWARE_VERSION=next1" in conf_of(
        fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), commit, cache_dir=tmp_path))


def test_a_repeated_call_neither_clones_nor_runs_make(repos, tmp_path, monkeypatch):
    first = fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "master",
                                  cache_dir=tmp_path)
    fetch.clear_memo()  # a new process: only the disk cache is left
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    said = []
    started = time.perf_counter()
    again = fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "master",
                                  cache_dir=tmp_path, progress=said.append)
    assert again == first and said == []
    assert time.perf_counter() - started < 0.5
    assert tree_of(again) == repos.expected_tree


def test_refresh_fetches_a_url_again(tmp_path):
    repos = make_fixture_repos(tmp_path / "own")
    args = (repos.url("framework"), "master", repos.url("module"), "master")
    before = fetch.obtain_fakeroot(*args, cache_dir=tmp_path / "cache")
    (repos.module / "simple-kmod.conf").write_text(MODULE_CONF.replace("dd1a7d4", "newer"))
    git(repos.module, "commit", "--quiet", "-am", "newer")
    fetch.clear_memo()
    assert "dd1a7d4" in conf_of(fetch.obtain_fakeroot(*args, cache_dir=tmp_path / "cache"))  # keyed by URL+ref
    said = []
    after = fetch.obtain_fakeroot(*args, cache_dir=tmp_path / "cache", refresh=True, progress=said.append)
    assert "KMOD_SOFTWARE_VERSION=newer" in conf_of(after)
    assert any(line.startswith("fetching") for line in said)
    assert after == before  # same key, replaced in place
    assert not list((tmp_path / "cache/kvc").glob(".build-*")) and not list((tmp_path / "cache/kvc").glob("*.old-*"))


def test_an_edit_in_a_local_directory_is_picked_up(tmp_path):
    repos = make_fixture_repos(tmp_path / "own")
    args = (str(repos.framework), "HEAD", str(repos.module), "master")
    first = fetch.obtain_fakeroot(*args, cache_dir=tmp_path / "cache")
    assert "dd1a7d4" in conf_of(first)
    (repos.module / "simple-kmod.conf").write_text(MODULE_CONF.replace("dd1a7d4", "edited"))  # uncommitted
    second = fetch.obtain_fakeroot(*args, cache_dir=tmp_path / "cache")
    assert second != first
    assert "KMOD_SOFTWARE_VERSION=edited" in conf_of(second)
    assert "dd1a7d4" in conf_of(first)  # the earlier tree is never changed


def test_another_ref_of_a_local_checkout_is_cloned_at_that_ref(repos, tmp_path):
    sources = fetch.obtain_sources(str(repos.framework), "master", str(repos.module), "next", cache_dir=tmp_path)
    assert "KMOD_SOFTWARE_VERSION=next1" in conf_of(sources.fakeroot)
    assert sources.module_dir != repos.module
    assert git(repos.module, "rev-parse", "--abbrev-ref", "HEAD") == "master"  # the user's checkout is untouched


def test_unknown_ref_of_a_local_checkout(repos, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(repos.module), "no-such-branch", cache_dir=tmp_path)
    assert caught.value.where == "kvc.module_repo"
    assert "'no-such-branch'" in caught.value.message and str(repos.module) in caught.value.message
    assert "HEAD" in caught.value.fix


def test_a_path_that_does_not_exist(repos, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(tmp_path / "nowhere"), "master", str(repos.module), "HEAD", cache_dir=tmp_path)
    assert caught.value.where == "kvc.framework_repo"
    assert str(tmp_path / "nowhere") in caught.value.message


def test_git_protocol_on_github_is_refused_with_the_https_url(repos, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", "git://github.com/kmods-via-containers/kvc-simple-kmod.git",
                              "master", cache_dir=tmp_path)
    assert caught.value.where == "kvc.module_repo"
    assert "https://github.com/kmods-via-containers/kvc-simple-kmod.git" in caught.value.fix


def test_a_failed_clone_names_the_command_repository_ref_and_output(repos, tmp_path):
    url = (tmp_path / "missing.git").as_uri()
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(url, "main", str(repos.module), "HEAD", cache_dir=tmp_path)
    message = caught.value.message
    assert caught.value.where == "kvc.framework_repo"
    assert "git fetch" in message and url in message and "'main'" in message
    assert "does not appear to be a git repository" in message  # git's own words, from the end of its output
    assert not list((tmp_path / "kvc").glob(".build-*"))


def test_an_unknown_remote_ref(repos, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "v9", cache_dir=tmp_path)
    assert caught.value.where == "kvc.module_repo"
    assert "'v9'" in caught.value.message and "couldn't find remote ref v9" in caught.value.message
    assert "kvc.module_ref" in caught.value.fix


def test_a_failed_make_names_the_command_repository_and_output(repos, tmp_path):
    broken = make_repo(tmp_path / "broken", "install:\n\t@echo 'BOOM from the Makefile' >&2; exit 3\n")
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(broken), "HEAD", cache_dir=tmp_path / "cache")
    message = caught.value.message
    assert caught.value.where == "kvc.module_repo"
    assert "make install DESTDIR=<fakeroot>/usr/local CONFDIR=<fakeroot>/etc/" in message
    assert str(broken) in message and "BOOM from the Makefile" in message
    assert not list((tmp_path / "cache/kvc").glob(".build-*"))


def test_a_makefile_without_install_target(repos, tmp_path):
    broken = make_repo(tmp_path / "no-install", "all:\n\ttrue\n")
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(broken), "HEAD", cache_dir=tmp_path / "cache")
    assert "No rule to make target 'install'" in caught.value.message


def test_repositories_that_install_nothing(tmp_path):
    empty_a = make_repo(tmp_path / "a", "install:\n\t@true\n")
    empty_b = make_repo(tmp_path / "b", "install:\n\t@true\n")
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(empty_a), "HEAD", str(empty_b), "HEAD", cache_dir=tmp_path / "cache")
    assert "installed nothing" in caught.value.message and str(empty_b) in caught.value.message


def test_git_missing(repos, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", tools_dir(tmp_path, "sh", "make"))
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(repos.url("framework"), "master", str(repos.module), "HEAD", cache_dir=tmp_path)
    assert "git is not installed" in caught.value.message and caught.value.where == "kvc.framework_repo"


def test_make_missing(repos, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", tools_dir(tmp_path, "sh", "git"))
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(repos.module), "HEAD", cache_dir=tmp_path)
    assert "make is not installed" in caught.value.message


def test_a_hanging_make_is_killed_at_the_timeout(repos, tmp_path, monkeypatch):
    slow = make_repo(tmp_path / "slow", "install:\n\tsleep 30\n")
    monkeypatch.setattr(fetch, "MAKE_TIMEOUT", 1.0)
    started = time.perf_counter()
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(slow), "HEAD", cache_dir=tmp_path / "cache")
    assert time.perf_counter() - started < 10
    assert "timed out after 1 s" in caught.value.message and str(slow) in caught.value.message


class _AuthRequired(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def private_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthRequired)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_private_repository_fails_instead_of_prompting(repos, tmp_path, private_server):
    started = time.perf_counter()
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(f"http://{private_server}/private.git", "master", str(repos.module), "HEAD",
                              cache_dir=tmp_path)
    assert time.perf_counter() - started < 20
    assert "terminal prompts disabled" in caught.value.message


def test_credentials_in_a_url_are_never_shown(repos, tmp_path, private_server):
    url = f"http://someone:s3cr3t-token@{private_server}/private.git"
    said = []
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(url, "master", str(repos.module), "HEAD", cache_dir=tmp_path, progress=said.append)
    assert "s3cr3t-token" not in str(caught.value) and "s3cr3t-token" not in " ".join(said)
    assert f"http://***@{private_server}/private.git" in caught.value.message


def test_concurrent_threads_build_once(repos, tmp_path):
    results, errors, said = [], [], []

    def work():
        try:
            results.append(fetch.obtain_fakeroot(repos.url("framework"), "master", repos.url("module"), "v1",
                                                 cache_dir=tmp_path, progress=said.append))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(results)) == 1
    assert tree_of(results[0]) == repos.expected_tree
    assert sum(line.startswith("make install") for line in said) == 2  # framework + module, once
    assert not list((tmp_path / "kvc").glob(".build-*"))


def test_concurrent_processes_get_one_complete_tree(repos, tmp_path):
    code = ("import sys; from pathlib import Path; from kmwizard.kvc import fetch; "
            "print(fetch.obtain_fakeroot(*sys.argv[1:5], cache_dir=Path(sys.argv[5])))")
    args = [repos.url("framework"), "master", repos.url("module"), "next", str(tmp_path)]
    procs = [subprocess.Popen([sys.executable, "-c", code, *args], cwd=Path(__file__).resolve().parents[1],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    tree = tree_of(Path(paths.pop()))
    assert b"KMOD_SOFTWARE_VERSION=next1" in tree["/etc/kvc/simple-kmod.conf"][0]
    assert set(tree) == set(repos.expected_tree)
    assert not list((tmp_path / "kvc").glob(".build-*"))


def test_fakeroot_for_answers(repos, tmp_path):
    given = Answers().set("kvc.fakeroot", str(tmp_path))
    assert fetch.fakeroot_for(given) == (tmp_path.resolve(), None)
    with pytest.raises(FetchError) as caught:
        fetch.fakeroot_for(Answers().set("kvc.fakeroot", str(tmp_path / "absent")))
    assert caught.value.where == "kvc.fakeroot" and str(tmp_path / "absent") in caught.value.message
    answers = Answers().update({"kvc.framework_repo": str(repos.framework), "kvc.framework_ref": "HEAD",
                                "kvc.module_repo": str(repos.module), "kvc.module_ref": "HEAD"})
    fakeroot, module_dir = fetch.fakeroot_for(answers, cache_dir=tmp_path / "cache")
    assert module_dir == repos.module and tree_of(fakeroot) == repos.expected_tree


def test_an_unusable_cache_directory(repos, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(FetchError) as caught:
        fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(repos.module), "HEAD", cache_dir=blocker)
    assert str(blocker) in caught.value.message and "XDG_CACHE_HOME" in caught.value.fix


def test_the_default_cache_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fetch.default_cache_dir() == tmp_path / "kmwizard"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fetch.default_cache_dir() == tmp_path / "home/.cache/kmwizard"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_during_make_install_ends_make_too(repos, tmp_path, signame):
    """make runs in its own session (so a timeout can kill its children), where the terminal's
    SIGINT does not reach: an interrupted kmwizard must end it, not leave it running. SIGTERM
    (`timeout`, a cancelled CI job) and SIGHUP (a closed terminal) take the same path."""
    import signal

    pidfile = tmp_path / "sleep.pid"
    slow = make_repo(tmp_path / "slow-module", f"install:\n\tsleep 60 & echo $$! > {pidfile}; wait\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "kmwizard", "preview", "--set", f"kvc.framework_repo={repos.framework}",
                             "--set", "kvc.framework_ref=HEAD", "--set", f"kvc.module_repo={slow}",
                             "--set", "kvc.module_ref=HEAD"], cwd=Path(__file__).resolve().parents[1], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (pidfile.is_file() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(pidfile.read_text())
    proc.send_signal(getattr(signal, signame))
    assert proc.wait(timeout=30) == 130 and "interrupted" in proc.stderr.read()
    time.sleep(0.2)
    try:  # gone, or a zombie nobody has reaped yet (the container's init may not): either way ended
        state = Path(f"/proc/{sleeper}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return
    if state != "Z":
        os.kill(sleeper, signal.SIGKILL)
        pytest.fail("make's child kept running after kmwizard was interrupted")
