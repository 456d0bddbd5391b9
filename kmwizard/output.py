"""Writing a Rendering to disk: atomically, never over a user's file without consent.

A write is all or nothing: every file is staged in a temporary file beside its target (a short
name, so it fits NAME_MAX whenever the target does), then all are renamed into place with
signals held; a failure or an interruption at any point removes what this run created (files
and directories) and puts back the files it replaced.  Files that hold key material are
created 0600 from the start (never briefly world-readable).
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from kmwizard.findings import UsageError
from kmwizard.records import record
from kmwizard.rendering import OutputFile, Rendering


@record(frozen=True)
class PlannedFile:
    file: OutputFile
    target: Path
    exists: bool
    unchanged: bool  # exists with the same bytes and mode: rewriting it changes nothing


@record(frozen=True)
class WritePlan:
    directory: Path
    files: tuple[PlannedFile, ...]

    @property
    def overwrites(self) -> list[PlannedFile]:
        return [p for p in self.files if p.exists and not p.unchanged]


def install_manifests_dir(install_dir: Path) -> Path:
    """Day 1: the openshift/ folder of an openshift-install directory, or a clear refusal."""
    install_dir = Path(install_dir).expanduser()
    manifests = install_dir / "openshift"
    markers = [install_dir / "manifests", manifests]
    if not install_dir.is_dir():
        raise UsageError(f"{install_dir} does not exist or is not a directory",
                         "give the directory you ran `openshift-install create manifests --dir <dir>` in")
    if not all(m.is_dir() for m in markers):
        raise UsageError(f"{install_dir} is not an openshift-install manifests directory "
                         "(it has no manifests/ and openshift/ folders)",
                         f"run `openshift-install create manifests --dir {install_dir}` first, then generate again")
    return manifests


def plan(rendering: Rendering, out_dir: Path | str) -> WritePlan:
    directory = Path(out_dir).expanduser()
    if rendering.install_subdir:
        directory = install_manifests_dir(directory)
    planned = []
    for file in rendering.written_files:
        target = directory / file.path
        exists = _lexists(target)
        unchanged = exists and _same_file(target, file.content, file.mode)
        planned.append(PlannedFile(file, target, exists, unchanged))
    return WritePlan(directory, tuple(planned))


def _lexists(path: Path) -> bool:
    """Whether anything (a link too) is at path; a name too long or a file where a directory should be
    means nothing is there (write() says what is wrong with the name)."""
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def _same_file(path: Path, content: bytes, mode: int) -> bool:
    """Same bytes and same mode: only then is rewriting it no change (0644 -> 0600 is a change)."""
    try:
        st = path.stat()
        return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode and st.st_size == len(content) \
            and path.read_bytes() == content
    except OSError:
        return False


_WRITE_FIX = "choose an --output-dir you can write to (a directory, or a path that does not exist yet)"


def write(plan_: WritePlan, *, force: bool = False) -> list[Path]:
    """Write every planned file or none: refuse before writing anything if one would be overwritten
    without ``force`` or cannot be written; stage each file beside its target, then move them all into
    place; on any failure or interruption (Ctrl-C, SIGTERM, SIGHUP) put back what was there before."""
    if plan_.overwrites and not force:
        names = ", ".join(str(p.target) for p in plan_.overwrites[:5])
        more = f" and {len(plan_.overwrites) - 5} more" if len(plan_.overwrites) > 5 else ""
        raise UsageError(f"refusing to overwrite existing files: {names}{more}",
                         "choose another --output-dir, remove them, or pass --force to replace them")
    _check_targets(plan_)
    txn = _Transaction()
    try:
        for planned in plan_.files:
            if not planned.unchanged:
                txn.stage(planned.target, planned.file.content, planned.file.mode)
                _test_pause(f"staged {planned.target.name}")
        with _signals_held():
            txn.commit()
    except OSError as exc:  # disk full, a name the file system refuses, no permission, ...
        txn.rollback()
        raise UsageError(f"cannot write {exc.filename or plan_.directory}: {exc.strerror or exc} "
                         "(nothing was written; what was there before is unchanged)", _WRITE_FIX) from None
    except BaseException:  # Ctrl-C, SIGTERM, SIGHUP (they arrive as KeyboardInterrupt)
        txn.rollback()
        raise
    txn.finish()
    return [p.target for p in plan_.files]


def _check_targets(plan_: WritePlan) -> None:
    """What can be known before writing: a file where a directory must be, a directory where a file
    must be, a name longer than the file system allows."""
    blocker = next((d for d in (plan_.directory, *plan_.directory.parents) if _lexists(d)), None)
    if blocker is not None and not blocker.is_dir():
        raise UsageError(f"cannot write into {plan_.directory}: {blocker} is a file, not a directory",
                         "choose another --output-dir")
    name_max = _name_max(blocker or Path("."))
    for planned in plan_.files:
        target = planned.target
        long = next((part for part in target.parts if len(os.fsencode(part)) > name_max), None)
        if long is not None:
            raise UsageError(f"cannot write {target}: the name {long[:40]}... has {len(os.fsencode(long))} "
                             f"bytes, more than the {name_max} this file system allows (nothing was written)",
                             "choose a shorter name (machineconfig.name, kmm.name) or output directory")
        mode = os.lstat(target).st_mode if _lexists(target) else stat.S_IFREG
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            kind = "directory" if stat.S_ISDIR(mode) else "special file"
            raise UsageError(f"cannot write {target}: a {kind} of that name is in the way (nothing was written)",
                             f"remove or rename {target}, or choose another --output-dir")


def _name_max(existing: Path) -> int:
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


class _Transaction:
    """Staged files beside their targets; commit moves them into place, rollback undoes everything."""

    def __init__(self) -> None:
        self.created_dirs: list[Path] = []          # made by this run, deepest last
        self.staged: list[tuple[Path, Path, Path | None]] = []   # (temporary, target, backup of the old one)
        self.committed: list[tuple[Path, Path, Path | None]] = []

    def stage(self, target: Path, content: bytes, mode: int) -> None:
        self._make_dirs(target.parent)
        tmp = _write_temp(target.parent, content, mode)
        backup = None
        self.staged.append((tmp, target, None))
        if _lexists(target):
            backup = _temp_name(target.parent, ".bak")
            os.link(target, backup, follow_symlinks=False)  # the old file, to put back on failure
            self.staged[-1] = (tmp, target, backup)

    def commit(self) -> None:
        for item in self.staged:
            tmp, target, _backup = item
            os.replace(tmp, target)
            self.committed.append(item)
            _test_pause(f"committed {target.name}")

    def rollback(self) -> None:
        with _signals_held():
            for tmp, target, backup in reversed(self.committed):
                _quietly(os.replace, backup, target) if backup else _quietly(os.unlink, target)
            for tmp, _target, backup in self.staged:
                _quietly(os.unlink, tmp)
                if backup and (tmp, _target, backup) not in self.committed:
                    _quietly(os.unlink, backup)
            for directory in reversed(self.created_dirs):
                _quietly(os.rmdir, directory)  # only if empty: never what others put there
            self.staged, self.committed, self.created_dirs = [], [], []

    def finish(self) -> None:
        with _signals_held():
            for _tmp, _target, backup in self.committed:
                if backup:
                    _quietly(os.unlink, backup)

    def _make_dirs(self, directory: Path) -> None:
        missing = []
        while not _lexists(directory):
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            os.mkdir(d)
            self.created_dirs.append(d)


def _quietly(func, *args) -> None:
    try:
        func(*args)
    except OSError:
        pass


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait while files are moved into place or put back, so a signal
    never leaves half a set; one that arrived meanwhile is raised when this block ends."""
    held = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _temp_name(directory: Path, suffix: str) -> Path:
    """A short unused name: 16 characters fit every file system's NAME_MAX whatever the target's name."""
    for _ in range(100):
        candidate = directory / f".kmw-{os.urandom(4).hex()}{suffix}"
        if not _lexists(candidate):
            return candidate
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(directory))


def _write_temp(directory: Path, content: bytes, mode: int) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kmw-", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any byte is written: secrets are never readable by others
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _quietly(os.unlink, tmp)
        raise
    return Path(tmp)


_steps = 0


def _test_pause(step: str) -> None:
    """Test hook (tests/test_hostile_write.py): with KMWIZARD_TEST_PAUSE=N set, the N-th step of a write
    (staging or moving one file) announces itself on stderr and waits half a second, so a test can send
    a signal at exactly that point.  Unset (always, outside tests) it costs one environment lookup."""
    global _steps
    at = os.environ.get("KMWIZARD_TEST_PAUSE")
    if not at:
        return
    _steps += 1
    if _steps == int(at):
        sys.stderr.write(f"kmwizard-test-pause: {step}\n")
        sys.stderr.flush()
        time.sleep(0.5)


def atomic_write(target: Path, content: bytes, mode: int = 0o644) -> None:
    """One file, replaced atomically (presets, key maps): the old file or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(target.parent, content, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        _quietly(os.unlink, tmp)
        raise
