"""Ignition spec versions per OpenShift release, the KVC base config, and merging files into it."""
from __future__ import annotations

import copy
import re
from typing import Iterable, Literal

from kmwizard.findings import KmwizardError

EnableStyle = Literal["require-unit", "template-instance"]
ENABLE_STYLES = ("require-unit", "template-instance")

_VERSION = re.compile(r"^4\.(\d{1,2})(?:\.\d+)?$")


def _minor(openshift_version: str) -> int:
    match = _VERSION.match(str(openshift_version).strip())
    if not match or int(match.group(1)) < 6:
        raise KmwizardError(
            f"openshift_version {openshift_version!r} is not an OpenShift 4 release from 4.6 on",
            "write it like \"4.14\" (MachineConfigs with Ignition 3 need OpenShift 4.6 or later)")
    return int(match.group(1))


def spec_version_for(openshift_version: str) -> str:
    """The Ignition spec version Butane's openshift variant emits for this release; the MCO of that
    release accepts it (table in docs/kvc-machineconfig.md section 4)."""
    minor = _minor(openshift_version)
    if minor <= 7:
        return "3.1.0"      # 4.6 accepts 3.0-3.1 only; 4.7 would take 3.2 but 3.1 is what its docs use
    if minor <= 13:
        return "3.2.0"      # 4.13 accepts 3.4 but translates it down to 3.2 anyway
    if minor <= 18:
        return "3.4.0"
    return "3.5.0"          # 4.19+ (3.6 is rejected)


def accepted_spec_versions(openshift_version: str) -> tuple[str, ...]:
    """Ignition 3 spec versions the MCO of this release accepts in a MachineConfig."""
    minor = _minor(openshift_version)
    top = 1 if minor == 6 else 2 if minor <= 12 else 4 if minor <= 18 else 5
    return tuple(f"3.{n}.0" for n in range(top + 1))


def supports_gzip(openshift_version: str) -> bool:
    # Before 4.10 the MCO writes compressed contents verbatim on day 2 (BZ 1970218).
    return _minor(openshift_version) >= 10


def enable_style_default(openshift_version: str) -> EnableStyle:
    """How to start ``kmods-via-containers@<name>.service`` at boot on this release.

    Ignition enables units through a systemd preset file. For a template instance it writes
    ``enable kmods-via-containers@.service <name>``, a preset form systemd reads only from v240 on
    (Ignition itself warns below 240, coreos/ignition#586). RHCOS up to 4.12 is RHEL 8 based
    (systemd 239), so the docs' require-unit workaround is the default there; RHCOS 4.13 and later are
    RHEL 9 based (systemd 252), where enabling the instance directly is what the later docs do.
    """
    return "template-instance" if _minor(openshift_version) >= 13 else "require-unit"


MODULE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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
