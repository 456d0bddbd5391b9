"""Ignition spec versions per OpenShift release, the KVC base config, and merging files into it."""
from __future__ import annotations

import copy
from typing import Iterable, Literal

from kmwizard.findings import KmwizardError
from kmwizard.kvc import releases
from kmwizard.regexps import lazy

EnableStyle = Literal["require-unit", "template-instance"]
ENABLE_STYLES = ("require-unit", "template-instance")

def _minor(openshift_version: str) -> int:
    return releases.minor_of(openshift_version)


def spec_version_for(openshift_version: str) -> str:
    """The Ignition spec version Butane's openshift variant emits for this release; the MCO of that
    release accepts it (table in docs/kvc-machineconfig.md section 4)."""
    return releases.butane_spec_version(_minor(openshift_version))


def accepted_spec_versions(openshift_version: str) -> tuple[str, ...]:
    """Ignition 3 spec versions the MCO of this release accepts in a MachineConfig."""
    return releases.ignition3_versions(_minor(openshift_version))


def supports_gzip(openshift_version: str) -> bool:
    # Before 4.10 the MCO writes compressed contents verbatim on day 2 (BZ 1970218).
    return not releases.writes_gzip_verbatim(_minor(openshift_version))


def enable_style_default(openshift_version: str, day: int | None = None) -> EnableStyle:
    """The style ``auto`` picks: one that enables ``kmods-via-containers@<name>.service`` on every
    path that applies the config on this release.

    Ignition (first boot, and every node that joins later) enables an instance with a preset line
    systemd reads from v240 on: RHCOS 4.13+.  The daemon (day 2) enables an instance without
    contents up to 4.19 and skips it from 4.20.  So enabling the instance directly is safe on
    4.13-4.19 only; elsewhere the docs' require-unit, which has contents, works on both paths.
    """
    return "template-instance" if not enable_style_problem("template-instance", openshift_version, day) \
        else "require-unit"


def enable_style_problem(style: str, openshift_version: str, day: int | None = None) -> str | None:
    """Why ``style`` does not enable the instance on some path that applies the config, or None.

    Day 1 configs are applied by Ignition (install, and nodes that join later); day 2 configs by
    the daemon on the existing nodes and by Ignition on nodes that join later.
    """
    if style == "require-unit":
        return None         # a unit with contents and no template: every path enables it
    minor = _minor(openshift_version)
    if not releases.preset_enables_instance(minor):
        return (f"on OpenShift {releases.label(minor)} (RHCOS on RHEL 8, systemd "
                f"{releases.systemd_version(minor)}) Ignition's preset line for a template instance is "
                "ignored (systemd reads it from v240 on, RHCOS 4.13+), so nodes that boot with this config "
                "may never enable the unit")
    if day != 1 and not releases.daemon_enables_without_contents(minor):
        return (f"on OpenShift {releases.label(minor)} the machine-config-daemon enables a unit on day 2 only "
                "when it has contents or a unit file of exactly that name exists (OCPBUGS-56648, from "
                "4.20); a template instance without contents is skipped, so the module never loads on the "
                "running nodes")
    return None


def choose_enable_style(requested: str, openshift_version: str, day: int | None) -> EnableStyle:
    """The style to generate for ``kvc.enable_style``; an explicit style that cannot work is an error."""
    if requested in (None, "", "auto"):
        return enable_style_default(openshift_version, day)
    if requested not in ENABLE_STYLES:
        raise KmwizardError(f"kvc.enable_style {requested!r} is not one of auto, {', '.join(ENABLE_STYLES)}",
                            "use auto (kmwizard picks what works for the release)")
    problem = enable_style_problem(requested, openshift_version, day)
    if problem:
        failure = KmwizardError(f"kvc.enable_style {requested}: {problem}",
                                "set kvc.enable_style to require-unit or auto (a require-kvc-<name>.service "
                                "with contents works on every release and path)")
        failure.where = "kvc.enable_style"
        raise failure
    return requested


MODULE_NAME = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_module_name(module_name: str) -> str:
    # The name ends up in unit names (require-kvc-<name>.service, ...@<name>.service) and file names;
    # systemd would escape other characters, which the KVC scripts do not expect.
    if not isinstance(module_name, str) or len(module_name) > 63 or not MODULE_NAME.match(module_name):
        raise KmwizardError(
            f"kvc.module_name {module_name!r} is not usable as a KVC instance name (rule: a DNS-1123 "
            "label: lower-case letters, digits and '-', at most 63 characters)",
            "use the name of the instance conf /etc/kvc/<name>.conf, e.g. simple-kmod")
    return module_name


def require_unit_contents(module_name: str) -> str:
    """The docs' workaround unit, byte for byte (no trailing newline, as in the docs)."""
    return (f"[Unit]\nRequires=kmods-via-containers@{module_name}.service\n[Service]\nType=oneshot\n"
            "ExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target")


def base_config(*, module_name: str, spec_version: str, ssh_key: str | None = None,
                enable_style: EnableStyle = "require-unit") -> dict:
    """The Ignition config the fakeroot files are merged into.

    ``ssh_key`` is for day 1 only: the ``core`` user with ``sshAuthorizedKeys`` and nothing else
    (the docs' ``groups: [sudo]`` is not reconcilable by the MCO and degrades the pool on day 2).
    """
    check_module_name(module_name)
    if enable_style == "require-unit":
        unit = {"name": f"require-kvc-{module_name}.service", "enabled": True,
                "contents": require_unit_contents(module_name)}
    elif enable_style == "template-instance":
        # The template itself (/etc/systemd/system/kmods-via-containers@.service) comes from the fakeroot.
        unit = {"name": f"kmods-via-containers@{module_name}.service", "enabled": True}
    else:
        raise KmwizardError(f"kvc.enable_style {enable_style!r} is not one of {', '.join(ENABLE_STYLES)}",
                            "use require-unit (works on every release) or template-instance (4.13+)")
    config: dict = {"ignition": {"version": spec_version}}
    if ssh_key:
        key = ssh_key.strip()
        if "\n" in key or not key.startswith(("ssh-", "ecdsa-", "sk-")):
            raise KmwizardError("ssh_key is not a single OpenSSH public key line",
                                "give the contents of your ~/.ssh/id_*.pub")
        config["passwd"] = {"users": [{"name": "core", "sshAuthorizedKeys": [key]}]}
    config["systemd"] = {"units": [unit]}
    return config


def merge_files(base_config: dict, files: Iterable[dict], extra_files: Iterable[dict] = ()) -> dict:
    """``base_config`` with ``storage.files`` extended; a later entry replaces an earlier one with the
    same path (base < files < extra_files), as filetranspiler and the MCO do.  Files come out sorted
    by path so the output is the same on every machine."""
    merged = {k: v for k, v in base_config.items() if k != "storage"}
    merged = copy.deepcopy(merged)
    storage = copy.deepcopy(base_config.get("storage", {}))
    by_path: dict[str, dict] = {}
    for entry in (*storage.get("files", ()), *files, *extra_files):
        by_path[entry["path"]] = entry
    storage["files"] = [by_path[p] for p in sorted(by_path)]
    merged["storage"] = storage
    return merged
