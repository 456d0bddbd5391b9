"""Findings for Ignition configs and MachineConfigs: what the MCO or Ignition would reject, and what
would be accepted but silently do nothing.  Rules come from docs/kvc-machineconfig.md sections 4-8.

``where`` arguments: ``lint_ignition`` takes the JSON-path prefix of the config
(``99-worker-kvc-simple-kmod.yaml:$.spec.config``); ``lint_machineconfig`` and ``lint_document`` take
the document's name (``99-worker-kvc-simple-kmod.yaml``).
"""
from __future__ import annotations

import binascii
import json
import posixpath
import re
import zlib
from typing import Any, Iterable

from kmwizard.findings import Finding, error, info, warning
from kmwizard.kvc import lint_conf, lint_release
from kmwizard.kvc.releases import IGNITION2_VERSIONS
from kmwizard.kvc.node_files import node_file_reason
from kmwizard.kvc.machineconfig import API_VERSION, ROLE_LABEL, validate_mc_name, validate_role
from kmwizard.kvc.dataurl import decode_data_url
from kmwizard.kvc.units import UNIT_SUFFIXES, check_unit_name, lint_unit_text

RENDERED_LIMIT = 1_572_864      # etcd request limit: the pool's rendered MachineConfig is one object
RENDERED_WARN = int(RENDERED_LIMIT * 0.8)
CLIENT_APPLY_LIMIT = 262_144    # kubectl/oc apply's last-applied annotation (256 KiB)
MAX_INFLATED = 64 << 20         # gzip file contents are inflated up to this (a gzip bomb stops here)

# RHCOS: / and /usr are read-only (ostree); these are writable or links into /var.
WRITABLE_TOPS = {"etc", "var", "opt", "root", "home", "srv", "mnt"}
VOLATILE_TOPS = {"tmp", "run"}

_IGNITION_KEYS = {"ignition", "passwd", "storage", "systemd", "kernelArguments"}
_FILE_KEYS = {"path", "mode", "overwrite", "contents", "append", "user", "group"}
_FILE_KEYS_V2 = _FILE_KEYS | {"filesystem"}   # spec 2: filesystem: root instead of overwrite


def _at(where: str, suffix: str = "") -> str:
    base = where if "$" in where else f"{where}:$"
    return base + suffix


# --- Ignition -----------------------------------------------------------------------------------

def lint_ignition(config: Any, *, where: str, openshift_version: str | None = None,
                  day: int | None = None, node_files_allowed: Iterable[str] = ()) -> list[Finding]:
    """Findings for an Ignition config as delivered by a MachineConfig.  ``node_files_allowed``:
    node files (node_files.NODE_FILES...) the config replaces on purpose."""
    out: list[Finding] = []
    rules: list = []      # release-dependent rules, judged per release at the end
    if not isinstance(config, dict):
        return [error(_at(where), f"the Ignition config must be a mapping, got {config!r}",
                      "write it as {ignition: {version: 3.2.0}, storage: {files: [...]}}", "ign-type")]
    version = (config.get("ignition") or {}).get("version") if isinstance(config.get("ignition"), dict) else None
    if version is None:
        out.append(error(_at(where, ".ignition.version"), "ignition.version is missing",
                         "set it to the spec version for your OpenShift release, e.g. 3.4.0 for 4.14",
                         "ign-version"))
    elif not isinstance(version, str):  # {version: 3} or 3.2 unquoted: a number, not the spec's string
        out.append(error(_at(where, ".ignition.version"), f"ignition.version is the {type(version).__name__} "
                         f"{version!r}: Ignition wants a string of three numbers", "write it as a quoted string, "
                         'e.g. version: "3.4.0" for 4.14', "ign-version"))
    elif not re.match(r"^[23]\.\d+\.\d+(-experimental)?$", version):
        out.append(error(_at(where, ".ignition.version"), f"ignition.version {version!r} is not an "
                         "Ignition spec version (like 3.2.0)", "set it to the spec version for your "
                         "OpenShift release, e.g. 3.4.0 for 4.14", "ign-version"))
    else:
        rules.append(lint_release.spec_version_rule(version, _at(where, ".ignition.version")))
        if version.startswith("2.") and version in IGNITION2_VERSIONS:
            out.append(info(_at(where, ".ignition.version"), f"ignition.version {version}: a spec 2 config, "
                            "which the MCO converts to spec 3 (ParseAndConvertConfig)",
                            "write spec 3 for new configs (Butane converts)", "ign-version-2"))
    for key in sorted(set(config) - _IGNITION_KEYS):
        out.append(warning(_at(where, f".{key}"), f"unknown key {key!r}: Ignition ignores it (typo?)",
                           f"remove {key!r}", "ign-unknown-key"))
    if config.get("kernelArguments"):
        out.append(error(_at(where, ".kernelArguments"), "Ignition-level kernelArguments are not "
                         "reconcilable by the MCO", "use spec.kernelArguments of the MachineConfig",
                         "mco-kargs"))
    spec = version if isinstance(version, str) and re.match(r"^[23]\.\d+\.\d+", version) else "3.0.0"
    _lint_storage(out, config.get("storage"), where, rules, day, spec, frozenset(node_files_allowed),
                  lint_conf.instances_started(config))
    _lint_passwd(out, config.get("passwd"), where)
    _lint_systemd(out, config, where, rules, day)
    out.extend(lint_release.judge(rules, openshift_version))
    return out


