"""Fetch the KVC framework and module repositories and install them into a fakeroot.

This is step 3 of the manual procedure: ``make install DESTDIR=<fakeroot>/usr/local
CONFDIR=<fakeroot>/etc/`` in the framework repository, then in the module repository
(order matters: the module's Makefile installs into directories the framework's creates).

A repository is a local directory or a git URL.  Results are cached on disk under
``$XDG_CACHE_HOME/kmwizard/kvc`` (and memoised in the process) so repeated previews
are instant:

* a URL is keyed by URL + ref; ``refresh=True`` fetches it again;
* a local directory is used as it is (edits included) when the ref is ``HEAD``, empty,
  or names the commit that is checked out; it is keyed by a fingerprint of its files,
  so an edit is picked up.  Another ref of a local git checkout is cloned at that ref.

An entry is built in a temporary directory and renamed into place, so concurrent callers
(a TUI worker and the CLI) never see a half-built tree.  Entries are never changed after
the rename: treat the returned paths as read-only.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable, NoReturn, Optional

from kmwizard.findings import KmwizardError
from kmwizard.records import record
from kmwizard.regexps import lazy
from kmwizard.textfiles import pseudo_filesystem

Progress = Optional[Callable[[str], None]]

CACHE_FORMAT = "kvc-fetch-2"  # bump when the layout or the build steps change
GIT_TIMEOUT = 180.0
MAKE_TIMEOUT = 120.0
TAIL_LINES = 15

URL_PATTERN = lazy(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


class FetchError(KmwizardError):
    """A KmwizardError that also names the answer key at fault (render() reads ``where``)."""

    def __init__(self, where: str, message: str, fix: str = "") -> None:
        super().__init__(message, fix)
        self.where = where


@record(frozen=True)
class KvcSources:
    fakeroot: Path       # the tree both `make install` runs produced
    framework_dir: Path  # the framework sources that were installed
    module_dir: Path     # the module sources (its Dockerfiles live here)


@record(frozen=True)
class _Source:
    key: str        # answer key, for messages
    repo: str       # as the user gave it
    ref: str
    kind: str       # "url", "local" (used in place) or "local-ref" (cloned at a commit)
    location: str   # URL or absolute directory
    state: str      # what the cache key depends on

    def describe(self) -> str:
        return f"{self.key}={_redact(self.repo)!r}" + (f" at ref {self.ref!r}" if self.kind != "local" else "")


_memo: dict[str, KvcSources] = {}
_memo_lock = threading.Lock()
_building: dict[str, threading.Lock] = {}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmwizard"


def clear_memo() -> None:
    """Forget in-process results (the disk cache stays)."""
    with _memo_lock:
        _memo.clear()
    _git_probe_memo.clear()


def obtain_fakeroot(framework_repo: str, framework_ref: str, module_repo: str, module_ref: str, *,
                    cache_dir: Optional[Path] = None, progress: Progress = None,
                    refresh: bool = False) -> Path:
    """The fakeroot made by both `make install` runs (read-only, cached)."""
    return obtain_sources(framework_repo, framework_ref, module_repo, module_ref, cache_dir=cache_dir,
                          progress=progress, refresh=refresh).fakeroot


def fakeroot_for(answers, *, cache_dir: Optional[Path] = None, progress: Progress = None,
                 refresh: bool = False) -> tuple[Path, Optional[Path]]:
    """(fakeroot, module source directory or None) for KVC answers.

    ``kvc.fakeroot`` wins when set: it is used as given, and there are no module sources.
    """
    given = answers.get("kvc.fakeroot")
    if given:
        path = Path(os.path.expanduser(given))
        if pseudo_filesystem(path):  # /proc/self/cwd, /proc/1/root lead into whole other trees
            raise FetchError("kvc.fakeroot", f"kvc.fakeroot {given!r} lies in {pseudo_filesystem(path)}, whose "
                             "entries the kernel generates", "give the directory you ran `make install "
                             "DESTDIR=<it>/usr/local CONFDIR=<it>/etc/` into")
        try:
            is_dir = path.is_dir()
        except OSError:  # permission denied on the way
            is_dir = False
        if not is_dir:
            raise FetchError("kvc.fakeroot", f"kvc.fakeroot {given!r} is not a directory",
                             "give the directory you ran `make install DESTDIR=<it>/usr/local "
                             "CONFDIR=<it>/etc/` into, or leave kvc.fakeroot empty to fetch the repositories")
        try:
            return path.resolve(), None
        except OSError as exc:
            raise FetchError("kvc.fakeroot", f"kvc.fakeroot {given!r} cannot be resolved: {exc.strerror}",
                             "give a directory you can read") from None
    sources = obtain_sources(answers.get("kvc.framework_repo"), answers.get("kvc.framework_ref"),
                             answers.get("kvc.module_repo"), answers.get("kvc.module_ref"),
                             cache_dir=cache_dir, progress=progress, refresh=refresh)
    return sources.fakeroot, sources.module_dir


def obtain_sources(framework_repo: str, framework_ref: str, module_repo: str, module_ref: str, *,
                   cache_dir: Optional[Path] = None, progress: Progress = None,
                   refresh: bool = False) -> KvcSources:
    """Fetch both repositories and install them into a fakeroot; cached (see the module doc)."""
    framework = _resolve("kvc.framework_repo", framework_repo, framework_ref or "")
    module = _resolve("kvc.module_repo", module_repo, module_ref or "")
    entry = _entry(cache_dir, framework, module)

    with _memo_lock:
        known = None if refresh else _memo.get(str(entry))
        building = _building.setdefault(str(entry), threading.Lock())
    if known and known.fakeroot.is_dir():
        return known
    with building:  # one build per entry in this process; other processes rely on the atomic rename
        if not refresh and (entry / "fakeroot").is_dir():
            result = _sources_in(entry, framework, module)
        else:
            _build(framework, module, entry, progress, refresh)
            result = _sources_in(entry, framework, module)
    with _memo_lock:
        _memo[str(entry)] = result
    return result


def _entry(cache_dir: Optional[Path], framework: _Source, module: _Source) -> Path:
    import hashlib  # here, not at the top: with kvc.fakeroot nothing is fetched (start-up time)

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, framework.state, module.state]).encode()).hexdigest()[:32]
    return cache / "kvc" / key


def remote_fetches(answers, *, cache_dir: Optional[Path] = None) -> list[str]:
    """The git URLs a render of these KVC answers would clone now: none when kvc.fakeroot is set,
    when the repositories are local directories, or when the disk cache holds them already.
    Lets a front end fetch nothing until the user has chosen the repositories."""
    if answers.get("method") != "kvc" or answers.get("kvc.fakeroot"):
        return []
    repos = [answers.get("kvc.framework_repo") or "", answers.get("kvc.module_repo") or ""]
    urls = [repo for repo in repos if URL_PATTERN.match(repo)]
    if not urls:
        return []
    try:
        framework = _resolve("kvc.framework_repo", repos[0], answers.get("kvc.framework_ref") or "")
        module = _resolve("kvc.module_repo", repos[1], answers.get("kvc.module_ref") or "")
    except FetchError:
        return []  # nothing to fetch: the render reports the problem
    if (_entry(cache_dir, framework, module) / "fakeroot").is_dir():
        return []
    return urls


def _build(framework: _Source, module: _Source, entry: Path, progress: Progress, refresh: bool) -> None:
    _require_tool("make", "to run `make install` in the repositories", framework.key)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=entry.parent))
    except OSError as exc:
        raise FetchError(framework.key, f"cannot use the cache directory {entry.parent}: {exc.strerror}",
                         "make $XDG_CACHE_HOME (default ~/.cache) a writable directory") from None
    try:
        dirs = {}
        for name, source in (("framework", framework), ("module", module)):
            dirs[name] = _checkout(source, work / name, progress)
        fakeroot = work / "fakeroot"
        fakeroot.mkdir()
        for name, source in (("framework", framework), ("module", module)):
            _make_install(source, dirs[name], fakeroot, progress, hide=work)
        _relative_links(fakeroot)
        if not any(fakeroot.iterdir()):
            raise FetchError(module.key, "`make install DESTDIR=<fakeroot>/usr/local CONFDIR=<fakeroot>/etc/` "
                             f"installed nothing from {framework.describe()} and {module.describe()}",
                             "check that both Makefiles install into $(DESTDIR) and $(CONFDIR)")
        _publish(work, entry, replace=refresh)
        if not (entry / "fakeroot").is_dir():
            raise FetchError(module.key, f"could not store the installed tree in the cache {entry}",
                             "check that the cache directory is writable ($XDG_CACHE_HOME/kmwizard)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- sources -------------------------------------------------------------------------

def _resolve(key: str, repo: str, ref: str) -> _Source:
    if not repo:
        raise FetchError(key, f"{key} is empty", "give a git URL (https://...) or a local directory")
    if URL_PATTERN.match(repo):
        if repo.startswith("git://github.com/"):
            raise FetchError(key, f"{key} {repo!r} uses git://, which GitHub turned off in 2022",
                             f"use {'https://' + repo[len('git://'):]!r}")
        if not ref:
            raise FetchError(key, f"the ref for {key} {repo!r} is empty", "give a branch, tag or commit")
        return _Source(key, repo, ref, "url", repo, f"url {repo} {ref}")
    path = Path(os.path.expanduser(repo))
    if not path.is_dir():
        raise FetchError(key, f"{key} {repo!r} is neither a git URL nor an existing directory",
                         "give an https:// git URL, or the path of a local checkout")
    path = path.resolve()
    if ref in ("", "HEAD") or not _is_git_checkout(path):
        return _Source(key, repo, ref, "local", str(path), f"local {path} {tree_fingerprint(path)}")
    want = _rev_parse(path, ref)
    if want is None:
        raise FetchError(key, f"ref {ref!r} of {key} {repo!r} does not name a commit in that checkout",
                         "give a branch, tag or commit that exists there, or HEAD to use the working tree "
                         "as it is (uncommitted edits included)")
    if want == _rev_parse(path, "HEAD"):  # the checked-out commit: use the tree, edits included
        return _Source(key, repo, ref, "local", str(path), f"local {path} {tree_fingerprint(path)}")
    return _Source(key, repo, ref, "local-ref", str(path), f"local-ref {path} {want}")


def _git_stamp(path: Path) -> tuple:
    """Changes whenever HEAD, a ref or the packed refs of the checkout at path change: git writes
    refs by renaming a lock file, which changes the mtime of the directory holding the ref."""
    git_dir = path / ".git"
    stamp = []
    for name in ("HEAD", "packed-refs"):
        try:
            st = os.stat(git_dir / name)
            stamp.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stamp.append((name, None))
    for dirpath, dirnames, _ in os.walk(git_dir / "refs"):
        dirnames.sort()
        stamp.append((dirpath, os.stat(dirpath).st_mtime_ns))
    return (str(path), git_dir.exists(), tuple(stamp))


# A preview re-renders on every keystroke: ask git again only when the checkout's refs changed.
_git_probe_memo: dict = {}


def _memo_git(kind: str, path: Path, ref: str, probe):
    key = (kind, ref, _git_stamp(path))
    if key not in _git_probe_memo:
        if len(_git_probe_memo) > 256:
            _git_probe_memo.clear()
        _git_probe_memo[key] = probe()
    return _git_probe_memo[key]


def _is_git_checkout(path: Path) -> bool:
    if not shutil.which("git"):
        return False
    return _memo_git("toplevel", path, "", lambda: _probe_toplevel(path))


def _probe_toplevel(path: Path) -> bool:
    import subprocess

    probe = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True,
                           text=True, env=_git_env(), stdin=subprocess.DEVNULL, timeout=30)
    return probe.returncode == 0 and Path(probe.stdout.strip()).resolve() == path


def _rev_parse(path: Path, ref: str) -> Optional[str]:
    return _memo_git("rev-parse", path, ref, lambda: _probe_rev_parse(path, ref))


def _probe_rev_parse(path: Path, ref: str) -> Optional[str]:
    import subprocess

    probe = subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                           capture_output=True, text=True, env=_git_env(), stdin=subprocess.DEVNULL, timeout=30)
    return probe.stdout.strip() if probe.returncode == 0 else None


def tree_fingerprint(root: Path) -> str:
    """Changes whenever a file under root is added, removed, edited or re-moded (.git ignored)."""
    import hashlib

    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            link = os.readlink(full) if os.path.islink(full) else ""
            digest.update(f"{os.path.relpath(full, root)}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0"
                          f"{link}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _sources_in(entry: Path, framework: _Source, module: _Source) -> KvcSources:
    def where(source: _Source, name: str) -> Path:
        return Path(source.location) if source.kind == "local" else entry / name
    return KvcSources(entry / "fakeroot", where(framework, "framework"), where(module, "module"))


# --- running git and make ------------------------------------------------------------

def _checkout(source: _Source, dest: Path, progress: Progress) -> Path:
    """The directory to run make in: the local tree itself, or a fresh clone at the ref."""
    if source.kind == "local":
        return Path(source.location)
    _require_tool("git", f"to fetch {source.describe()}", source.key)
    if progress:
        progress(f"fetching {_redact(source.repo)} at {source.ref}")
    dest.mkdir()
    _run(["git", "init", "--quiet", str(dest)], source, "git init", GIT_TIMEOUT)
    _run(["git", "-C", str(dest), "remote", "add", "origin", source.location], source, "git remote add",
         GIT_TIMEOUT)
    # A shallow fetch of the ref is quick for branches and tags (and commits on most servers);
    # fall back to fetching everything for a commit the server will not hand out by id.
    shallow = _run(["git", "-C", str(dest), "fetch", "--quiet", "--depth", "1", "origin", source.ref],
                   source, "git fetch", GIT_TIMEOUT, check=False)
    if shallow.returncode == 0:
        _run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", "FETCH_HEAD"], source,
             "git checkout", GIT_TIMEOUT)
        return dest
    full = _run(["git", "-C", str(dest), "fetch", "--quiet", "--tags", "origin",
                 "+refs/heads/*:refs/remotes/origin/*"], source, "git fetch", GIT_TIMEOUT, check=False)
    if full.returncode != 0:
        _fail(source, f"git fetch {source.location} {source.ref}", shallow.output + full.output,
              "check the URL and that it is reachable without a password (kmwizard never prompts; "
              "use a public https URL or a local checkout)")
    for candidate in (source.ref, f"origin/{source.ref}"):
        done = _run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", candidate], source,
                    "git checkout", GIT_TIMEOUT, check=False)
        if done.returncode == 0:
            return dest
    _fail(source, f"git fetch {source.location} {source.ref}", shallow.output,
          f"the ref {source.ref!r} is not a branch, tag or commit of {_redact(source.repo)}; "
          f"fix {source.key[:-len('_repo')]}_ref")


def _relative_links(fakeroot: Path) -> None:
    """``ln -s $(DESTDIR)/lib/x $(DESTDIR)/bin/y`` writes the build directory's absolute path into the
    link; the tree is renamed into the cache afterwards, so such links become relative ones."""
    names = {str(fakeroot), os.path.realpath(fakeroot)}
    for dirpath, dirnames, filenames in os.walk(fakeroot):
        for name in dirnames + filenames:
            link = os.path.join(dirpath, name)
            if not os.path.islink(link):
                continue
            target = os.readlink(link)
            for root in names:
                if target == root or target.startswith(root + "/"):
                    os.unlink(link)
                    os.symlink(os.path.relpath(os.path.join(fakeroot, target[len(root):].lstrip("/")), dirpath),
                               link)
                    break


def forget(fakeroot: Path) -> None:
    """Drop the cached build of ``fakeroot`` (from obtain_sources) whose tree turned out unusable,
    so the next run builds it again (a fix in the repository at the same ref is then picked up)."""
    entry = Path(fakeroot).parent
    with _memo_lock:
        _memo.pop(str(entry), None)
    if entry.parent.name == "kvc" and (entry / "fakeroot").is_dir():
        trash = entry.with_name(entry.name + f".old-{os.getpid()}-{threading.get_ident()}")
        with contextlib.suppress(OSError):
            os.rename(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)


def _make_install(source: _Source, directory: Path, fakeroot: Path, progress: Progress, *,
                  hide: Optional[Path] = None) -> None:
    if progress:
        progress(f"make install in {_redact(source.repo)}")
    args = ["make", "install", f"DESTDIR={fakeroot}/usr/local", f"CONFDIR={fakeroot}/etc/"]
    # umask 022 as on a normal login, so directories come out 0755 whatever our caller's umask.
    result = _run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *args], source, "make install", MAKE_TIMEOUT,
                  cwd=directory, check=False)
    if result.returncode != 0:
        # name the user's answer, never kmwizard's build directory in the cache
        output = result.output.replace(str(fakeroot), "<fakeroot>")
        where = "the repository" if source.kind == "local" else "a fresh checkout"
        if hide is not None:
            output = output.replace(str(hide), "<build>")
        _fail(source, f"make install DESTDIR=<fakeroot>/usr/local CONFDIR=<fakeroot>/etc/ (in {where})",
              output,
              "fix the repository's Makefile (its install target must only write below $(DESTDIR) and "
              "$(CONFDIR), without sudo), or build the tree yourself and set kvc.fakeroot")


@record
class _Result:
    returncode: int
    output: str


def _run(args: list[str], source: _Source, display: str, timeout: float, *, cwd: Optional[Path] = None,
         check: bool = True) -> _Result:
    import subprocess

    env = _git_env()
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a caller's make must not steer the repos' make
        env.pop(name, None)
    # A new session so a timeout can kill make's children too.
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        _fail(source, f"{display} (timed out after {timeout:g} s)", out.decode("utf-8", "replace"),
              "check the network and the repository; kmwizard never waits for a password prompt")
    except BaseException:
        # Ctrl-C: the terminal's SIGINT does not reach the new session, so end git or make here
        # instead of leaving it running (and writing into the cache) after kmwizard exits.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    result = _Result(proc.returncode, out.decode("utf-8", "replace"))
    if check and result.returncode != 0:
        _fail(source, display, result.output, "check the repository and the ref")
    return result


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # a private repo fails instead of waiting for a password
    env["GIT_SSH_COMMAND"] = env.get("GIT_SSH_COMMAND", "ssh") + " -o BatchMode=yes"
    env["GCM_INTERACTIVE"] = "never"
    env["LC_ALL"] = "C"  # messages we quote are in English
    return env


def _fail(source: _Source, command: str, output: str, fix: str) -> NoReturn:
    lines = [line for line in output.strip().splitlines() if line.strip()][-TAIL_LINES:]
    tail = "\n".join("    " + line for line in lines) or "    (no output)"
    raise FetchError(source.key, _redact(f"{command} failed for {source.describe()}; the end of its output:\n{tail}"),
                     fix)


def _redact(text: str) -> str:
    """Hide credentials written into URLs (https://user:token@host/...)."""
    return re.sub(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", r"\1***@", text)


def _require_tool(tool: str, why: str, key: str) -> None:
    if not shutil.which(tool):
        raise FetchError(key, f"{tool} is not installed (needed {why})",
                         f"install {tool}, or build the tree yourself and set kvc.fakeroot")


def _publish(work: Path, entry: Path, *, replace: bool) -> None:
    """Move the finished build into place atomically; a concurrent builder's result is as good."""
    try:
        os.rename(work, entry)
        return
    except OSError:
        if not replace:
            return  # someone else finished first: use theirs
    trash = entry.with_name(entry.name + f".old-{os.getpid()}-{threading.get_ident()}")
    try:
        os.rename(entry, trash)
    except OSError:
        pass
    try:
        os.rename(work, entry)
    except OSError:
        pass  # a concurrent refresh won
    shutil.rmtree(trash, ignore_errors=True)
