"""A KVC MachineConfig -> answers + the fakeroot tree it delivers.

Works for kmwizard's own MachineConfigs and for the docs' hand-made ones (filetranspiler output
merged into the docs' base config): every ``storage.files`` entry is decoded (data URLs, gzip) and
written back into ``fakeroot/`` with its mode, so ``kvc.fakeroot`` regenerates the same files.
Recognised: the instance conf ``/etc/kvc/<name>.conf``, the unit that enables it
(``require-kvc-<name>.service`` with the docs' contents, or ``kmods-via-containers@<name>.service``),
the pool role, the core user's SSH key (day 1), and what the MCO refuses on day 2 (findings).
"""
from __future__ import annotations

import gzip
import re
import zlib
from typing import Optional

from kmwizard.findings import error, info, warning
from kmwizard.importing.common import ImportResult
from kmwizard.regexps import lazy

ROLE_LABEL = "machineconfiguration.openshift.io/role"
_INSTANCE_CONF = lazy(r"^/etc/kvc/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.conf$")
_REQUIRE = lazy(r"^require-kvc-(.+)\.service$")
_TEMPLATE = lazy(r"^kmods-via-containers@(.+)\.service$")
FRAMEWORK_CONF = "/etc/kvc/kmods-via-containers.conf"
# Groups of RHCOS's /etc/group that a user config may name (core is already in wheel, adm, sudo-less RHEL).
RHCOS_GROUPS = {"wheel", "adm", "systemd-journal", "video", "disk", "root", "core"}
# OpenShift release per Ignition spec version, newest first: (spec, releases emitting it).
_SPEC_RELEASES = {"3.1.0": ("4.7", "4.6"), "3.2.0": ("4.13", "4.12", "4.11", "4.10", "4.9", "4.8"),
                  "3.4.0": ("4.14", "4.15", "4.16", "4.17", "4.18"), "3.5.0": ("4.19", "4.20")}


def decode_contents(contents: dict) -> bytes:
    """The bytes an Ignition ``contents`` ({source, compression}) stands for; ValueError says why not."""
    from kmwizard.kvc.dataurl import decode_data_url

    source = contents.get("source")
    if source is None:
        return b""
    if not isinstance(source, str) or not source.startswith("data:"):
        raise ValueError(f"source {str(source)[:60]!r} is not a data URL: the file is fetched by the node, "
                         "kmwizard cannot recover it")
    data = decode_data_url(source)
    if contents.get("compression") == "gzip":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"compression gzip, but the data is not gzip: {exc}") from None
    elif contents.get("compression") not in (None, ""):
        raise ValueError(f"unknown compression {contents.get('compression')!r}")
    return data


