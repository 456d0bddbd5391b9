"""Does the module's unit get enabled on every path that applies the config, on every release?

Two paths apply a MachineConfig's units:
* the machine-config-daemon on day 2: modelled below from openshift/machine-config-operator
  pkg/daemon/update.go ``(*Daemon).writeUnits`` of release-4.19 and release-4.20 (the model is this
  test's own reading of that code, not kmwizard's);
* Ignition at first boot (install, and every node that joins later): judged with the real Ignition
  files stage and Debian's real ``systemctl --root=ROOT preset-all`` (systemd 252, as RHCOS 4.13+).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kmwizard.findings import KmwizardError
from kmwizard.kvc.ignition import base_config, choose_enable_style, merge_files, spec_version_for
from kmwizard.kvc.lint import lint_machineconfig
from kmwizard.kvc.machineconfig import machineconfig
from kmwizard.kvc.transpile import transpile_tree
from tests.ignition_oracle import Written, apply_files_stage, require_ignition
from tests.kvc_trees import MODULE, build_kvc_tree

INSTANCE = f"kmods-via-containers@{MODULE}.service"
TEMPLATE_PATH = "/etc/systemd/system/kmods-via-containers@.service"
RELEASES = [f"4.{minor}" for minor in range(6, 24)]


# --- the daemon (day 2) -------------------------------------------------------------------------------

def daemon_enabled_units(config: dict, minor: int) -> set[str]:
    """The units the daemon passes to ``systemctl enable`` (pkg/daemon/update.go writeUnits).

    release-4.19 and older: every unit whose ``enabled`` is true.
    release-4.20 and newer: only if ``unitHasContent(u)`` (contents set and not "";
    pkg/daemon/file_writers.go) or ``systemdUnits[u.Name]`` exists, where listSystemdUnits maps the
    base name of every unit file systemd lists to it.  writeFiles runs first (updateFiles), so files
    delivered under /etc/systemd/system are listed; an instance name is never a file's base name.
    """
    unit_files = {os.path.basename(f["path"]) for f in config.get("storage", {}).get("files", [])
                  if f["path"].startswith("/etc/systemd/system/")}
    unit_files |= {u["name"] for u in config["systemd"]["units"] if u.get("contents")}
    enabled = set()
    for unit in config["systemd"]["units"]:
        if not unit.get("enabled"):
            continue
        if minor <= 19 or unit.get("contents") or unit["name"] in unit_files:
            enabled.add(unit["name"])
    return enabled


def starts_instance(config: dict, enabled: set[str]) -> bool:
    """The instance starts at boot: it is enabled itself, or an enabled unit with contents requires it."""
    if INSTANCE in enabled:
        return True
    for unit in config["systemd"]["units"]:
        if unit["name"] in enabled and f"Requires={INSTANCE}" in (unit.get("contents") or "").split("\n"):
            return "WantedBy=multi-user.target" in unit["contents"]
    return False


@pytest.fixture(scope="module")
def tree_files(tmp_path_factory):
    root, _ = build_kvc_tree(tmp_path_factory.mktemp("enable"))
    files, findings = transpile_tree(root, gzip_allowed=False)
    assert findings == []
    return files


def _config(tree_files, release: str, style: str) -> dict:
    return merge_files(base_config(module_name=MODULE, spec_version=spec_version_for(release),
                                   enable_style=style), tree_files)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("day", [1, 2])
def test_auto_style_is_enabled_by_the_daemon_of_every_release(tree_files, release, day):
    """Mirrors pkg/daemon/update.go (*Daemon).writeUnits, release-4.19 vs release-4.20+: whatever
    `auto` picks, the daemon's rule starts the instance (a day-1 config also passes the daemon:
    the firstboot run of machine-config-daemon-firstboot.service calls the same writeUnits)."""
    style = choose_enable_style("auto", release, day)
    config = _config(tree_files, release, style)
    minor = int(release.split(".")[1])
    assert starts_instance(config, daemon_enabled_units(config, minor)) or (day == 1 and minor >= 20), style
    # and the lint of the same MachineConfig finds no day-2 enabling problem
    mc = machineconfig(name="99-worker-kvc-simple-kmod", role="worker", config=config)
    codes = {f.code for f in lint_machineconfig(mc, where="mc", openshift_version=release, day=day)}
    assert "mco-instance-not-enabled" not in codes


@pytest.mark.parametrize("release", RELEASES)
def test_template_instance_on_day_2_agrees_with_the_daemon(tree_files, release):
    """The model of writeUnits (release-4.20+ skips a template instance without contents) and
    kmwizard agree release by release: the explicit style is refused exactly where the daemon would
    not enable it, and validate flags a hand-written MachineConfig there."""
    minor = int(release.split(".")[1])
    config = _config(tree_files, release, "template-instance")
    daemon_starts = starts_instance(config, daemon_enabled_units(config, minor))
    mc = machineconfig(name="99-worker-kvc-simple-kmod", role="worker", config=config)
    flagged = [f for f in lint_machineconfig(mc, where="mc", openshift_version=release)
               if f.code == "mco-instance-not-enabled"]
    assert bool(flagged) == (not daemon_starts)
    assert all(f.severity.value == "error" and INSTANCE in f.message for f in flagged)
    if not daemon_starts:
        with pytest.raises(KmwizardError, match="4.20") as raised:
            choose_enable_style("template-instance", release, 2)
        assert "require-unit" in raised.value.fix
        choose_enable_style("template-instance", release, 1)   # first boot only: Ignition's preset works


def test_the_daemon_model_can_fail(tree_files):
    """Judge check: on release-4.20 a contentless instance is skipped even with a drop-in
    (unitHasContent looks at contents only), and enabled once it has contents."""
    config = _config(tree_files, "4.20", "template-instance")
    config["systemd"]["units"][0]["dropins"] = [{"name": "10-x.conf", "contents": "[Service]\n"}]
    assert daemon_enabled_units(config, 20) == set()
    assert daemon_enabled_units(config, 19) == {INSTANCE}
    config["systemd"]["units"][0]["contents"] = "[Unit]\n"
    assert daemon_enabled_units(config, 20) == {INSTANCE}


def test_explicit_template_instance_before_4_13_is_refused():
    # Ignition writes `enable kmods-via-containers@.service simple-kmod`; systemd 239 (RHEL 8 RHCOS)
    # does not read that form (Ignition's createSystemdPresetFile warns below 240).
    with pytest.raises(KmwizardError, match="systemd 239") as raised:
        choose_enable_style("template-instance", "4.12", 1)
    assert raised.value.where == "kvc.enable_style"
    assert choose_enable_style("auto", "4.12", 1) == "require-unit"
    assert choose_enable_style("auto", "4.14", 2) == "template-instance"
    assert choose_enable_style("auto", "4.20", 2) == "require-unit"


# --- first boot: the real Ignition files stage and systemd's preset-all --------------------------------

def _require_systemctl() -> str:
    path = shutil.which("systemctl")
    if not path:
        pytest.skip("systemctl is not installed (Debian package `systemd`)")
    return path


def _materialize(written, root: Path) -> None:
    for path, entry in sorted(written.items()):
        target = root / path.lstrip("/")
        if entry.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
        elif entry.kind == "link":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(entry.data.decode())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)
            target.chmod(entry.mode)


def _preset_all(written, tmp_path: Path) -> set[str]:
    """Boot-time enabling as systemd does it on a first boot: `systemctl --root=ROOT preset-all`
    with RHCOS's default of disabling what no preset names.  Returns the .wants links made."""
    systemctl = _require_systemctl()
    root = tmp_path / "node"
    _materialize(written, root)
    presets = root / "etc/systemd/system-preset"
    presets.mkdir(parents=True, exist_ok=True)
    (presets / "99-default-disable.preset").write_text("disable *\n")
    subprocess.run([systemctl, f"--root={root}", "preset-all"], check=True, capture_output=True, timeout=60)
    return {str(p.relative_to(root / "etc/systemd/system")) for p in (root / "etc/systemd/system").glob("*.wants/*")}


