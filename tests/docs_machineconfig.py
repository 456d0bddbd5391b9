"""The OpenShift docs' hand-made KVC MachineConfig, rebuilt here by following the documented procedure
(../shared/seeds/000_*.txt, steps 4-10) on the fixture repositories of ``kvc_fixtures``:

1. ``baseconfig.ign``: Ignition 3.1.0, user core with ``groups: [sudo]`` and an SSH key, and the
   ``require-kvc-simple-kmod.service`` unit;
2. ``mc-base.yaml``: MachineConfig ``10-kvc-simple-kmod`` with the worker role label;
3. ``make install DESTDIR=$FAKEROOT/usr/local CONFDIR=$FAKEROOT/etc/`` in the framework, then the module;
4. ``filetranspile -i baseconfig.ign -f $FAKEROOT --format=yaml --dereference-symlinks``: written out below
   as filetranspiler 1.1.3 behaves (docs/kvc-machineconfig.md section 3): each regular file becomes
   ``{path, mode, overwrite: true, contents.source: data:<mime>;charset=<enc>;base64,...}`` in directory
   order, links to files are dereferenced, links to directories are dropped, nothing is compressed.

Test code only: nothing upstream is copied; the procedure is run, not its output pasted.
"""
from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from kvc_fixtures import FixtureRepos

SSH_KEY = "ssh-rsa AAAA"  # the docs' placeholder


def base_config() -> dict:
    return {
        "ignition": {"version": "3.1.0"},
        "passwd": {"users": [{"name": "core", "groups": ["sudo"], "sshAuthorizedKeys": [SSH_KEY]}]},
        "systemd": {"units": [{
            "name": "require-kvc-simple-kmod.service", "enabled": True,
            "contents": "[Unit]\nRequires=kmods-via-containers@simple-kmod.service\n[Service]\nType=oneshot\n"
                        "ExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target"}]},
    }


def make_install(repos: FixtureRepos, fakeroot: Path) -> Path:
    fakeroot.mkdir(parents=True, exist_ok=True)
    for repo in (repos.framework, repos.module):
        subprocess.run(["make", "install", f"DESTDIR={fakeroot}/usr/local", f"CONFDIR={fakeroot}/etc/"],
                       cwd=repo, check=True, capture_output=True)
    return fakeroot


def _mime(data: bytes) -> str:
    if not data:
        return "data:inode/x-empty;charset=binary;base64,"
    try:
        data.decode("ascii")
        return "data:text/plain;charset=us-ascii;base64,"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("utf-8")
        return "data:text/plain;charset=utf-8;base64,"
    except UnicodeDecodeError:
        return "data:application/octet-stream;charset=binary;base64,"


def filetranspile(base: dict, fakeroot: Path) -> dict:
    config = dict(base)
    files = []
    for dirpath, _dirs, names in os.walk(fakeroot):   # links to directories are not followed (dropped)
        for name in names:
            full = Path(dirpath, name)
            if full.is_symlink() and full.resolve().is_dir():
                continue
            data = full.read_bytes()                 # --dereference-symlinks: the target's bytes and mode
            files.append({"path": "/" + full.relative_to(fakeroot).as_posix(), "mode": full.stat().st_mode & 0o777,
                          "overwrite": True,
                          "contents": {"source": _mime(data) + base64.b64encode(data).decode()}})
    config["storage"] = {"files": files}
    return config


def docs_machineconfig(repos: FixtureRepos, work: Path) -> dict:
    config = filetranspile(base_config(), make_install(repos, work / "fakeroot"))
    return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
            "metadata": {"labels": {"machineconfiguration.openshift.io/role": "worker"}, "name": "10-kvc-simple-kmod"},
            "spec": {"config": config}}