def import_machineconfig(where: str, mc: dict) -> ImportResult:
    result = ImportResult(values={"method": "kvc"}, originals=[(where, mc)])
    v, findings = result.values, result.findings
    meta = mc.get("metadata") or {}
    config = (mc.get("spec") or {}).get("config")
    if not isinstance(config, dict):
        findings.append(error(f"{where}:spec.config", "the MachineConfig has no Ignition config (spec.config)",
                              "give a MachineConfig that delivers a KVC instance", code="import-not-kvc"))
        result.originals.clear()
        return result
    version = str((config.get("ignition") or {}).get("version", ""))
    if not version.startswith("3."):
        findings.append(error(f"{where}:spec.config.ignition.version", f"Ignition spec {version or '(none)'} "
                              "cannot be imported: kmwizard writes Ignition 3 configs",
                              "translate the config to spec 3 first (butane or ignition-config-transpiler)",
                              code="import-ignition-version"))
        result.originals.clear()
        return result
    v["machineconfig.name"] = meta.get("name", "")
    role = (meta.get("labels") or {}).get(ROLE_LABEL)
    if role:
        v["role"] = role
    else:
        findings.append(error(f"{where}:metadata.labels", f"no {ROLE_LABEL} label: no pool selects this "
                              "MachineConfig, so it does nothing; imported as role worker",
                              f"add the label {ROLE_LABEL}: worker (or master, or the custom pool)",
                              code="import-no-role"))
        v["role"] = "worker"

    tree, gzip_used = _tree(where, config, result)
    names = sorted(m.group(1) for path in tree if (m := _INSTANCE_CONF.match(path))
                   and path != FRAMEWORK_CONF)
    units = (config.get("systemd") or {}).get("units") or []
    name, style = _instance(where, units, names, result)
    if name is None:
        findings.append(error(f"{where}:spec.config.storage.files", "no KVC instance conf /etc/kvc/<name>.conf "
                              "and no require-kvc-<name>.service unit: this is not a KVC MachineConfig",
                              "import a MachineConfig made for kmods-via-containers", code="import-not-kvc"))
        result.originals.clear()
        return result
    v["kvc.module_name"] = name
    v["kvc.enable_style"] = style
    v["openshift_version"] = _release(version, gzip_used, tree, style)
    findings.append(info(f"{where}:spec.config.ignition.version",
                         f"openshift_version {v['openshift_version']} chosen for Ignition spec {version}"
                         f"{' with gzip' if gzip_used else ''}: generating gives the same config for every "
                         "release that emits it", "pass --set openshift_version=X.Y for the exact target",
                         code="import-openshift-version"))
    conf = tree.get(f"/etc/kvc/{name}.conf")
    if conf is not None:
        _conf_answers(conf[0], v, result)
    users = (config.get("passwd") or {}).get("users") or []
    _users(where, users, v, findings)
    _refused_on_day2(where, config, error if v.get("day", 2) == 2 else warning, findings)
    result.facts["tree"] = dict(tree)
    _entitlement(name, tree, result)
    for path, (content, mode) in tree.items():
        result.files["fakeroot" + path] = (content, mode)
    result.path_values["kvc.fakeroot"] = "fakeroot"
    return result


def _entitlement(name: str, tree: dict, result: ImportResult) -> None:
    """Entitlement certificates delivered to /etc/pki/entitlement/ become entitlement.source certs (written
    0600 to DIR/entitlement/, out of the fakeroot), so generating marks them secret again and masks them."""
    from kmwizard.entitlement import ENTITLEMENT_DIR, build_file_path

    certs = {p: v for p, v in tree.items() if p.startswith(ENTITLEMENT_DIR + "/") and p.endswith(".pem")
             and "/" not in p[len(ENTITLEMENT_DIR) + 1:]}
    if certs:
        for path, (content, _mode) in certs.items():
            del tree[path]
            result.files["entitlement/" + path.rsplit("/", 1)[1]] = (content, 0o600)
        result.values["entitlement.source"] = "certs"
        result.path_values["entitlement.certs_dir"] = "entitlement"
        result.findings.append(info("entitlement.source", f"{len(certs)} entitlement file(s) in {ENTITLEMENT_DIR}: "
                                    "entitlement.source certs, the files written 0600 to entitlement/",
                                    code="import-entitlement"))
    build = tree.get(build_file_path(name))
    if build is not None:
        match = re.search(rb"baseurl=(\S+?)(?:\\n|\s)", build[0])
        url = match.group(1).decode("utf-8", "replace") if match else "(unknown)"
        result.findings.append(info(build_file_path(name), f"a build Dockerfile with the yum repository {url} is "
                                    "delivered (entitlement.source yum-repo): it is kept in the tree as it is, "
                                    "since the module repository it was derived from is not known here",
                                    "to derive it again, set kvc.module_repo and entitlement.source=yum-repo "
                                    "and unset kvc.fakeroot", code="import-entitlement"))