def _lint_storage(out, storage, where, rules, day, spec, allowed, instances) -> None:
    if storage is None:
        return
    if not isinstance(storage, dict):
        out.append(error(_at(where, ".storage"), f"storage must be a mapping, got {storage!r}",
                         "write storage: {files: [...]}", "ign-type"))
        return
    for key in ("directories", "links"):
        for i, entry in enumerate(storage.get(key) or ()):
            path = entry.get("path") if isinstance(entry, dict) else entry
            what = "directory" if key == "directories" else "link"
            out.append(error(_at(where, f".storage.{key}[{i}]"),
                             f"storage.{key} entry {path!r}: the MCO does not reconcile {key} "
                             f"(a {what} in a MachineConfig degrades the pool)",
                             "deliver files only: directories are created for them; replace links "
                             "with the file they point at", f"mco-{key}"))
    for key in ("disks", "raid", "filesystems", "luks"):
        if storage.get(key):
            make = warning if day == 1 else error
            out.append(make(_at(where, f".storage.{key}"),
                            f"storage.{key} can only be applied at install time; the MCO does not "
                            "reconcile it on a running cluster (the pool degrades)",
                            "apply it as a day-1 manifest only", f"mco-{key}"))
    files = storage.get("files") or []
    if not isinstance(files, list):
        out.append(error(_at(where, ".storage.files"), f"storage.files must be a list, got {files!r}",
                         "write files: [{path: /etc/..., mode: 420, contents: {source: 'data:,...'}}]",
                         "ign-type"))
        return
    seen: dict[str, int] = {}
    gzipped: list[str] = []
    delivered: dict = {}       # node path -> (bytes or None, where): the KVC conf rules read them
    for i, entry in enumerate(files):
        _lint_file(out, entry, _at(where, f".storage.files[{i}]"), rules, seen, i, spec, gzipped, allowed,
                   delivered)
    if gzipped:
        rules.append(lint_release.gzip_rule(gzipped, _at(where, ".storage.files")))
    conf_findings, conf_rules = lint_conf.lint_confs(delivered, instances)
    out.extend(conf_findings)
    rules.extend(conf_rules)


