"""KMM's admission webhook, rule by rule, reporting every objection instead of the first.

Mirrors internal/webhook/module.go (validateModule and the functions it calls) and
internal/webhook/preflight.go (validatePreflight) of rh-ecosystem-edge/kernel-module-management,
per release branch: each rule names the first KMM version whose webhook has it (``SINCE``).
With no known KMM version the newest rules apply.  Every finding here is an error: the webhook
rejects the Module.  The input has been type-checked already (lint.py drops wrongly typed values).
"""
from __future__ import annotations

import posixpath
from typing import Callable, Optional

from kmwizard.findings import Finding, error, warning
from kmwizard.keys.goregexp import GoRegexpError, compile_go, go_regexp_fix, go_version_for_kmm
from kmwizard.regexps import lazy

Version = Optional[tuple[int, int]]

# The first KMM version whose webhook has each rule (release-X.Y branches of rh-ecosystem-edge).
SINCE = {
    "name-length": (2, 0),          # 1.1 checked it only when container.version was set
    "name-length-41": (2, 7),       # maxCombinedLength 40 before 2.7
    "in-tree-exclusive": (2, 1),
    "image-format": (2, 2),         # validateImageFormat
    "tolerations": (2, 3),          # validateTolerations
    "module-loader-optional": (2, 4),
    "host-path": (2, 5),            # validateDevicePluginVolumes, later validateHostPathVolumes
    "host-path-run": (2, 7),        # /run joined the allowed prefixes
    "files-to-sign": (2, 6),        # validateFilesToSign
    "dra": (2, 7),                  # validateDRA
}