def _tree(where: str, config: dict, result: ImportResult) -> tuple[dict[str, tuple[bytes, int]], bool]:
    tree: dict[str, tuple[bytes, int]] = {}
    gzip_used = False
    for i, entry in enumerate((config.get("storage") or {}).get("files") or []):
        path = entry.get("path", "")
        field = f"{where}:spec.config.storage.files[path={path}]"
        if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
            result.findings.append(error(f"{where}:spec.config.storage.files[{i}].path", f"path {path!r} is not "
                                         "an absolute, clean path: kept in the overlay only", code="import-file"))
            continue
        try:
            content = decode_contents(entry.get("contents") or {})
        except ValueError as exc:
            result.findings.append(error(f"{field}.contents", f"{exc}: kept verbatim in the overlay",
                                     "deliver the file inline (a data URL) to edit it with kmwizard",
                                     code="import-file"))
            continue
        if entry.get("append"):
            result.findings.append(error(f"{field}.append", "appending to a file is refused by the MCO on day 2: "
                                         "kept verbatim in the overlay", "deliver the whole file instead",
                                         code="import-day2-refused"))
        mode = entry.get("mode", 0o644)
        if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            result.findings.append(error(f"{field}.mode", f"mode {mode!r} is not a file mode: imported as 0644",
                                         "write the mode as a decimal number, e.g. 420 for 0644",
                                         code="import-file"))
            mode = 0o644
        if (entry.get("contents") or {}).get("compression") == "gzip":
            gzip_used = True
        tree[path] = (content, mode)
    for section in ("directories", "links"):
        if (config.get("storage") or {}).get(section):
            result.findings.append(error(f"{where}:spec.config.storage.{section}",
                                         f"storage.{section} is refused by the MCO (the pool degrades): kept "
                                         "verbatim in the overlay", "deliver files only", code="import-day2-refused"))
    return tree, gzip_used


def _instance(where: str, units: list, confs: list[str], result: ImportResult) -> tuple[Optional[str], str]:
    from kmwizard.kvc.ignition import require_unit_contents

    enabled = [(u.get("name", ""), u) for u in units if isinstance(u, dict)]
    required = [(m.group(1), u) for n, u in enabled if (m := _REQUIRE.match(n))]
    templated = [(m.group(1), u) for n, u in enabled if (m := _TEMPLATE.match(n)) and u.get("enabled")
                 and not u.get("contents")]
    candidates = [n for n, _u in required] + [n for n, _u in templated] + confs
    # an instance whose conf the tree carries comes first: that is the one the units can start
    names = sorted(dict.fromkeys(candidates), key=lambda n: n not in confs)
    if not names:
        return None, ""
    name = names[0]
    if len(names) > 1:
        result.findings.append(error(f"{where}:spec.config.systemd.units",
                                     f"this MachineConfig carries several KVC instances ({', '.join(names)}): "
                                     f"imported {name}; the others' units are kept verbatim in the overlay and "
                                     "their files stay in the tree", "give each instance its own MachineConfig",
                                     code="import-several-instances"))
    for found, unit in required:
        if found == name:
            if unit.get("contents") != require_unit_contents(name):
                result.findings.append(warning(f"{where}:spec.config.systemd.units[name={unit['name']}].contents",
                                               "the unit differs from the docs' require unit: its contents are "
                                               "kept verbatim in the overlay", code="import-unit-changed"))
            return name, "require-unit"
    return name, "template-instance"


def _release(spec: str, gzip_used: bool, tree: dict, style: str) -> str:
    """An OpenShift release whose generation gives this spec version and the same file encodings; within
    3.2.0 (4.8-4.13) the enabling style tells RHEL 8 (the require unit, 4.12) from RHEL 9 (4.13), which
    matters to what migrate builds on."""
    from kmwizard.kvc.transpile import encode_contents

    releases = _SPEC_RELEASES.get(spec, ("4.14",))
    if spec == "3.2.0":
        # gzip is allowed from 4.10: would it have been chosen for some file?
        if not gzip_used and any("compression" in encode_contents(content, gzip_allowed=True)
                                 for content, _m in tree.values()):
            return "4.9"
        # A build file kmwizard delivered for the nodes' RHEL tells RHEL 8 (4.12) from RHEL 9 (4.13) first.
        major = _delivered_build_rhel(tree)
        if major is not None:
            return "4.13" if major >= 9 else "4.12"
        return "4.13" if style == "template-instance" else "4.12"
    return "4.14" if "4.14" in releases else releases[0]


_DELIVERED_BUILD_FILE = lazy(r"^/etc/kvc/[^/]+-build/Dockerfile$")