def _lint_file(out, entry, at, rules, seen, index, spec, gzipped, allowed, delivered) -> None:
    if not isinstance(entry, dict):
        out.append(error(at, f"a storage.files entry must be a mapping, got {entry!r}",
                         "write {path: /etc/..., mode: 420, contents: {source: 'data:,...'}}", "ign-type"))
        return
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        out.append(error(at, "file entry without a path", "give an absolute path", "ign-path"))
        return
    name = f"file {path!r}"
    for key in sorted(set(entry) - (_FILE_KEYS_V2 if spec.startswith("2.") else _FILE_KEYS)):
        out.append(warning(at, f"{name}: unknown key {key!r}: Ignition ignores it", f"remove {key!r}",
                           "ign-unknown-key"))
    if not path.startswith("/"):
        out.append(error(at, f"{name}: path not absolute", "start it with /", "ign-path"))
    elif posixpath.normpath(path) != path or path.startswith("//"):
        out.append(error(at, f"{name}: path is not fully simplified (normal form: "
                         f"{posixpath.normpath(path)!r})", "remove '.', '..', '//' and trailing '/'",
                         "ign-path"))
    else:
        _lint_writable(out, at, path)
    reason = node_file_reason(path)
    if reason and path not in allowed:
        out.append(error(at, f"{name} would replace the node's own copy ({reason}): RHCOS, the kubelet or the "
                         "machine-config-daemon rely on it, and the node breaks", "remove it from the tree (fix "
                         "the Makefile's install target); to deliver it on purpose, list it in "
                         "kvc.overwrite_node_files", "kvc-node-file"))
    if path in seen:
        out.append(error(at, f"{name} appears twice (also storage.files[{seen[path]}]): Ignition rejects "
                         "duplicate entries", "keep one entry per path", "ign-duplicate"))
    else:
        seen[path] = index
    mode = entry.get("mode")
    if mode is not None:
        if not isinstance(mode, int) or isinstance(mode, bool):
            out.append(error(at, f"{name}: mode {mode!r} is not an integer (JSON has no octal: 0644 is 420)",
                             "write the mode in decimal, e.g. 420 for 0644, 493 for 0755", "ign-mode"))
        elif not 0 <= mode <= 0o7777:
            out.append(error(at, f"{name}: mode {mode} is outside 0..07777", "use e.g. 420 (0644)", "ign-mode"))
    if entry.get("append"):
        out.append(error(at, f"{name}: append is not supported by the MCO", "deliver the whole file",
                         "mco-append"))
    for who in ("user", "group"):
        owner = entry.get(who)
        if isinstance(owner, dict) and owner.get("id") is not None and owner.get("name"):
            out.append(error(at, f"{name}: {who} has both id and name", f"give {who}.id or {who}.name",
                             "ign-owner"))
    contents = entry.get("contents")
    compression = contents.get("compression") if isinstance(contents, dict) else None
    rules.extend(lint_release.file_rules(path, at, mode, spec))
    if compression == "gzip":
        gzipped.append(path)
    source = contents.get("source") if isinstance(contents, dict) else None
    if source is None:
        if entry.get("overwrite"):
            out.append(error(at, f"{name}: overwrite: true needs contents.source", "give the contents",
                             "ign-overwrite"))
        return
    data = _lint_source(out, at, name, source, compression)
    delivered[path] = (data, at)
    unit_dir = path.startswith(("/etc/systemd/system/", "/usr/local/lib/systemd/system/"))
    if data is not None and unit_dir and (path.endswith(UNIT_SUFFIXES) or (".d/" in path and path.endswith(".conf"))):
        # A unit delivered as a file is read by systemd, not checked by Ignition: a broken one
        # only shows when the node boots and the service does not start.
        try:
            lint_unit_text(out, at, f"unit file {path}", data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(error(at, f"unit file {path} is not UTF-8 text", "fix the unit file", "ign-unit-parse"))


def _lint_writable(out, at, path) -> None:
    parts = path.split("/")
    top = parts[1]
    if top == "usr" and len(parts) > 2 and parts[2] == "local":
        return                                   # /usr/local is a link to /var/usrlocal
    if top in WRITABLE_TOPS:
        return
    if top in VOLATILE_TOPS:
        out.append(warning(at, f"file {path!r} is on a tmpfs ({'/' + top}): it is gone after the next "
                           "reboot, which follows every MachineConfig change",
                           "deliver it under /etc or /var", "rhcos-volatile-path"))
        return
    out.append(error(at, f"file {path!r} cannot be written on RHCOS: '/{top}' is on the read-only "
                     "filesystem (only /etc, /var and links into /var such as /usr/local and /opt are "
                     "writable)", "install to /usr/local or /etc instead (the KVC scripts also search "
                     "/usr/local/lib/kvc)", "rhcos-readonly-path"))


def _lint_source(out, at, name, source, compression) -> bytes | None:
    """Findings on a file's contents; returns its bytes (decompressed) when they decode."""
    if not isinstance(source, str):
        out.append(error(at, f"{name}: contents.source must be a string, got {source!r}",
                         "write the contents as a data: URL, e.g. source: 'data:,hello%0A'", "ign-source"))
        return
    if compression not in (None, "", "gzip"):
        out.append(error(at, f"{name}: compression {compression!r} is not supported (only gzip)",
                         "use gzip or no compression", "ign-compression"))
        return
    if not source.startswith("data:"):
        scheme = source.split(":", 1)[0]
        out.append(error(at, f"{name}: contents.source uses {scheme!r}; the MCO only handles inline "
                         "data: URLs", "embed the file (kmwizard does this for a fakeroot)", "mco-remote-source"))
        return
    try:
        data = decode_data_url(source)
    except (ValueError, binascii.Error) as exc:
        out.append(error(at, f"{name}: invalid data URL: {exc}",
                         "percent-encode per RFC 2397 or use base64", "ign-data-url"))
        return
    if compression == "gzip":
        try:
            inflater = zlib.decompressobj(47)  # 32 + 15: gzip header required
            inflated = inflater.decompress(data, MAX_INFLATED + 1)  # a few KiB can inflate to gigabytes
        except zlib.error as exc:
            out.append(error(at, f"{name}: compression is gzip but the data is not valid gzip ({exc}); "
                             "Ignition fails at boot", "compress with gzip or drop compression",
                             "ign-gzip-data"))
            return None
        if len(inflated) > MAX_INFLATED:
            out.append(error(at, f"{name}: the gzip data inflates to more than {MAX_INFLATED >> 20} MiB: far more "
                             "than a node file delivered in a MachineConfig should hold", "deliver large files "
                             "another way (an image, a download at boot)", "ign-gzip-size"))
            return None
        return inflated
    return data


def _lint_passwd(out, passwd, where) -> None:
    if not passwd:
        return
    if not isinstance(passwd, dict):
        out.append(error(_at(where, ".passwd"), f"passwd must be a mapping, got {passwd!r}",
                         "write passwd: {users: [{name: core, sshAuthorizedKeys: [...]}]}", "ign-type"))
        return
    if passwd.get("groups"):
        out.append(error(_at(where, ".passwd.groups"), "passwd.groups is not reconcilable by the MCO "
                         "(the pool degrades)", "remove passwd.groups", "mco-passwd"))
    users = passwd.get("users") or []
    if not isinstance(users, list):
        out.append(error(_at(where, ".passwd.users"), f"passwd.users must be a list, got {users!r}",
                         "write users: [{name: core, sshAuthorizedKeys: [...]}]", "ign-type"))
        users = []
    for i, user in enumerate(users):
        at = _at(where, f".passwd.users[{i}]")
        name = user.get("name") if isinstance(user, dict) else None
        if name != "core":
            out.append(error(at, f"user {name!r}: the MCO manages only the user core",
                             "remove the user; use core with sshAuthorizedKeys", "mco-passwd"))
            continue
        for key in sorted(set(user) - {"name", "sshAuthorizedKeys"}):
            if key == "passwordHash":
                out.append(warning(at, "user core: passwordHash is accepted by the MCO but kmwizard never "
                                   "needs it; a password login is rarely wanted", "remove passwordHash",
                                   "mco-passwd-hash"))
            else:
                out.append(error(at, f"user core: field {key!r} is not reconcilable by the MCO (only "
                                 "sshAuthorizedKeys); the pool degrades",
                                 f"remove {key!r} (the docs' groups: [sudo] breaks day 2)", "mco-passwd"))


def _lint_systemd(out, config, where, rules, day) -> None:
    systemd = config.get("systemd")
    if not systemd:
        return
    units = systemd.get("units") or [] if isinstance(systemd, dict) else None
    if not isinstance(units, list):
        out.append(error(_at(where, ".systemd" if units is None else ".systemd.units"),
                         f"systemd must be a mapping holding a list units, got {systemd!r}",
                         "write systemd: {units: [{name: foo.service, enabled: true}]}", "ign-type"))
        return
    storage = config.get("storage") if isinstance(config.get("storage"), dict) else {}
    files = storage.get("files") if isinstance(storage.get("files"), list) else []
    files = {f.get("path") for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)}
    seen: dict[str, int] = {}
    for i, unit in enumerate(units):
        at = _at(where, f".systemd.units[{i}]")
        if not isinstance(unit, dict):
            out.append(error(at, f"a systemd.units entry must be a mapping, got {unit!r}",
                             "write {name: foo.service, enabled: true, contents: ...}", "ign-type"))
            continue
        name = unit.get("name")
        problem = check_unit_name(name)
        if problem:
            out.append(error(at, problem, "name it like foo.service", "ign-unit-name"))
            continue
        if name in seen:
            out.append(error(at, f"unit {name!r} appears twice (also systemd.units[{seen[name]}])",
                             "keep one entry per unit", "ign-duplicate"))
        seen[name] = i
        sections = None
        if unit.get("contents"):
            sections = lint_unit_text(out, at, f"unit {name!r}", unit["contents"])
        dropins = unit.get("dropins") or []
        if not isinstance(dropins, list):
            out.append(error(f"{at}.dropins", f"unit {name!r}: dropins must be a list, got {dropins!r}",
                             "write dropins: [{name: 10-foo.conf, contents: ...}]", "ign-type"))
            dropins = []
        for j, dropin in enumerate(dropins):
            dat = f"{at}.dropins[{j}]"
            dname = dropin.get("name") if isinstance(dropin, dict) else None
            problem = check_unit_name(dname, dropin=True)
            if problem:
                out.append(error(dat, f"unit {name!r}: {problem}", "name drop-ins like 10-foo.conf",
                                 "ign-dropin-name"))
            elif dropin.get("contents"):
                lint_unit_text(out, dat, f"drop-in {dname!r} of {name!r}", dropin["contents"])
        if unit.get("enabled"):
            _lint_enabled(out, at, name, unit, sections, files)
            rule = lint_release.enabled_unit_rule(name, at, bool(unit.get("contents")), day)
            if rule:
                rules.append(rule)


