"""Independent judges for Ignition configs (test code only).

- ``validate(config)``: Debian's ``ignition-validate`` (Ignition 2.14.0).
- ``apply_files_stage(config)``: the real Ignition binary runs its ``fetch-offline`` and ``files``
  stages against a scratch root, as on a node's first boot, and we read back what it wrote.
- ``schema_errors(config)``: the upstream JSON schema of the config's spec version.

Each ``require_*`` skips the calling test with a reason when its judge cannot run here.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IGNITION = Path(os.environ.get("IGNITION_BIN", "/usr/lib/dracut/modules.d/30ignition/ignition"))
VALIDATOR = shutil.which("ignition-validate")


def require_validator() -> str:
    if not VALIDATOR:
        pytest.skip("ignition-validate is not installed (Debian package `ignition`)")
    return VALIDATOR


def require_ignition() -> Path:
    if not os.access(IGNITION, os.X_OK):
        pytest.skip(f"the Ignition binary {IGNITION} is missing (Debian package `ignition`)")
    if os.geteuid() != 0:
        pytest.skip("the Ignition files stage needs root (it chowns what it writes)")
    return IGNITION


def for_ignition_2_14(config: dict, *, experimental_ok: bool) -> dict:
    """Ignition 2.14 predates final spec 3.4.0 and 3.5.0.  For the parts kmwizard emits (files, units,
    ssh keys) those versions are identical to 3.3.0 (and 3.4.0 to 3.4.0-experimental), so judging the
    config under that version is judging the same content."""
    version = config["ignition"]["version"]
    if version in ("3.4.0", "3.5.0"):
        config = {**config, "ignition": {**config["ignition"],
                                         "version": "3.4.0-experimental" if experimental_ok and
                                         version == "3.4.0" else "3.3.0"}}
    return config


def validate(config: dict, tmp_dir: Path) -> tuple[int, str]:
    """(exit code, combined output) of ignition-validate on ``config``."""
    validator = require_validator()
    path = Path(tmp_dir) / "validate.ign"
    path.write_text(json.dumps(for_ignition_2_14(config, experimental_ok=False)))
    proc = subprocess.run([validator, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    return proc.returncode, proc.stdout


@dataclass
class Written:
    kind: str            # "file", "dir", "link"
    mode: int
    data: bytes | None


# A stand-in for SELinux's setfiles: Ignition relabels what it wrote when a policy is configured
# (it is compiled in on Debian); the stub records the paths instead of touching labels.
_SETFILES = '#!/bin/sh\ncat > "$(dirname "$0")/relabel.list"\n'


def apply_files_stage(config: dict) -> dict[str, Written]:
    """Run Ignition's fetch-offline and files stages on ``config`` into a scratch root.

    Everything Ignition writes stays in a private temporary directory (config cache, state, temp
    files), removed afterwards.  Returns every path written below the root, with
    ``/etc/.ignition-result.json`` left out.
    """
    binary = require_ignition()
    with tempfile.TemporaryDirectory(prefix="kmwizard-ignition-") as scratch:
        # Ignition creates core's ~/.ssh as core (uid 1000), so the path must be traversable
        # (pytest's own tmp folders are 0700).
        os.chmod(scratch, 0o755)
        return _apply(binary, config, Path(scratch))


def _apply(binary: Path, config: dict, work: Path) -> dict[str, Written]:
    root, state, tools = work / "root", work / "state", work / "tools"
    for d in (root / "etc" / "selinux", state, tools, work / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    (root / "etc" / "selinux" / "config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    seeded = _seed_rhcos_users(root)
    setfiles = tools / "setfiles"
    setfiles.write_text(_SETFILES)
    setfiles.chmod(0o755)
    config_file = work / "config.ign"
    config_file.write_text(json.dumps(for_ignition_2_14(config, experimental_ok=True)))
    env = {**os.environ, "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "IGNITION_CONFIG_FILE": str(config_file),
           "IGNITION_SYSTEM_CONFIG_DIR": str(work / "system-config"),
           "TMPDIR": str(work / "tmp")}
    flags = ["-platform", "file", "-root", str(root), "-log-to-stdout",
             "-config-cache", str(state / "config.json"), "-neednet", str(state / "neednet"),
             "-state-file", str(state / "state")]
    previous_umask = os.umask(0o022)          # what the initramfs runs with
    try:
        for stage in ("fetch-offline", "files"):
            proc = subprocess.run([str(binary), *flags, "-stage", stage], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if proc.returncode:
                critical = [line for line in proc.stdout.splitlines() if "CRITICAL" in line]
                raise AssertionError(f"Ignition stage {stage} failed (rc {proc.returncode}): "
                                     f"{critical or proc.stdout[-3000:]}")
    finally:
        os.umask(previous_umask)
    shutil.rmtree(root / "etc" / "selinux")
    written: dict[str, Written] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            full = Path(dirpath, name)
            st = full.lstat()
            rel = "/" + full.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                written[rel] = Written("link", stat.S_IMODE(st.st_mode), os.readlink(full).encode())
            elif stat.S_ISDIR(st.st_mode):
                written[rel] = Written("dir", stat.S_IMODE(st.st_mode), None)
            else:
                written[rel] = Written("file", stat.S_IMODE(st.st_mode), full.read_bytes())
    written.pop("/etc/.ignition-result.json", None)
    for path, data in seeded.items():                 # report only what Ignition wrote or changed
        if path in written and written[path].data == data:
            del written[path]
    return written


def _seed_rhcos_users(root: Path) -> dict[str, bytes | None]:
    """RHCOS images ship the user core (uid 1000, home /var/home/core owned by core); Ignition writes
    ssh keys into that home as the user, so the scratch root needs it too."""
    files = {"/etc/passwd": b"root:x:0:0:root:/root:/bin/bash\n"
                           b"core:x:1000:1000:CoreOS Admin:/var/home/core:/bin/bash\n",
             "/etc/group": b"root:x:0:\ncore:x:1000:\n"}
    for path, data in files.items():
        (root / path.lstrip("/")).write_bytes(data)
    home = root / "var" / "home" / "core"
    home.mkdir(parents=True)
    os.chown(home, 1000, 1000)
    return {**files, "/var": None, "/var/home": None, "/var/home/core": None}


PRESET = "/etc/systemd/system-preset/20-ignition.preset"


def preset_lines(written: dict[str, Written]) -> set[str]:
    entry = written.get(PRESET)
    return set(entry.data.decode().split("\n")) - {""} if entry else set()


def schema_errors(config: dict) -> list[str]:
    """Errors of ``config`` against the upstream Ignition JSON schema of its spec version."""
    import jsonschema

    version = config["ignition"]["version"]
    path = SHARED / "reference" / "ignition-schemas" / f"ignition-v{version.replace('.', '_')[:3]}.json"
    if not path.is_file():
        pytest.skip(f"Ignition schema {path} is absent (the shared reference folder is not here)")
    schema = json.loads(path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)]
