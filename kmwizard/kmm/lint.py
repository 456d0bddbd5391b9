"""Checks for KMM objects: what the KMM admission webhook rejects and what fails silently.

``lint_document`` serves ``kmwizard validate FILE...`` (hand-written Modules and their
ConfigMaps) and ``render_kmm`` (the generated ones), so both get the same rules.  Webhook
rules (``docs``: kmm.md section 3) are errors; silent failures are warnings or errors when the
result can never work.  ``where`` values look like ``module.yaml:$.spec.moduleLoader...``.
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Optional

from kmwizard.findings import Finding, error, info, warning
from kmwizard.kmm.dockerfile import lint_dockerfile
from kmwizard.kmm.kernel_match import compile_re2, merge_build, merge_sign
from kmwizard.kmm.variables import (IMAGE_VARIABLES, KERNEL_VARIABLES, kernel_variables, parse_image,
                                    references, substitute)

MODULE_GROUP = "kmm.sigs.x-k8s.io"
HUB_GROUP = "hub.kmm.sigs.x-k8s.io"
OPERATOR_NAMESPACE = "openshift-kmm"

# Real kernel strings of different shapes: a regexp matching all of them is a catch-all.
SAMPLE_KERNELS = (
    "4.18.0-372.9.1.el8.x86_64",
    "4.18.0-477.10.1.el8_8.aarch64",
    "5.14.0-284.11.1.el9_2.x86_64",
    "5.14.0-427.13.1.el9_4.aarch64",
    "5.14.0-284.11.1.rt14.296.el9_2.x86_64",
    "5.14.0-570.12.1.el9_6.x86_64+64k",
    "6.8.0-31-generic",
    "6.5.6-300.fc39.x86_64",
)
SAMPLE_KERNEL = "5.14.0-427.13.1.el9_4.x86_64"

_TOLERATION_OPERATORS = ("", "Exists", "Equal")
_TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
_QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                             r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_HOSTPATH_PREFIXES = ("/dev", "/sys", "/var", "/opt", "/run")
_KERNEL_VAR_IN_TAG = re.compile(r"\$\{?KERNEL_(FULL_VERSION|VERSION|XYZ|X|Y|Z)\b")


# The Module fields kmwizard knows, and which the CRD requires (tests compare both with the real CRD).
# Unknown fields are what strict validation rejects (and server-side apply answers with a bare 500).
MODULE_FIELDS = {
    "spec": ({"devicePlugin", "dra", "imageRebuildTriggerGeneration", "imageRepoSecret", "moduleLoader",
              "selector", "tolerations"}, {"selector"}),
    "moduleLoader": ({"container", "serviceAccountName"}, {"container"}),
    "container": ({"build", "containerImage", "imagePullPolicy", "inTreeModuleToRemove", "inTreeModulesToRemove",
                   "kernelMappings", "modprobe", "registryTLS", "sign", "version"}, {"kernelMappings", "modprobe"}),
    "modprobe": ({"args", "dirName", "firmwarePath", "moduleName", "modulesLoadingOrder", "parameters", "rawArgs"},
                 set()),
    "mapping": ({"build", "containerImage", "inTreeModuleToRemove", "inTreeModulesToRemove", "literal", "regexp",
                 "registryTLS", "sign"}, {"containerImage"}),
    "build": ({"baseImageRegistryTLS", "buildArgs", "dockerfileConfigMap", "kanikoParams", "secrets", "selector"},
              {"dockerfileConfigMap"}),
    "sign": ({"certSecret", "filesToSign", "keySecret", "unsignedImage", "unsignedImageRegistryTLS"},
             {"certSecret", "keySecret"}),
}


# The JSON types of the Module fields the lints below read (tests compare this with the real CRD).
# A dict is an object with these properties, {"*": T} a map of T, [T] a list of T.  Checked first,
# so that the lints can trust the types and a hand-written file with a wrong type gets the API
# server's objection instead of a traceback.
_TLS = {"insecure": bool, "insecureSkipTLSVerify": bool}
_BUILD = {"baseImageRegistryTLS": _TLS, "buildArgs": [{"name": str, "value": str}], "dockerfileConfigMap": {"name": str},
          "kanikoParams": {"tag": str}, "secrets": [{"name": str}], "selector": {"*": str}}
_SIGN = {"certSecret": {"name": str}, "keySecret": {"name": str}, "filesToSign": [str], "unsignedImage": str,
         "unsignedImageRegistryTLS": _TLS}
_MAPPING = {"build": _BUILD, "sign": _SIGN, "containerImage": str, "inTreeModuleToRemove": str,
            "inTreeModulesToRemove": [str], "literal": str, "regexp": str, "registryTLS": _TLS}
_ARGS = {"load": [str], "unload": [str]}
MODULE_TYPES = {
    "selector": {"*": str},
    "tolerations": [{"effect": str, "key": str, "operator": str, "tolerationSeconds": int, "value": str}],
    "imageRebuildTriggerGeneration": int, "imageRepoSecret": {"name": str},
    "devicePlugin": {"volumes": [{"hostPath": {"path": str}}]}, "dra": {},
    "moduleLoader": {"serviceAccountName": str, "container": {
        "modprobe": {"args": _ARGS, "rawArgs": _ARGS, "dirName": str, "firmwarePath": str, "moduleName": str,
                     "modulesLoadingOrder": [str], "parameters": [str]},
        "containerImage": str, "imagePullPolicy": str, "version": str, "inTreeModuleToRemove": str,
        "inTreeModulesToRemove": [str], "registryTLS": _TLS, "build": _BUILD, "sign": _SIGN,
        "kernelMappings": [_MAPPING]}},
}
_JSON_TYPE = {str: "a string", int: "an integer", bool: "true or false"}


def type_findings(value, shape, where: str) -> list[Finding]:
    """Values whose JSON type differs from shape (None counts as unset, as for the API server)."""
    if value is None:
        return []
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [_type_error(where, _wanted(shape), value)]
        return [f for i, item in enumerate(value)
                for f in (type_findings(item, shape[0], f"{where}[{i}]") if item is not None else
                          [_type_error(f"{where}[{i}]", _wanted(shape[0]), item)])]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [_type_error(where, _wanted(shape), value)]
        return [f for key, item in value.items() if (key in shape or "*" in shape)
                for f in type_findings(item, shape.get(key, shape.get("*")), f"{where}.{key}")]
    ok = isinstance(value, shape) and (shape is not int or not isinstance(value, bool))
    return [] if ok else [_type_error(where, _wanted(shape), value)]


def _wanted(shape) -> str:
    return "a list" if isinstance(shape, list) else "a mapping" if isinstance(shape, dict) else _JSON_TYPE[shape]


def _type_error(where: str, wanted: str, value) -> Finding:
    got = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
           float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
    hint = " (quote it)" if wanted == "a string" and isinstance(value, (int, float, bool)) else ""
    return error(where, f"must be {wanted}, got {got} {value!r}: the API server rejects it",
                 f"write {where.rsplit('.', 1)[-1]} as {wanted}{hint}", code="kmm-field-type")


def _structure(obj, part: str, where: str) -> list[Finding]:
    """Unknown and missing required fields of one object of the Module."""
    if not isinstance(obj, dict):
        return [error(where, f"must be a mapping, got {type(obj).__name__}", code="kmm-field-type")]
    known, required = MODULE_FIELDS[part]
    findings = []
    for name in sorted(set(obj) - known):
        close = difflib.get_close_matches(name, known, n=1)
        findings.append(error(f"{where}.{name}", f"unknown field {name!r}: the Module CRD has no such field "
                              "(strict validation rejects it; otherwise it is dropped silently)",
                              f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(sorted(known))}",
                              code="kmm-field-unknown"))
    for name in sorted(required - set(obj)):
        hint = ' (it may be "" to use the container-level image)' if name == "containerImage" else ""
        findings.append(error(f"{where}.{name}", f"{name} is required by the Module CRD{hint}",
                              f"add {name}", code="kmm-field-required"))
    return findings


def parse_kmm_version(text: Optional[str]) -> Optional[tuple[int, int]]:
    match = re.match(r"^\s*v?(\d+)\.(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def is_kmm_kind(doc: dict) -> bool:
    group = str(doc.get("apiVersion", "")).split("/")[0]
    return group in (MODULE_GROUP, HUB_GROUP)


def dockerfile_configmap(doc: dict) -> bool:
    """A ConfigMap that carries a Dockerfile (any capitalisation of the key)."""
    return doc.get("kind") == "ConfigMap" and any(str(k).lower() == "dockerfile"
                                                  for k in _mapping(doc.get("data")))


def lint_document(doc: dict, where: str, kmm_version: Optional[str] = None) -> Optional[list[Finding]]:
    """Findings for one KMM document; None when it is not a KMM kind (or a Dockerfile ConfigMap)."""
    if not isinstance(doc, dict):
        return None
    kind = doc.get("kind")
    version = parse_kmm_version(kmm_version)
    if dockerfile_configmap(doc):
        return lint_configmap(doc, where)
    if not is_kmm_kind(doc):
        return None
    if kind == "Module":
        return lint_module(doc, where, version)
    if kind == "ManagedClusterModule":
        return lint_managed_cluster_module(doc, where, version)
    if kind == "PreflightValidationOCP":
        spec = _mapping(doc.get("spec"))
        if not spec.get("kernelVersion"):
            return [error(f"{where}:$.spec.kernelVersion", "kernelVersion is required: the kernel to check "
                          "the Modules against", "set it to the upcoming kernel, e.g. 5.14.0-427.13.1.el9_4.x86_64",
                          code="kmm-preflight-kernel")]
        return []
    return [info(where, f"{kind} is a KMM kind kmwizard does not check in depth", code="kmm-kind-unchecked")]


def lint_documents(pairs: Iterable[tuple[str, dict]], kmm_version: Optional[str] = None) -> list[Finding]:
    """lint_document over several documents, plus the checks across them (ConfigMaps named by
    Modules must be in the Module's namespace and carry the key ``dockerfile``)."""
    pairs = [(w, d) for w, d in pairs if isinstance(d, dict)]
    findings: list[Finding] = []
    for where, doc in pairs:
        findings.extend(lint_document(doc, where, kmm_version) or [])
    configmaps = {}
    for where, doc in pairs:
        if doc.get("kind") == "ConfigMap":
            meta = _mapping(doc.get("metadata"))
            configmaps.setdefault(str(meta.get("name")), []).append((str(meta.get("namespace", "")), where, doc))
    for where, doc in pairs:
        if doc.get("kind") != "Module":
            continue
        namespace = _mapping(doc.get("metadata")).get("namespace", "")
        for path, build in _builds(doc):
            name = _mapping(_mapping(build).get("dockerfileConfigMap")).get("name")
            candidates = configmaps.get(str(name), [])
            if not name or not candidates:
                continue
            if not any(ns == namespace or not ns or not namespace for ns, _, _ in candidates):
                others = ", ".join(sorted({ns for ns, _, _ in candidates}))
                findings.append(error(f"{where}:{path}.dockerfileConfigMap.name", f"ConfigMap {name!r} is in "
                                      f"namespace {others}, but the Module is in {namespace}: KMM only reads the "
                                      "Module's namespace", f"put the ConfigMap in namespace {namespace}",
                                      code="kmm-configmap-namespace"))
    return findings


def _builds(module: dict):
    container = _container(module)
    if container.get("build"):
        yield "$.spec.moduleLoader.container.build", container["build"]
    mappings = container.get("kernelMappings")
    for i, mapping in enumerate(mappings if isinstance(mappings, list) else []):
        if isinstance(mapping, dict) and mapping.get("build"):
            yield f"$.spec.moduleLoader.container.kernelMappings[{i}].build", mapping["build"]


def _container(module: dict) -> dict:
    return _mapping(_mapping(_mapping(module.get("spec")).get("moduleLoader")).get("container"))


def _mapping(value) -> dict:
    """value when it is a mapping, else {}: for reading documents whose types are not checked yet."""
    return value if isinstance(value, dict) else {}


# --- ConfigMap ----------------------------------------------------------------------

def lint_configmap(doc: dict, where: str, *, dir_name: str = "/opt", build_args: Iterable[str] = ()) -> list[Finding]:
    data = doc.get("data") or {}
    findings: list[Finding] = []
    if "dockerfile" not in data:
        wrong = next(k for k in data if str(k).lower() == "dockerfile")
        findings.append(error(f"{where}:$.data.{wrong}", f"the Dockerfile is under data key {wrong!r}; KMM reads "
                              "only the lower-case key 'dockerfile', so the build fails",
                              f"rename the key {wrong!r} to 'dockerfile'", code="kmm-configmap-key"))
        key = wrong
    else:
        key = "dockerfile"
    text = data[key]
    if not isinstance(text, str):
        findings.append(_type_error(f"{where}:$.data.{key}", "a string", text))
        return findings
    if not text.strip():
        findings.append(error(f"{where}:$.data.{key}", "the Dockerfile is empty", "put the Dockerfile text "
                              "under data.dockerfile as a YAML literal block (dockerfile: |)",
                              code="kmm-dockerfile-empty"))
        return findings
    findings += lint_dockerfile(text, f"{where}:$.data.{key}", dir_name=dir_name, build_args=build_args)
    return findings


# --- Module -------------------------------------------------------------------------

def lint_managed_cluster_module(doc: dict, where: str, version) -> list[Finding]:
    findings = type_findings(doc.get("spec"), {"spokeNamespace": str, "moduleSpec": {}, "selector": {"*": str}},
                             f"{where}:$.spec")
    if findings:
        return findings
    spec = doc.get("spec") or {}
    if not spec.get("spokeNamespace"):
        findings.append(error(f"{where}:$.spec.spokeNamespace", "spokeNamespace is required: the namespace of "
                              "the Module on the managed clusters", "set spec.spokeNamespace",
                              code="kmm-mcm-spoke-namespace"))
    module = {"kind": "Module", "metadata": {"name": _mapping(doc.get("metadata")).get("name", ""),
                                             "namespace": spec.get("spokeNamespace", "")},
              "spec": spec.get("moduleSpec") or {}}
    for finding in lint_module(module, where, version, spec_path="$.spec.moduleSpec"):
        findings.append(finding)
    return findings


def lint_module(doc: dict, where: str, version: Optional[tuple[int, int]] = None, *,
                spec_path: str = "$.spec") -> list[Finding]:
    """Every webhook rule and silent-failure lint for one Module."""
    at = lambda path: f"{where}:{spec_path}{path}"  # noqa: E731 - the finding location of a spec path
    findings = type_findings(doc.get("metadata"), {"name": str, "namespace": str}, f"{where}:$.metadata")
    findings += type_findings(doc.get("spec"), MODULE_TYPES, at(""))
    if findings:
        return findings  # the checks below read these fields
    meta = doc.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    spec = doc.get("spec") or {}
    if not name:
        findings.append(error(f"{where}:$.metadata.name", "metadata.name is missing: the API server rejects an "
                              "object without a name", "give the Module a name (DNS-1123, e.g. my-driver)",
                              code="kmm-name-missing"))

    # 1. name + namespace length
    limit = 41 if version is None or version >= (2, 7) else 40
    if name and namespace and len(name) + len(namespace) > limit:
        findings.append(error(f"{where}:$.metadata.name", f"name {name!r} ({len(name)}) + namespace {namespace!r} "
                              f"({len(namespace)}) = {len(name) + len(namespace)} characters; the KMM webhook "
                              f"allows at most {limit}" + ("" if version else " (41 from KMM 2.7, 40 before)"),
                              "shorten the Module name or the namespace", code="kmm-name-length"))
    elif name and namespace and version is None and len(name) + len(namespace) == 41:
        findings.append(warning(f"{where}:$.metadata.name", "name + namespace are 41 characters: accepted from "
                                "KMM 2.7 on, rejected by 2.0 - 2.6", "shorten the name by one character if the "
                                "cluster runs KMM before 2.7", code="kmm-name-length"))

    findings += _structure(spec, "spec", at(""))
    if spec.get("selector") == {}:
        findings.append(warning(at(".selector"), "the selector is empty: the Module targets every node, control "
                                "plane included (where the taint keeps it from running anyway)",
                                "select the nodes, e.g. node-role.kubernetes.io/worker: \"\"",
                                code="kmm-selector-empty"))
    findings += _tolerations(spec.get("tolerations"), at, version)
    if spec.get("imageRebuildTriggerGeneration") is not None and version and version < (2, 6):
        findings.append(error(at(".imageRebuildTriggerGeneration"), "imageRebuildTriggerGeneration exists from "
                              f"KMM 2.6; this cluster runs {version[0]}.{version[1]}", "remove it, or upgrade KMM",
                              code="kmm-version-field"))
    if spec.get("dra") is not None and version and version < (2, 7):
        findings.append(error(at(".dra"), f"dra exists from KMM 2.7; the target is {version[0]}.{version[1]}",
                              "use devicePlugin, or upgrade KMM", code="kmm-version-field"))
    findings += _device_plugin(spec.get("devicePlugin"), at)

    loader = spec.get("moduleLoader")
    if loader is None:
        if version and version < (2, 4):
            findings.append(error(at(".moduleLoader"), "moduleLoader is required before KMM 2.4",
                                  "add spec.moduleLoader", code="kmm-version-field"))
        return findings
    findings += _structure(loader, "moduleLoader", at(".moduleLoader"))
    container = (loader or {}).get("container") or {}
    if not isinstance(loader, dict) or not isinstance(loader.get("container"), dict):
        return findings  # reported just above
    findings += _structure(container, "container", at(".moduleLoader.container"))
    if isinstance(container.get("modprobe"), dict):
        findings += _structure(container["modprobe"], "modprobe", at(".moduleLoader.container.modprobe"))
    for section in ("build", "sign"):
        if container.get(section) is not None:
            findings += _structure(container[section], section, at(f".moduleLoader.container.{section}"))
    findings += _modprobe(container.get("modprobe") or {}, at)
    dir_name = str((container.get("modprobe") or {}).get("dirName") or "/opt")
    findings += _in_tree(container, ".moduleLoader.container", at, version)

    mappings = container.get("kernelMappings") or []
    if not mappings:
        findings.append(error(at(".moduleLoader.container.kernelMappings"), "at least one kernel mapping is "
                              "required", "add {regexp: '^.+$', containerImage: ...}", code="kmm-mappings-empty"))
    variables = {**kernel_variables(SAMPLE_KERNEL), "MOD_NAME": name or "module",
                 "MOD_NAMESPACE": namespace or "namespace"}
    if container.get("containerImage"):
        findings += _image(container["containerImage"], at(".moduleLoader.container.containerImage"),
                           IMAGE_VARIABLES, variables)
    findings += _tls(container.get("registryTLS"), at(".moduleLoader.container.registryTLS"), "registryTLS")
    if container.get("build"):
        findings += _build(container["build"], at(".moduleLoader.container.build"))
    if container.get("sign"):
        findings += _sign(container["sign"], at(".moduleLoader.container.sign"), dir_name, version, variables)

    catch_all_at = None
    for i, mapping in enumerate(mappings):
        path = f".moduleLoader.container.kernelMappings[{i}]"
        if not isinstance(mapping, dict):
            findings.append(error(at(path), "a kernel mapping is a mapping", code="kmm-mapping-shape"))
            continue
        findings += _structure(mapping, "mapping", at(path))
        for section in ("build", "sign"):
            if mapping.get(section) is not None:
                findings += _structure(mapping[section], section, at(f"{path}.{section}"))
        findings += _in_tree(mapping, path, at, version)
        findings += _tls(mapping.get("registryTLS"), at(path + ".registryTLS"), "registryTLS")
        regexp, literal = mapping.get("regexp"), mapping.get("literal")
        if bool(regexp) == bool(literal):
            findings.append(error(at(path), "a kernel mapping needs exactly one of regexp and literal "
                                  f"(got {'both' if regexp else 'neither'})", "keep one of them",
                                  code="kmm-mapping-regexp-literal"))
        if catch_all_at is not None:
            findings.append(warning(at(path), f"mapping [{catch_all_at}] before it matches every kernel, so this "
                                    "mapping is never used (the first match wins)",
                                    "put specific mappings before the catch-all", code="kmm-mapping-unreachable"))
        compiled = None
        if regexp:
            try:
                compiled = compile_re2(regexp)
            except ValueError as exc:
                findings.append(error(at(path + ".regexp"), f"regexp '{regexp}' does not compile in RE2, the "
                                      f"engine KMM (Go) uses: {exc}", _re2_fix(regexp),
                                      code="kmm-regexp-re2"))
            else:
                findings += _regexp_lints(regexp, at(path + ".regexp"))
                if catch_all_at is None and all(compiled.search(k) for k in SAMPLE_KERNELS) \
                        and i < len(mappings) - 1:
                    catch_all_at = i
        image_template = mapping.get("containerImage") or container.get("containerImage") or ""
        if not image_template:
            findings.append(error(at(path + ".containerImage"), "the mapping has no containerImage and the "
                                  "container sets none", "set containerImage on the mapping or on "
                                  "moduleLoader.container", code="kmm-mapping-image"))
        elif mapping.get("containerImage"):
            findings += _image(mapping["containerImage"], at(path + ".containerImage"), IMAGE_VARIABLES, variables)
        build = merge_build(container.get("build"), mapping.get("build"))
        if mapping.get("build"):
            findings += _build(mapping["build"], at(path + ".build"))
        if build and image_template and regexp and compiled is not None and _matches_many(regexp) \
                and not _KERNEL_VAR_IN_TAG.search(image_template.rpartition("/")[2]):
            findings.append(error(at(path + ".containerImage"), f"this mapping builds and its regexp '{regexp}' "
                                  f"matches several kernels, but the image tag of {image_template!r} has no kernel "
                                  "variable: KMM never rebuilds an existing tag, so every kernel gets the module "
                                  "built for the first one and it fails to load",
                                  "end the tag with ${KERNEL_FULL_VERSION}", code="kmm-image-tag-kernel"))
        if mapping.get("sign"):
            findings += _sign(mapping["sign"], at(path + ".sign"), dir_name, version, variables)
        sign = merge_sign(container.get("sign"), mapping.get("sign"))
        if sign is not None:
            findings += _sign_effective(sign, at(path + ".sign"), dir_name, version, bool(build))
    return findings


def _re2_fix(regexp: str) -> str:
    if "\\e" in regexp:
        return "write a literal 'e' without the backslash (\\e is an escape RE2 rejects), e.g. ^.+\\.el9\\.x86_64$"
    if "(?=" in regexp or "(?!" in regexp or "(?<" in regexp:
        return "RE2 has no lookarounds: list the kernels you want with alternatives or separate mappings"
    if "\\Z" in regexp:
        return "use $ (or \\z) instead of \\Z"
    return "rewrite it in RE2 syntax (no backreferences, lookarounds or possessive quantifiers)"


def _regexp_lints(regexp: str, where: str) -> list[Finding]:
    findings = []
    if not regexp.startswith("^") or not regexp.endswith("$"):
        findings.append(warning(where, f"regexp '{regexp}' is not anchored: KMM searches anywhere in the kernel "
                                "string, so it also matches kernels that merely contain it",
                                "start it with ^ and end it with $", code="kmm-regexp-unanchored"))
    dots = _literal_dots(regexp)
    if dots:
        findings.append(warning(where, f"regexp '{regexp}' has an unescaped '.' between literal characters "
                                f"(at {', '.join(str(d) for d in dots)}): '.' matches any character",
                                "escape literal dots as \\. (e.g. el9\\.x86_64)", code="kmm-regexp-dot"))
    return findings


def _literal_dots(regexp: str) -> list[int]:
    """Positions of '.' outside classes that sit between literal word characters."""
    positions, in_class, i = [], False, 0
    while i < len(regexp):
        c = regexp[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "." and 0 < i < len(regexp) - 1:
            before, after = regexp[i - 1], regexp[i + 1]
            escaped_before = i >= 2 and regexp[i - 2] == "\\"
            if (before.isalnum() or before == "_") and not escaped_before and (after.isalnum() or after == "_"):
                positions.append(i)
        i += 1
    return positions


def _matches_many(regexp: str) -> bool:
    """False when the regexp can only match one kernel string (a literal with escaped dots)."""
    body = regexp[1:] if regexp.startswith("^") else regexp
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    if not (regexp.startswith("^") and regexp.endswith("$")):
        return True
    body = re.sub(r"\\([.\-+_])", "", body)
    return bool(re.search(r"[.*+?()\[\]{}|\\^$]", body))


def _image(template: str, where: str, allowed: tuple, values: dict) -> list[Finding]:
    findings = _variable_lints(template, where, allowed)
    resolved = substitute(template, values)
    ref, problem = parse_image(resolved)
    if ref is None:
        findings.append(error(where, f"image {template!r} is not a valid image reference ({problem})",
                              "write registry/org/name:tag or name@sha256:<digest>", code="kmm-image-invalid"))
    elif not ref.tag and not ref.digest:
        findings.append(error(where, f"image {template!r} has no tag or digest (a ':' before the last '/' is a "
                              "registry port, not a tag); the KMM webhook rejects it or the wrong image is used",
                              "add a tag such as :${KERNEL_FULL_VERSION}, or @sha256:<digest>",
                              code="kmm-image-tag"))
    return findings


def _variable_lints(template: str, where: str, allowed: tuple) -> list[Finding]:
    findings = []
    bare = []
    for ref in references(template):
        if ref.name not in allowed:
            known = ", ".join(f"${{{v}}}" for v in allowed)
            hint = " (KERNEL_XY does not exist: use ${KERNEL_X}.${KERNEL_Y})" if ref.name == "KERNEL_XY" else ""
            if ref.name in IMAGE_VARIABLES:
                message = f"{ref.text} is not substituted in this field (only {known} are): it becomes empty"
            else:
                message = f"{ref.text} is not a KMM variable{hint}: it silently becomes empty"
            findings.append(error(where, message, f"use one of {known}", code="kmm-variable-unknown"))
        elif not ref.braced:
            bare.append(ref)
    if bare:
        names = ", ".join(r.text for r in bare)
        findings.append(warning(where, f"{names} without braces: envsubst reads the longest name, so "
                                f"{bare[0].text}_x or {bare[0].text}v2 would read another (empty) variable",
                                "write " + ", ".join(f"${{{r.name}}}" for r in bare), code="kmm-variable-braces"))
    return findings


def _tls(tls, where: str, field_name: str) -> list[Finding]:
    if not tls or not (tls.get("insecure") or tls.get("insecureSkipTLSVerify")):
        return []
    which = " and ".join(k for k in ("insecure", "insecureSkipTLSVerify") if tls.get(k))
    return [warning(where, f"{field_name}.{which} is set: the KMM docs say not to use it (plain HTTP or no "
                    "certificate check), and on OpenShift node pulls and builds ignore it",
                    "configure the registry in image.config.openshift.io (insecureRegistries / additional "
                    "trusted CA) and remove this", code="kmm-tls-insecure")]


def _build(build: dict, where: str) -> list[Finding]:
    findings = []
    if not ((build.get("dockerfileConfigMap") or {}).get("name")):
        findings.append(error(where + ".dockerfileConfigMap.name", "build needs dockerfileConfigMap.name: the "
                              "ConfigMap holding the Dockerfile under key 'dockerfile'", "name the ConfigMap",
                              code="kmm-build-configmap"))
    findings += _tls(build.get("baseImageRegistryTLS"), where + ".baseImageRegistryTLS", "baseImageRegistryTLS")
    for i, arg in enumerate(build.get("buildArgs") or []):
        if arg.get("name") in ("KERNEL_VERSION", "KERNEL_FULL_VERSION", "MOD_NAME", "MOD_NAMESPACE"):
            findings.append(warning(f"{where}.buildArgs[{i}]", f"build argument {arg.get('name')} is set by KMM "
                                    "for every build; yours is overridden or conflicts", "remove it",
                                    code="kmm-build-arg-reserved"))
    return findings


def _sign(sign: dict, where: str, dir_name: str, version, variables: dict) -> list[Finding]:
    """Checks on one sign section as written (container-level or per mapping)."""
    findings = []
    if sign.get("unsignedImage"):
        findings += _image(sign["unsignedImage"], where + ".unsignedImage", KERNEL_VARIABLES, variables)
    for i, path in enumerate(sign.get("filesToSign") or []):
        findings += _variable_lints(path, f"{where}.filesToSign[{i}]", KERNEL_VARIABLES)
        if not str(path).startswith(dir_name.rstrip("/") + "/"):
            findings.append(error(f"{where}.filesToSign[{i}]", f"{path!r} is not under dirName {dir_name}/: KMM "
                                  "signs files inside the module directory only",
                                  f"use {dir_name.rstrip('/')}/lib/modules/${{KERNEL_FULL_VERSION}}/<module>.ko",
                                  code="kmm-sign-files-dir"))
    findings += _tls(sign.get("unsignedImageRegistryTLS"), where + ".unsignedImageRegistryTLS",
                     "unsignedImageRegistryTLS")
    return findings


def _sign_effective(sign: dict, where: str, dir_name: str, version, builds: bool) -> list[Finding]:
    findings = []
    if not sign.get("filesToSign"):
        if version is None or version >= (2, 6):
            findings.append(error(where + ".filesToSign", "signing needs filesToSign (required from KMM 2.6): the "
                                  "paths of the .ko files in the image", f"list e.g. {dir_name.rstrip('/')}/lib/"
                                  "modules/${KERNEL_FULL_VERSION}/<module>.ko", code="kmm-sign-files-empty"))
    if not builds and not sign.get("unsignedImage"):
        findings.append(error(where + ".unsignedImage", "this mapping signs but neither builds nor names an "
                              "unsignedImage: there is nothing to sign", "set sign.unsignedImage, or add a build",
                              code="kmm-sign-nothing"))
    return findings


def _modprobe(modprobe: dict, at) -> list[Finding]:
    findings = []
    base = ".moduleLoader.container.modprobe"
    name, raw = modprobe.get("moduleName"), modprobe.get("rawArgs")
    if bool(name) == bool(raw):
        findings.append(error(at(base), "modprobe needs exactly one of moduleName and rawArgs "
                              f"(got {'both' if name else 'neither'})",
                              "set moduleName (the .ko name without .ko)", code="kmm-modprobe-name"))
    if raw and (not raw.get("load") or not raw.get("unload")):
        findings.append(error(at(base + ".rawArgs"), "rawArgs needs both load and unload", "give both lists",
                              code="kmm-modprobe-rawargs"))
    order = modprobe.get("modulesLoadingOrder")
    if order:
        if len(order) < 2:
            findings.append(error(at(base + ".modulesLoadingOrder"), "modulesLoadingOrder needs at least two "
                                  "modules", "list the module and what it depends on, or remove the field",
                                  code="kmm-loading-order"))
        if order[0] != name:
            findings.append(error(at(base + ".modulesLoadingOrder[0]"), f"modulesLoadingOrder starts with "
                                  f"{order[0]!r}, but it must start with moduleName {name!r}",
                                  f"put {name!r} first", code="kmm-loading-order"))
        dupes = sorted({m for m in order if order.count(m) > 1})
        if dupes:
            findings.append(error(at(base + ".modulesLoadingOrder"), f"modulesLoadingOrder repeats "
                                  f"{', '.join(dupes)}", "list each module once", code="kmm-loading-order"))
    if modprobe.get("dirName") and not str(modprobe["dirName"]).startswith("/"):
        findings.append(error(at(base + ".dirName"), f"dirName {modprobe['dirName']!r} is not absolute",
                              "use /opt", code="kmm-modprobe-dirname"))
    return findings


def _in_tree(obj: dict, path: str, at, version) -> list[Finding]:
    findings = []
    if obj.get("inTreeModulesToRemove") and version and version < (2, 1):
        findings.append(error(at(path + ".inTreeModulesToRemove"), "inTreeModulesToRemove exists from KMM 2.1",
                              "use inTreeModuleToRemove (one module), or upgrade KMM", code="kmm-version-field"))
    if obj.get("inTreeModuleToRemove"):
        findings.append(info(at(path + ".inTreeModuleToRemove"), "inTreeModuleToRemove is deprecated",
                             "use inTreeModulesToRemove (a list) on KMM 2.1+", code="kmm-deprecated-field"))
    return findings


def _tolerations(tolerations, at, version) -> list[Finding]:
    if not tolerations:
        return []
    findings = []
    if version and version < (2, 3):
        findings.append(error(at(".tolerations"), f"tolerations exist from KMM 2.3; the target is "
                              f"{version[0]}.{version[1]}: tainted nodes (the control plane) are skipped",
                              "upgrade KMM, or target untainted nodes", code="kmm-version-field"))
    for i, tol in enumerate(tolerations):
        where = at(f".tolerations[{i}]")
        operator, key, value = tol.get("operator", ""), tol.get("key", ""), tol.get("value", "")
        effect = tol.get("effect", "")
        if operator not in _TOLERATION_OPERATORS:
            findings.append(error(where + ".operator", f"operator {operator!r} is not Exists or Equal",
                                  "use Exists or Equal", code="kmm-toleration"))
        if key and not _QUALIFIED_NAME.match(key):
            findings.append(error(where + ".key", f"key {key!r} is not a valid label key", "use a label key such "
                                  "as node-role.kubernetes.io/master", code="kmm-toleration"))
        if not key and operator != "Exists":
            findings.append(error(where + ".operator", "an empty key needs operator Exists (tolerate everything)",
                                  "set operator: Exists, or set a key", code="kmm-toleration"))
        if operator == "Exists" and value:
            findings.append(error(where + ".value", f"operator Exists takes no value (got {value!r})",
                                  "remove the value, or use operator Equal", code="kmm-toleration"))
        if effect not in _TAINT_EFFECTS:
            findings.append(error(where + ".effect", f"effect {effect!r} is not NoSchedule, PreferNoSchedule or "
                                  "NoExecute", "use one of them (or leave it empty for all)", code="kmm-toleration"))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            findings.append(error(where + ".tolerationSeconds", "tolerationSeconds only applies with effect "
                                  "NoExecute", "remove it or set effect: NoExecute", code="kmm-toleration"))
    return findings


def _device_plugin(plugin, at) -> list[Finding]:
    findings = []
    for i, volume in enumerate((plugin or {}).get("volumes") or []):
        path = ((volume or {}).get("hostPath") or {}).get("path")
        if path and not any(path == p or path.startswith(p + "/") for p in _HOSTPATH_PREFIXES):
            findings.append(error(at(f".devicePlugin.volumes[{i}].hostPath.path"), f"hostPath {path!r} is "
                                  f"outside {', '.join(_HOSTPATH_PREFIXES)}: the KMM webhook rejects it",
                                  "mount a path under one of those", code="kmm-hostpath"))
    return findings


def version_change_findings(old: dict, new: dict, where: str) -> list[Finding]:
    """Webhook rule for updates: moduleLoader.container.version cannot appear or disappear."""
    before = _container(old).get("version") or ""
    after = _container(new).get("version") or ""
    if bool(before) != bool(after):
        return [error(f"{where}:$.spec.moduleLoader.container.version",
                      f"version goes from {before or 'unset'!r} to {after or 'unset'!r}: KMM rejects adding or "
                      "removing version on an existing Module", "keep it set (or unset) as in the cluster, or "
                      "delete and recreate the Module", code="kmm-version-change")]
    return []