@pytest.mark.parametrize("release", ["4.6", "4.12", "4.14", "4.21"])
def test_require_unit_is_enabled_at_first_boot(tree_files, tmp_path, release):
    """The require-unit style through the real Ignition files stage, then systemd's preset-all:
    the require unit is wanted by multi-user.target and requires the instance of the delivered template."""
    require_ignition()
    written = apply_files_stage(_config(tree_files, release, "require-unit"))
    wants = _preset_all(written, tmp_path)
    assert f"multi-user.target.wants/require-kvc-{MODULE}.service" in wants
    unit = written[f"/etc/systemd/system/require-kvc-{MODULE}.service"].data.decode()
    assert f"Requires={INSTANCE}" in unit.split("\n") and TEMPLATE_PATH in written


def test_template_instance_preset_line_is_honoured_by_systemd_252(tree_files, tmp_path):
    """The template-instance style on RHCOS 4.13+: Ignition's files stage lands the template, and the
    preset line Ignition writes for an enabled instance (internal/exec/stages/files/units.go
    createSystemdPresetFile: "<name>@.<type> <instance>") makes systemd 252 enable the instance.
    (Ignition itself cannot write that line here: it asks a running systemd for its version first.)"""
    require_ignition()
    config = _config(tree_files, "4.14", "template-instance")
    assert config["systemd"]["units"] == [{"name": INSTANCE, "enabled": True}]
    config["systemd"]["units"] = []
    written = apply_files_stage(config)
    preset = "/etc/systemd/system-preset/20-ignition.preset"
    assert preset not in written
    written[preset] = Written("file", 0o644, f"enable kmods-via-containers@.service {MODULE}\n".encode())
    wanted_by = [line.split("=", 1)[1] for line in written[TEMPLATE_PATH].data.decode().split("\n")
                 if line.startswith("WantedBy=")]
    assert wanted_by and _preset_all(written, tmp_path) == {f"{t}.wants/{INSTANCE}" for t in wanted_by}


def test_preset_all_judge_can_fail(tree_files, tmp_path):
    """Without a preset line naming it, RHCOS's `disable *` leaves the instance disabled."""
    require_ignition()
    config = _config(tree_files, "4.14", "template-instance")
    config["systemd"]["units"] = []
    assert _preset_all(apply_files_stage(config), tmp_path) == set()