def _lint_enabled(out, at, name, unit, sections, files) -> None:
    stem, _, rest = name.partition("@")
    instance = rest.rsplit(".", 1)[0] if rest else None
    if sections is not None and "Install" not in sections:
        out.append(warning(at, f"unit {name!r} is enabled but has no [Install] section: enabling does "
                           "nothing", "add [Install] with WantedBy=multi-user.target", "ign-no-install"))
    if "@" in name and not instance:
        out.append(warning(at, f"template unit {name!r} is enabled without an instance: nothing starts "
                           "unless the template sets DefaultInstance=", f"enable {stem}@<instance>"
                           f".{rest.rsplit('.', 1)[-1]} instead", "ign-template-enabled"))
    if not unit.get("contents"):
        provider = f"/etc/systemd/system/{stem}@.{rest.rsplit('.', 1)[-1]}" if instance else \
            f"/etc/systemd/system/{name}"
        if provider not in files:
            out.append(info(at, f"unit {name!r} is enabled without contents and no file {provider} is "
                            "delivered: this relies on the OS shipping the unit",
                            "deliver the unit file (the KVC framework's make install puts the template "
                            "under /etc/systemd/system)", "ign-unit-missing"))


# --- MachineConfig ------------------------------------------------------------------------------

def serialized_size(obj: Any) -> int:
    """Bytes of the compact JSON the API server stores in etcd."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def lint_machineconfig(mc: Any, *, where: str, openshift_version: str | None = None,
                       day: int | None = None, node_files_allowed: Iterable[str] = ()) -> list[Finding]:
    out: list[Finding] = []
    if not isinstance(mc, dict):
        return [error(_at(where), f"a MachineConfig must be a mapping, got {mc!r}",
                      "start from `kmwizard generate` output", "mc-type")]
    if mc.get("apiVersion") != API_VERSION:
        out.append(error(_at(where, ".apiVersion"), f"apiVersion {mc.get('apiVersion')!r} is not {API_VERSION}",
                         f"set apiVersion: {API_VERSION}", "mc-api-version"))
    meta = mc.get("metadata") if isinstance(mc.get("metadata"), dict) else {}
    problem = validate_mc_name(meta.get("name"))
    if problem:
        out.append(error(_at(where, ".metadata.name"), problem, "use e.g. 99-worker-kvc-simple-kmod", "mc-name"))
    labels = meta.get("labels")
    if labels is not None and not isinstance(labels, dict):
        out.append(error(_at(where, ".metadata.labels"), f"labels must be a mapping of names to values, got "
                         f"{labels!r}", f"write labels: {{{ROLE_LABEL}: worker}}", "mc-type"))
    role = (labels if isinstance(labels, dict) else {}).get(ROLE_LABEL)
    if role is None:
        out.append(error(_at(where, ".metadata.labels"), f"label {ROLE_LABEL} is missing: no pool selects "
                         "this MachineConfig and nothing happens, silently",
                         f"add {ROLE_LABEL}: worker (or master)", "mc-role"))
    elif validate_role(role):
        out.append(error(_at(where, f".metadata.labels.{ROLE_LABEL}"), validate_role(role),
                         "use worker or master", "mc-role"))
    elif role not in ("worker", "master"):
        out.append(info(_at(where, f".metadata.labels.{ROLE_LABEL}"), f"role {role!r} is a custom pool: "
                        f"its MachineConfigPool must select role {role} (e.g. matchExpressions role in "
                        f"(worker, {role}))", "create the pool first", "mc-custom-role"))
    spec = mc.get("spec") if isinstance(mc.get("spec"), dict) else {}
    config = spec.get("config")
    if config is None:
        out.append(warning(_at(where, ".spec.config"), "spec.config is missing: no files or units are "
                           "delivered", "put the Ignition config under spec.config", "mc-no-config"))
    else:
        out.extend(lint_ignition(config, where=_at(where, ".spec.config"), openshift_version=openshift_version,
                                 day=day, node_files_allowed=node_files_allowed))
    rules = []
    if "kernelType" in spec:
        rules.append(lint_release.kernel_type_rule(spec["kernelType"], _at(where, ".spec.kernelType")))
    if spec.get("extensions"):
        rules.append(lint_release.extensions_rule(spec["extensions"], _at(where, ".spec.extensions")))
    out.extend(lint_release.judge(rules, openshift_version))
    size = serialized_size(mc)
    if size > RENDERED_LIMIT:
        out.append(error(_at(where), f"the MachineConfig is {size:,} bytes: more than the rendered "
                         f"MachineConfig limit of {RENDERED_LIMIT:,} bytes (etcd request size) on its own; "
                         "splitting it does not help, the pool merges all MachineConfigs into one object",
                         "deliver fewer or smaller files (build the module on the node, use KMM)",
                         "mc-too-large"))
    elif size > RENDERED_WARN:
        out.append(warning(_at(where), f"the MachineConfig is {size:,} bytes, over 80% of the "
                           f"{RENDERED_LIMIT:,}-byte limit of the pool's rendered MachineConfig, which also "
                           "holds the cluster's own configs", "deliver fewer or smaller files",
                           "mc-large"))
    if size > CLIENT_APPLY_LIMIT:
        out.append(warning(_at(where), f"the MachineConfig is {size:,} bytes: client-side `oc apply` fails "
                           f"above {CLIENT_APPLY_LIMIT:,} bytes (last-applied annotation)",
                           "use `oc create -f`, `oc apply --server-side`, or `kmwizard apply`",
                           "mc-client-apply"))
    return out


def lint_document(doc: Any, where: str, *, openshift_version: str | None = None,
                  day: int | None = None) -> list[Finding] | None:
    """Findings for one YAML/JSON document: a MachineConfig or a bare Ignition config.  None for any
    other document: it is not ours to judge (KMM Modules are checked elsewhere)."""
    if isinstance(doc, dict) and doc.get("kind") == "MachineConfig":
        return lint_machineconfig(doc, where=where, openshift_version=openshift_version, day=day)
    if isinstance(doc, dict) and isinstance(doc.get("ignition"), dict) and "kind" not in doc:
        return lint_ignition(doc, where=_at(where), openshift_version=openshift_version, day=day)
    return None


def recognises(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("kind") == "MachineConfig" or
                                      (isinstance(doc.get("ignition"), dict) and "kind" not in doc))