_DNS1123_SUBDOMAIN = lazy(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_PART = lazy(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = lazy(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_KERNEL_FIELDS = lazy(r"[.,-]")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_CONTAINER = ".moduleLoader.container"


def has_rule(rule: str, version: Version) -> bool:
    return version is None or version >= SINCE[rule]


def is_dns1123_subdomain(value: str) -> bool:
    """k8s.io/apimachinery validation.IsDNS1123Subdomain."""
    return len(value) <= 253 and _DNS1123_SUBDOMAIN.fullmatch(value) is not None


def is_qualified_name(value: str) -> bool:
    """validation.IsQualifiedName: an optional DNS-1123 subdomain prefix and '/', then a name of at
    most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or not is_dns1123_subdomain(prefix)):
        return False
    return 0 < len(name) <= 63 and _QUALIFIED_NAME_PART.fullmatch(name) is not None


def is_valid_label_value(value: str) -> bool:
    """validation.IsValidLabelValue: empty, or at most 63 characters of [-A-Za-z0-9_.] with
    alphanumerics at both ends."""
    return len(value) <= 63 and _LABEL_VALUE.fullmatch(value) is not None


def go_clean(path: str) -> str:
    """Go's filepath.Clean on Linux (posixpath.normpath keeps a leading '//', Go does not)."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def webhook_findings(module: dict, where: str, at: Callable[[str], str], version: Version,
                     namespace: str, namespace_note: str = "") -> list[Finding]:
    """Everything validateModule rejects in one Module; ``at`` turns a spec path into a location."""
    meta = module.get("metadata") or {}
    spec = module.get("spec") or {}
    name = str(meta.get("name") or "")
    findings = _name_length(name, namespace, f"{where}:$.metadata.name", version, container_version(module),
                            namespace_note)
    if has_rule("tolerations", version):
        findings += _tolerations(spec.get("tolerations") or [], at)
    if spec.get("dra") is not None and has_rule("dra", version):
        findings += _dra(spec["dra"], at)
        findings += _host_paths(spec["dra"], ".dra", at, version)
    if spec.get("devicePlugin") is not None and has_rule("host-path", version):
        findings += _host_paths(spec["devicePlugin"], ".devicePlugin", at, version)
    loader = spec.get("moduleLoader")
    if loader is None:
        return findings  # validateModule stops here (and before 2.4 the CRD requires moduleLoader)
    container = (loader or {}).get("container") or {}
    findings += _container_spec(container, at, version)
    findings += _modprobe(container.get("modprobe") or {}, at)
    if has_rule("files-to-sign", version):
        findings += _files_to_sign(container, at)
    return findings


def container_version(module: dict) -> str:
    spec = module.get("spec") or {}
    return str((((spec.get("moduleLoader") or {}).get("container")) or {}).get("version") or "")


def _name_length(name: str, namespace: str, where: str, version: Version, module_version: str,
                 namespace_note: str) -> list[Finding]:
    """validateModule: len(name + namespace) <= maxCombinedLength (41 from 2.7, 40 before; on 1.x
    only when container.version is set)."""
    limit = 41 if has_rule("name-length-41", version) else 40
    if version is not None and version < SINCE["name-length"] and not module_version:
        return []
    total = len(name) + len(namespace)
    if version is None and total == 41:
        return [warning(where, f"name {name!r} + namespace {namespace!r} are 41 characters{namespace_note}: "
                        "accepted from KMM 2.7 on, rejected by 2.0 - 2.6", "shorten the name by one character if "
                        "the cluster runs KMM before 2.7 (or pass --kmm-version)", code="kmm-name-length")]
    if total <= limit:
        return []
    return [error(where, f"name {name!r} ({len(name)}) + namespace {namespace!r} ({len(namespace)}) = {total} "
                  f"characters; the KMM webhook allows at most {limit}{namespace_note}",
                  "shorten the Module name or the namespace", code="kmm-name-length")]


def _tolerations(tolerations: list, at) -> list[Finding]:
    """validateTolerations, every objection of every toleration."""
    findings = []
    for i, tol in enumerate(tolerations):
        if not isinstance(tol, dict):
            continue
        where = at(f".tolerations[{i}]")
        key, operator = str(tol.get("key") or ""), str(tol.get("operator") or "")
        value, effect = str(tol.get("value") or ""), str(tol.get("effect") or "")
        if key and not is_qualified_name(key):
            findings.append(error(where + ".key", f"key {key!r} is not a qualified name (an optional DNS-1123 "
                                  "prefix and '/', then at most 63 characters [-A-Za-z0-9_.] starting and ending "
                                  "alphanumeric): the KMM webhook rejects it", "use a taint key such as "
                                  "node-role.kubernetes.io/master", code="kmm-toleration"))
        if not key and operator != "Exists":
            findings.append(error(where + ".operator", "an empty key needs operator Exists (tolerate every "
                                  "taint): the KMM webhook rejects it", "set operator: Exists, or set a key",
                                  code="kmm-toleration"))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            findings.append(error(where + ".tolerationSeconds", "tolerationSeconds needs effect NoExecute: the "
                                  "KMM webhook rejects it", "remove it or set effect: NoExecute",
                                  code="kmm-toleration"))
        if operator in ("Equal", ""):
            if not is_valid_label_value(value):
                findings.append(error(where + ".value", f"value {value!r} is not a valid label value (at most 63 "
                                      "characters [-A-Za-z0-9_.], alphanumeric at both ends): the KMM webhook "
                                      "rejects it", "use the taint's value as it is set on the node",
                                      code="kmm-toleration"))
        elif operator == "Exists":
            if value:
                findings.append(error(where + ".value", f"operator Exists takes no value (got {value!r}): the KMM "
                                      "webhook rejects it", "remove the value, or use operator Equal",
                                      code="kmm-toleration"))
        else:
            findings.append(error(where + ".operator", f"operator {operator!r} is not Equal or Exists: the KMM "
                                  "webhook rejects it", "use Equal or Exists", code="kmm-toleration"))
        if effect and effect not in _TAINT_EFFECTS:
            findings.append(error(where + ".effect", f"effect {effect!r} is not NoSchedule, PreferNoSchedule or "
                                  "NoExecute: the KMM webhook rejects it", "use one of them (or leave it empty "
                                  "for all)", code="kmm-toleration"))
    return findings


def _dra(dra: dict, at) -> list[Finding]:
    """validateDRA: driverName required and a DNS-1123 subdomain; deviceClasses names required,
    DNS-1123 subdomains, unique.  (The midstream OpenShift >= 4.21 gate needs the cluster.)"""
    findings = []
    driver = str(dra.get("driverName") or "")
    if not driver:
        findings.append(error(at(".dra.driverName"), "dra.driverName is required: the KMM webhook rejects a DRA "
                              "section without it", "set the DRA driver's name, e.g. gpu.example.com",
                              code="kmm-dra"))
    elif not is_dns1123_subdomain(driver):
        findings.append(error(at(".dra.driverName"), f"dra.driverName {driver!r} is not a DNS-1123 subdomain "
                              "(lower-case alphanumerics, '-' and '.'): the KMM webhook rejects it",
                              "use a name like gpu.example.com", code="kmm-dra"))
    seen = set()
    for i, device_class in enumerate(dra.get("deviceClasses") or []):
        if not isinstance(device_class, dict):
            continue
        class_name = str(device_class.get("name") or "")
        where = at(f".dra.deviceClasses[{i}].name")
        if not class_name:
            findings.append(error(where, "every device class needs a name: the KMM webhook rejects it",
                                  "name the DeviceClass", code="kmm-dra"))
        elif not is_dns1123_subdomain(class_name):
            findings.append(error(where, f"device class name {class_name!r} is not a DNS-1123 subdomain: the KMM "
                                  "webhook and the CRD reject it", "use lower-case alphanumerics, '-' and '.'",
                                  code="kmm-dra"))
        elif class_name in seen:
            findings.append(error(where, f"device class {class_name!r} is listed twice: the KMM webhook rejects "
                                  "duplicates", "remove the second entry", code="kmm-dra"))
        seen.add(class_name)
    return findings


def _host_paths(section: dict, path: str, at, version: Version) -> list[Finding]:
    """validateHostPathVolumes / isAllowedHostPath: filepath.Clean(path) equals or is under an
    allowed prefix (so /var/../etc is /etc and rejected)."""
    allowed = ("/dev", "/sys", "/var", "/opt") + (("/run",) if has_rule("host-path-run", version) else ())
    findings = []
    for i, volume in enumerate(section.get("volumes") or []):
        host_path = ((volume or {}).get("hostPath") or {}) if isinstance(volume, dict) else {}
        if not isinstance(host_path, dict) or host_path.get("path") is None:
            continue
        raw = str(host_path["path"])
        cleaned = go_clean(raw)
        if any(cleaned == p or cleaned.startswith(p + "/") for p in allowed):
            continue
        shown = raw if cleaned == raw else f"{raw} (that is {cleaned})"
        findings.append(error(at(f"{path}.volumes[{i}].hostPath.path"), f"hostPath {shown} is outside "
                              f"{', '.join(allowed)}: the KMM webhook rejects it",
                              "mount a path under one of those", code="kmm-hostpath"))
    return findings


def _present(obj: dict, key: str) -> bool:
    """A list field Go sees as non-nil: present and not null (an empty list counts)."""
    return obj.get(key) is not None


def _container_spec(container: dict, at, version: Version) -> list[Finding]:
    """validateModuleLoaderContainerSpec: in-tree fields, images, each mapping's regexp/literal."""
    findings = []
    in_tree = has_rule("in-tree-exclusive", version)
    if in_tree and _present(container, "inTreeModulesToRemove") and container.get("inTreeModuleToRemove"):
        findings.append(error(at(_CONTAINER + ".inTreeModuleToRemove"), "the container sets both "
                              "inTreeModulesToRemove and the deprecated inTreeModuleToRemove: the KMM webhook "
                              "rejects it", "keep only inTreeModulesToRemove (a list)", code="kmm-in-tree-exclusive"))
    image = str(container.get("containerImage") or "")
    if image and has_rule("image-format", version):
        findings += _image_format(image, at(_CONTAINER + ".containerImage"))
    go_version = go_version_for_kmm(version)
    for i, mapping in enumerate(container.get("kernelMappings") or []):
        if not isinstance(mapping, dict):
            continue
        path = f"{_CONTAINER}.kernelMappings[{i}]"
        regexp, literal = str(mapping.get("regexp") or ""), str(mapping.get("literal") or "")
        if regexp and literal:
            findings.append(error(at(path), "regexp and literal are both set: the KMM webhook accepts only one",
                                  "keep one of them", code="kmm-mapping-regexp-literal"))
        if not regexp and not literal:
            findings.append(error(at(path), "neither regexp nor literal is set: the KMM webhook needs one",
                                  "add regexp: '^.+$' (every kernel) or a literal kernel version",
                                  code="kmm-mapping-regexp-literal"))
        if regexp:
            findings += regexp_findings(regexp, at(path + ".regexp"), go_version)
        mapping_image = str(mapping.get("containerImage") or "")
        if not mapping_image and not image:
            findings.append(error(at(path + ".containerImage"), "the mapping has no containerImage and the "
                                  "container sets none: the KMM webhook rejects it", "set containerImage on the "
                                  "mapping or on moduleLoader.container", code="kmm-mapping-image"))
        elif mapping_image and has_rule("image-format", version):
            findings += _image_format(mapping_image, at(path + ".containerImage"))
        if in_tree and _present(mapping, "inTreeModulesToRemove") and mapping.get("inTreeModuleToRemove"):
            findings.append(error(at(path + ".inTreeModuleToRemove"), "the mapping sets both inTreeModulesToRemove "
                                  "and the deprecated inTreeModuleToRemove: the KMM webhook rejects it",
                                  "keep only inTreeModulesToRemove", code="kmm-in-tree-exclusive"))
        mixed = ((_present(mapping, "inTreeModulesToRemove") and container.get("inTreeModuleToRemove")) or
                 (mapping.get("inTreeModuleToRemove") and _present(container, "inTreeModulesToRemove")))
        if in_tree and mixed:
            findings.append(error(at(path), "the mapping and the container use different in-tree fields (one "
                                  "inTreeModulesToRemove, the other the deprecated inTreeModuleToRemove): the KMM "
                                  "webhook rejects it", "use inTreeModulesToRemove in both",
                                  code="kmm-in-tree-exclusive"))
    return findings


def regexp_findings(regexp: str, where: str, go_version=None) -> list[Finding]:
    """regexp.Compile(km.Regexp) in validateModuleLoaderContainerSpec, by Go's rules."""
    try:
        compile_go(regexp, *(() if go_version is None else (go_version,)))
    except GoRegexpError as exc:
        if not exc.decided:
            return [warning(where, f"regexp '{regexp}': {exc}", "spell the class exactly as Go's unicode "
                            "tables do", code="kmm-regexp-go")]
        return [error(where, f"regexp '{regexp}' does not compile in Go's regexp (RE2 syntax), which the KMM "
                      f"webhook and kernel mapper use: {exc}", go_regexp_fix(regexp), code="kmm-regexp-re2")]
    return []


def _image_format(image: str, where: str) -> list[Finding]:
    """validateImageFormat: the webhook wants a ':' or '@' somewhere in the image."""
    if ":" in image or "@" in image:
        return []
    return [error(where, f"image {image!r} has no tag or digest: the KMM webhook rejects an image without ':' "
                  "or '@'", "add a tag such as :${KERNEL_FULL_VERSION}, or @sha256:<digest>", code="kmm-image-tag")]


def _modprobe(modprobe: dict, at) -> list[Finding]:
    """validateModprobe."""
    findings = []
    where = at(_CONTAINER + ".modprobe")
    name = str(modprobe.get("moduleName") or "")
    raw = modprobe.get("rawArgs") or {}
    raw_load, raw_unload = bool(raw.get("load")), bool(raw.get("unload"))
    if name and (raw_load or raw_unload):
        findings.append(error(where + ".rawArgs", "rawArgs cannot be set when moduleName is set: the KMM webhook "
                              "rejects it", "remove rawArgs (use args and parameters with moduleName)",
                              code="kmm-modprobe-name"))
    elif not name and not (raw_load and raw_unload):
        findings.append(error(where, "without moduleName, both rawArgs.load and rawArgs.unload must be set: the "
                              "KMM webhook rejects it", "set moduleName (the .ko name without .ko)",
                              code="kmm-modprobe-name"))
    order = modprobe.get("modulesLoadingOrder")
    if order is not None:  # present, even as an empty list
        at_order = where + ".modulesLoadingOrder"
        if len(order) < 2:
            findings.append(error(at_order, f"modulesLoadingOrder has {len(order)} entr"
                                  f"{'y' if len(order) == 1 else 'ies'}; when present it needs at least two: the "
                                  "KMM webhook rejects it", "list the module and what it depends on, or remove "
                                  "the field", code="kmm-loading-order"))
        if not name:
            findings.append(error(at_order, "modulesLoadingOrder needs moduleName: the KMM webhook rejects it",
                                  "set moduleName to the first entry", code="kmm-loading-order"))
        elif order and order[0] != name:
            findings.append(error(at_order + "[0]", f"modulesLoadingOrder starts with {order[0]!r}, but the KMM "
                                  f"webhook wants moduleName {name!r} first", f"put {name!r} first",
                                  code="kmm-loading-order"))
        dupes = sorted({str(m) for m in order if order.count(m) > 1})
        if dupes:
            findings.append(error(at_order, f"modulesLoadingOrder repeats {', '.join(dupes)}: the KMM webhook "
                                  "rejects duplicates", "list each module once", code="kmm-loading-order"))
    return findings


def _files_to_sign(container: dict, at) -> list[Finding]:
    """validateFilesToSign / validateSignSection: the container's sign and each mapping's own sign,
    each before any merge: filesToSign non-empty, every entry starting with dirName + "/"."""
    modprobe = container.get("modprobe") or {}
    dir_name = "/opt" if modprobe.get("dirName") is None else str(modprobe["dirName"])  # the CRD default
    findings = []
    sections = [(_CONTAINER + ".sign", container.get("sign"))]
    sections += [(f"{_CONTAINER}.kernelMappings[{i}].sign", m.get("sign"))
                 for i, m in enumerate(container.get("kernelMappings") or []) if isinstance(m, dict)]
    for path, sign in sections:
        if sign is None:
            continue
        files = sign.get("filesToSign") or []
        if not files:
            findings.append(error(at(path + ".filesToSign"), "filesToSign is required in every sign section (the "
                                  "KMM webhook checks the container's and each mapping's own, before merging)",
                                  f"list e.g. {dir_name.rstrip('/') or ''}/lib/modules/${{KERNEL_FULL_VERSION}}/"
                                  "<module>.ko", code="kmm-sign-files-empty"))
        prefix = dir_name + "/"
        for i, file in enumerate(files):
            if not str(file).startswith(prefix):
                why = (f" (dirName {dir_name!r} ends with '/', so the prefix is {prefix!r} and nothing can pass)"
                       if dir_name.endswith("/") else "")
                fix = (f"write dirName as {dir_name.rstrip('/')!r}" if dir_name.endswith("/") and dir_name != "/"
                       else f"use {prefix}lib/modules/${{KERNEL_FULL_VERSION}}/<module>.ko")
                findings.append(error(at(f"{path}.filesToSign[{i}]"), f"{file!r} does not start with {prefix!r}"
                                      f"{why}: the KMM webhook rejects it", fix, code="kmm-sign-files-dir"))
    return findings


def preflight_findings(spec: dict, where: str) -> list[Finding]:
    """validatePreflight (internal/webhook/preflight.go): kernelVersion non-empty, >= 3 [.,-] fields."""
    kernel = spec.get("kernelVersion")
    if not kernel:
        return [error(f"{where}:$.spec.kernelVersion", "kernelVersion is required: the kernel to check the Modules "
                      "against", "set it to the upcoming kernel, e.g. 5.14.0-427.13.1.el9_4.x86_64",
                      code="kmm-preflight-kernel")]
    if not isinstance(kernel, str):
        return []  # the type check reports it
    if len(_KERNEL_FIELDS.split(kernel)) < 3:
        return [error(f"{where}:$.spec.kernelVersion", f"kernelVersion {kernel!r} has fewer than three fields "
                      "separated by '.', ',' or '-': the KMM webhook rejects it", "give the full kernel as "
                      "`uname -r` prints it, e.g. 5.14.0-427.13.1.el9_4.x86_64", code="kmm-preflight-kernel")]
    return []