def _delivered_build_rhel(tree: dict) -> Optional[int]:
    """The RHEL major of the final stage of a build file delivered beside the conf, if one names it."""
    from kmwizard.kvc.buildfile import base_images, rhel_major_of

    for path, (content, _mode) in tree.items():
        if _DELIVERED_BUILD_FILE.match(path):
            images = base_images(content.decode("utf-8", "replace"))
            if images:
                return rhel_major_of(images[-1].resolved)
    return None


def _conf_answers(conf: bytes, v: dict, result: ImportResult) -> None:
    from kmwizard.kvc.instance import parse_conf

    try:
        parsed = parse_conf(conf.decode("utf-8"))
    except UnicodeDecodeError:
        return
    build_file = parsed.get("KMOD_CONTAINER_BUILD_FILE")
    if build_file is not None and build_file.literal and build_file.value:
        v["kvc.build_file"] = build_file.value  # generating then leaves the conf as it is
        if build_file.value == "Dockerfile.fedora":
            result.findings.append(warning("kvc.build_file", "the instance conf builds with Dockerfile.fedora, "
                                           "which does not build on RHCOS (the docs forget to switch it): kept",
                                           "--set kvc.build_file=Dockerfile.rhel (when the module repository has "
                                           "it)", code="import-build-file"))
    result.facts["conf"] = {k: a.value for k, a in parsed.items() if a.literal}


def _users(where: str, users: list, v: dict, findings: list) -> None:
    for user in users:
        if not isinstance(user, dict):
            continue
        field = f"{where}:spec.config.passwd.users[name={user.get('name')}]"
        keys = user.get("sshAuthorizedKeys") or []
        if user.get("name") == "core" and len(keys) == 1:
            v["day"] = 1
            v["ssh_key"] = keys[0]
        elif user.get("name") == "core" and keys:
            findings.append(warning(f"{field}.sshAuthorizedKeys", f"{len(keys)} SSH keys: kmwizard writes one; "
                                    "all are kept verbatim in the overlay", code="import-ssh-keys"))


def _refused_on_day2(where: str, config: dict, severity, findings: list) -> None:
    """What the MCO cannot reconcile on a running cluster (machine-config-operator pkg/daemon/update.go
    reconcilable() and verifyUserFields(): passwd.groups, users other than core, core fields other than
    sshAuthorizedKeys/passwordHash, storage directories and links, append): an error for a day-2 config, a
    warning for a day-1 one (it has the core user's key), which Ignition applies once."""
    passwd = config.get("passwd") or {}
    if passwd.get("groups"):
        findings.append(severity(f"{where}:spec.config.passwd.groups", "passwd.groups is refused by the MCO on day 2 "
                              "(the pool goes Degraded): kept verbatim in the overlay", "remove it from the "
                              "overlay", code="import-day2-refused"))
    for user in passwd.get("users") or []:
        if not isinstance(user, dict):
            continue
        unknown_groups = sorted(set(user.get("groups") or []) - RHCOS_GROUPS)
        if unknown_groups:
            findings.append(warning(f"{where}:spec.config.passwd.users[name={user.get('name')}].groups",
                                    f"group(s) {', '.join(unknown_groups)} do not exist on RHCOS (RHEL has wheel, not "
                                    "sudo): Ignition's usermod fails and the node does not boot",
                                    "remove this overlay record, or use wheel", code="import-unknown-group"))
        extra = sorted(set(user) - {"name", "sshAuthorizedKeys", "passwordHash"})
        if user.get("name") != "core" or extra:
            what = f"user {user.get('name')!r}" if user.get("name") != "core" else f"core's {', '.join(extra)}"
            findings.append(severity(f"{where}:spec.config.passwd.users[name={user.get('name')}]",
                                  f"{what} cannot be changed by the MCO on day 2 (only core's sshAuthorizedKeys "
                                  "and passwordHash are): the pool goes Degraded. Kept verbatim in the overlay; "
                                  "fine on day 1", "remove it from the overlay for a running cluster",
                                  code="import-day2-refused"))
    if (config.get("kernelArguments") or {}):
        findings.append(severity(f"{where}:spec.config.kernelArguments", "Ignition-level kernelArguments are refused "
                              "by the MCO: kept verbatim in the overlay", "use the MachineConfig's "
                              "spec.kernelArguments", code="import-day2-refused"))
