"""Writing a Rendering to disk: atomically, never over a user's file without consent.

Every file is written to a temporary file in the target directory and renamed into
place, so an interrupted run leaves either the old file or the new one.  Files that
hold key material are created 0600 from the start (never briefly world-readable).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kmwizard.findings import UsageError
from kmwizard.records import record
from kmwizard.rendering import OutputFile, Rendering


@record(frozen=True)
class PlannedFile:
    file: OutputFile
    target: Path
    exists: bool
    unchanged: bool  # exists with the same bytes: rewriting it changes nothing


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
        exists = target.exists() or target.is_symlink()
        unchanged = exists and target.is_file() and _same_bytes(target, file.content)
        planned.append(PlannedFile(file, target, exists, unchanged))
    return WritePlan(directory, tuple(planned))


def _same_bytes(path: Path, content: bytes) -> bool:
    try:
        return path.stat().st_size == len(content) and path.read_bytes() == content
    except OSError:
        return False


def write(plan_: WritePlan, *, force: bool = False) -> list[Path]:
    """Write every planned file; refuse before writing anything if one would be overwritten."""
    if plan_.overwrites and not force:
        names = ", ".join(str(p.target) for p in plan_.overwrites[:5])
        more = f" and {len(plan_.overwrites) - 5} more" if len(plan_.overwrites) > 5 else ""
        raise UsageError(f"refusing to overwrite existing files: {names}{more}",
                         "choose another --output-dir, remove them, or pass --force to replace them")
    blocker = next((d for d in (plan_.directory, *plan_.directory.parents) if d.exists() or d.is_symlink()), None)
    if blocker is not None and not blocker.is_dir():
        raise UsageError(f"cannot write into {plan_.directory}: {blocker} is a file, not a directory",
                         "choose another --output-dir")
    written: list[Path] = []
    for planned in plan_.files:
        if planned.unchanged and _mode_of(planned.target) == planned.file.mode:
            written.append(planned.target)
            continue
        try:
            atomic_write(planned.target, planned.file.content, planned.file.mode)
        except OSError as exc:  # a file where a folder must be, no permission, disk full, ...
            done = f" (already written: {', '.join(str(p) for p in written)})" if written else " (nothing was written)"
            raise UsageError(f"cannot write {planned.target}: {exc.strerror or exc}{done}",
                             "choose an --output-dir you can write to (a directory, or a path that does not "
                             "exist yet)") from None
        written.append(planned.target)
    return written


def _mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def atomic_write(target: Path, content: bytes, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any byte is written: secrets are never readable by others
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
