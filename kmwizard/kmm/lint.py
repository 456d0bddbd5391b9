"""Checks for KMM objects: what the KMM admission webhook rejects and what fails silently.

``lint_document`` serves ``kmwizard validate FILE...`` (hand-written Modules and their
ConfigMaps) and ``render_kmm`` (the generated ones), so both get the same rules.  Webhook
rules (``docs``: kmm.md section 3) are errors; silent failures are warnings or errors when the
result can never work.  ``where`` values look like ``module.yaml:$.spec.moduleLoader...``.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from kmwizard.findings import Finding, error, info, warning
from kmwizard.kmm.dockerfile import lint_dockerfile
from kmwizard.keys.goregexp import GoRegexpError, compile_go, go_version_for_kmm
from kmwizard.kmm.kernel_match import INJECTED_BUILD_ARGS, merge_build, merge_sign
from kmwizard.kmm.schema import (MODULE_FIELDS, MODULE_TYPES, _type_error, structure_findings,  # noqa: F401
                                 type_findings, well_typed)
from kmwizard.kmm.variables import (IMAGE_VARIABLES, KERNEL_VARIABLES, SubstitutionError, explain, kernel_variables,
                                    substitute)
from kmwizard.kmm.templates import image_findings, matches_many, regexp_findings, variable_findings
from kmwizard.kmm.webhook import preflight_findings, webhook_findings
from kmwizard.regexps import lazy

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

_KERNEL_VAR_IN_TAG = lazy(r"\$\{?KERNEL_(FULL_VERSION|VERSION|XYZ|X|Y|Z)\b")


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


MAX_OBJECT_DATA = 1024 * 1024  # the API server's limit on a ConfigMap's or Secret's data


def lint_document(doc: dict, where: str, kmm_version: Optional[str] = None, *, namespace: Optional[str] = None,
                  crd_fields: Optional[dict] = None, dir_name: Optional[str] = None) -> Optional[list[Finding]]:
    """Findings for one KMM document; None when it is not a KMM kind (or a Dockerfile ConfigMap)."""
    if not isinstance(doc, dict):
        return None
    kind = doc.get("kind")
    version = parse_kmm_version(kmm_version)
    if dockerfile_configmap(doc):
        return lint_configmap(doc, where, dir_name=dir_name)
    if not is_kmm_kind(doc):
        return None
    if kind == "Module":
        return lint_module(doc, where, version, namespace=namespace, crd_fields=crd_fields)
    if kind == "ManagedClusterModule":
        return lint_managed_cluster_module(doc, where, version)
    if kind == "PreflightValidationOCP":
        findings = type_findings(doc.get("spec"), {"kernelVersion": str, "dtkImage": str, "pushBuiltImage": bool},
                                 f"{where}:$.spec")
        return findings + preflight_findings(_mapping(doc.get("spec")), where)
    return [info(where, f"{kind} is a KMM kind kmwizard does not check in depth", code="kmm-kind-unchecked")]


def lint_documents(pairs: Iterable[tuple[str, dict]], kmm_version: Optional[str] = None, *,
                   namespace: Optional[str] = None, crd_fields: Optional[dict] = None) -> list[Finding]:
    """lint_document over several documents, plus the checks across them: ConfigMaps named by
    Modules must be in the Module's namespace, carry the key ``dockerfile``, and are judged with
    that Module's dirName.  ``namespace`` is where files without one are applied."""
    pairs = [(w, d) for w, d in pairs if isinstance(d, dict)]
    findings: list[Finding] = []
    users = _configmap_users(pairs, namespace)
    for where, doc in pairs:
        meta = _mapping(doc.get("metadata"))
        key = (str(meta.get("namespace") or namespace or "default"), str(meta.get("name")))
        if key in users and dockerfile_configmap(doc):
            dir_name, build_args = users[key]
            findings += lint_configmap(doc, where, dir_name=dir_name, build_args=build_args)
        else:
            findings.extend(lint_document(doc, where, kmm_version, namespace=namespace, crd_fields=crd_fields) or [])
        if doc.get("kind") in ("ConfigMap", "Secret") and doc.get("apiVersion") == "v1":
            findings += _data_size(doc, where)
    configmaps = {}
    for where, doc in pairs:
        if doc.get("kind") == "ConfigMap":
            meta = _mapping(doc.get("metadata"))
            configmaps.setdefault(str(meta.get("name")), []).append((str(meta.get("namespace", "")), where, doc))
    for where, doc in pairs:
        if doc.get("kind") != "Module":
            continue
        module_ns = _mapping(doc.get("metadata")).get("namespace", "")
        for path, build in _builds(doc):
            name = _mapping(_mapping(build).get("dockerfileConfigMap")).get("name")
            candidates = configmaps.get(str(name), [])
            if not name or not candidates:
                continue
            if not any(ns == module_ns or not ns or not module_ns for ns, _, _ in candidates):
                others = ", ".join(sorted({ns for ns, _, _ in candidates}))
                findings.append(error(f"{where}:{path}.dockerfileConfigMap.name", f"ConfigMap {name!r} is in "
                                      f"namespace {others}, but the Module is in {module_ns}: KMM only reads the "
                                      "Module's namespace", f"put the ConfigMap in namespace {module_ns}",
                                      code="kmm-configmap-namespace"))
    return findings


def _configmap_users(pairs, namespace: Optional[str]) -> dict:
    """(namespace, ConfigMap name) -> (modprobe.dirName, build arg names) of the Modules in these
    files that build with it: the Dockerfile is judged with what they give it."""
    found: dict = {}
    for _, doc in pairs:
        if doc.get("kind") != "Module":
            continue
        ns = str(_mapping(doc.get("metadata")).get("namespace") or namespace or "default")
        dir_name = _mapping(_container(doc).get("modprobe")).get("dirName")
        builds = list(_builds(doc))
        args = {str(a.get("name")) for _, build in builds for a in _list(_mapping(build).get("buildArgs"))
                if isinstance(a, dict)}
        for _, build in builds:
            name = _mapping(_mapping(build).get("dockerfileConfigMap")).get("name")
            if name:
                old_dir, old_args = found.get((ns, str(name)), (None, set()))
                found[(ns, str(name))] = (old_dir or (dir_name if isinstance(dir_name, str) else "/opt"),
                                          old_args | args)
    return found


def _data_size(doc: dict, where: str) -> list[Finding]:
    """The API server refuses a ConfigMap or Secret whose data exceeds 1 MiB (and a server dry run
    cannot see it when the namespace is created by the same apply)."""
    total = 0
    for field_name in ("data", "binaryData", "stringData"):
        for key, value in _mapping(doc.get(field_name)).items():
            total += len(str(key).encode()) + len(str(value).encode())
    if total <= MAX_OBJECT_DATA:
        return []
    return [error(f"{where}:$.data", f"{doc.get('kind')} data is {total} bytes; the API server accepts at most "
                  f"{MAX_OBJECT_DATA} (1 MiB), and a server dry run cannot tell when the same apply creates the "
                  "namespace", "move large content into the image or split it over several objects",
                  code="kmm-object-too-large")]


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


def _list(value) -> list:
    """value when it is a list, else []: for reading documents whose types are not checked yet."""
    return value if isinstance(value, list) else []


def _mapping(value) -> dict:
    """value when it is a mapping, else {}: for reading documents whose types are not checked yet."""
    return value if isinstance(value, dict) else {}


# --- ConfigMap ----------------------------------------------------------------------

def lint_configmap(doc: dict, where: str, *, dir_name: Optional[str] = "/opt",
                   build_args: Iterable[str] = ()) -> list[Finding]:
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
                spec_path: str = "$.spec", namespace: Optional[str] = None,
                crd_fields: Optional[dict] = None) -> list[Finding]:
    """Every CRD and webhook rule and every silent-failure lint for one Module, all at once.

    ``namespace`` is where a file without metadata.namespace will be created (``-n`` or the
    kubeconfig context; ``default`` when unknown); ``crd_fields`` the live CRD's field names."""
    at = lambda path: f"{where}:{spec_path}{path}"  # noqa: E731 - the finding location of a spec path
    typing = type_findings(doc.get("metadata"), {"name": str, "namespace": str}, f"{where}:$.metadata")
    typing += type_findings(doc.get("spec"), MODULE_TYPES, at(""))
    if doc.get("spec") is not None and not isinstance(doc.get("spec"), dict):
        return typing
    bad = tuple(f.where for f in typing)
    return typing + [f for f in _module_rules(doc, where, at, version, namespace, crd_fields)
                     if not any(f.where == b or f.where.startswith((b + ".", b + "[")) for b in bad)]


def _module_rules(doc: dict, where: str, at, version, namespace: Optional[str], crd_fields) -> list[Finding]:
    """lint_module after the type check (a finding at a wrongly typed value is not repeated)."""
    # The rules below read a copy without the wrongly typed values, so they still report everything else.
    meta = well_typed(doc.get("metadata"), {"name": str, "namespace": str}) or {}
    spec = well_typed(doc.get("spec"), MODULE_TYPES) or {}
    module = {"metadata": meta, "spec": spec}
    name = str(meta.get("name") or "")
    findings: list[Finding] = []
    if not name:
        findings.append(error(f"{where}:$.metadata.name", "metadata.name is missing: the API server rejects an "
                              "object without a name", "give the Module a name (DNS-1123, e.g. my-driver)",
                              code="kmm-name-missing"))
    ns, note = str(meta.get("namespace") or ""), ""
    if not ns:
        ns = namespace or "default"
        note = f" (no metadata.namespace: judged as created in {ns})"
        findings.append(info(f"{where}:$.metadata.namespace", f"no metadata.namespace: judged as created in "
                             f"namespace {ns!r}" + ("" if namespace else ", where `oc apply` without -n puts it "
                                                    "when the context names no namespace"),
                             "" if namespace else "pass -n/--namespace to say where it goes",
                             code="kmm-namespace-assumed"))
    findings += structure_findings(spec, at, crd_fields)
    findings += webhook_findings(module, where, at, version, ns, note)
    findings += _version_fields(spec, at, version)
    if spec.get("selector") == {}:
        findings.append(warning(at(".selector"), "the selector is empty: the Module targets every node, control "
                                "plane included (where the taint keeps it from running anyway)",
                                "select the nodes, e.g. node-role.kubernetes.io/worker: \"\"",
                                code="kmm-selector-empty"))
    loader = spec.get("moduleLoader")
    if not isinstance(loader, dict) or not isinstance(loader.get("container"), dict):
        return findings
    container = loader["container"]
    modprobe = container.get("modprobe") or {}
    if modprobe.get("dirName") and not str(modprobe["dirName"]).startswith("/"):
        findings.append(warning(at(".moduleLoader.container.modprobe.dirName"), f"dirName {modprobe['dirName']!r} "
                                "is not absolute: the worker copies <dirName>/lib/modules from the image and "
                                "modprobe -d reads it relative to its working directory", "use /opt",
                                code="kmm-modprobe-dirname"))
    findings += _in_tree(container, ".moduleLoader.container", at, version)
    variables = {**kernel_variables(SAMPLE_KERNEL), "MOD_NAME": name or "module", "MOD_NAMESPACE": ns}
    if container.get("containerImage"):
        findings += image_findings(container["containerImage"], at(".moduleLoader.container.containerImage"),
                           IMAGE_VARIABLES, variables)
    findings += _tls(container.get("registryTLS"), at(".moduleLoader.container.registryTLS"), "registryTLS")
    if container.get("build"):
        findings += _build(container["build"], at(".moduleLoader.container.build"))
    if container.get("sign"):
        findings += _sign(container["sign"], at(".moduleLoader.container.sign"), variables)
    findings += _mappings(container, at, version, variables)
    return findings


def _mappings(container: dict, at, version, variables: dict) -> list[Finding]:
    """The silent failures of each kernel mapping (the webhook's rules are in webhook.py)."""
    findings = []
    mappings = container.get("kernelMappings") or []
    catch_all_at = None
    go_version = go_version_for_kmm(version)
    for i, mapping in enumerate(mappings):
        path = f".moduleLoader.container.kernelMappings[{i}]"
        findings += _in_tree(mapping, path, at, version)
        findings += _tls(mapping.get("registryTLS"), at(path + ".registryTLS"), "registryTLS")
        regexp = mapping.get("regexp")
        if catch_all_at is not None:
            findings.append(warning(at(path), f"mapping [{catch_all_at}] before it matches every kernel, so this "
                                    "mapping is never used (the first match wins)",
                                    "put specific mappings before the catch-all", code="kmm-mapping-unreachable"))
        compiled = None
        if regexp:
            try:
                compiled = compile_go(regexp, go_version)
            except GoRegexpError:
                pass  # the webhook's rule reports it
            else:
                findings += regexp_findings(regexp, at(path + ".regexp"))
                if catch_all_at is None and all(compiled.search(k) for k in SAMPLE_KERNELS) \
                        and i < len(mappings) - 1:
                    catch_all_at = i
        image_template = mapping.get("containerImage") or container.get("containerImage") or ""
        if mapping.get("containerImage"):
            findings += image_findings(mapping["containerImage"], at(path + ".containerImage"), IMAGE_VARIABLES, variables)
        build = merge_build(container.get("build"), mapping.get("build"))
        if mapping.get("build"):
            findings += _build(mapping["build"], at(path + ".build"))
        if build and image_template and regexp and compiled is not None and matches_many(regexp) \
                and not _KERNEL_VAR_IN_TAG.search(image_template.rpartition("/")[2]):
            findings.append(warning(at(path + ".containerImage"), f"this mapping builds and its regexp '{regexp}' "
                                    f"matches several kernels, but the tag of {image_template!r} has no kernel "
                                    "variable: it works for the first kernel, and breaks when a node with a second "
                                    "matching kernel appears (an upgrade, a new node): KMM finds the tag already "
                                    "there, never rebuilds it, and that node gets a module built for another "
                                    "kernel, which fails to load", "end the tag with ${KERNEL_FULL_VERSION}",
                                    code="kmm-image-tag-kernel"))
        if mapping.get("sign"):
            findings += _sign(mapping["sign"], at(path + ".sign"), variables)
        sign = merge_sign(container.get("sign"), mapping.get("sign"))
        if sign is not None and not build and not sign.get("unsignedImage"):
            findings.append(error(at(path + ".sign.unsignedImage"), "this mapping signs but neither builds nor "
                                  "names an unsignedImage: KMM's sign job has nothing to sign",
                                  "set sign.unsignedImage, or add a build", code="kmm-sign-nothing"))
    return findings


def _version_fields(spec: dict, at, version) -> list[Finding]:
    """Fields the target KMM version's CRD does not have yet."""
    if not version:
        return []
    findings = []
    shown = f"{version[0]}.{version[1]}"
    if spec.get("tolerations") and version < (2, 3):
        findings.append(error(at(".tolerations"), f"tolerations exist from KMM 2.3; the target is {shown}: "
                              "tainted nodes (the control plane) are skipped", "upgrade KMM, or target untainted "
                              "nodes", code="kmm-version-field"))
    if spec.get("imageRebuildTriggerGeneration") is not None and version < (2, 6):
        findings.append(error(at(".imageRebuildTriggerGeneration"), "imageRebuildTriggerGeneration exists from "
                              f"KMM 2.6; this cluster runs {shown}", "remove it, or upgrade KMM",
                              code="kmm-version-field"))
    if spec.get("dra") is not None and version < (2, 7):
        findings.append(error(at(".dra"), f"dra exists from KMM 2.7; the target is {shown}",
                              "use devicePlugin, or upgrade KMM", code="kmm-version-field"))
    if spec.get("moduleLoader") is None and version < (2, 4):
        findings.append(error(at(".moduleLoader"), "moduleLoader is required before KMM 2.4",
                              "add spec.moduleLoader", code="kmm-version-field"))
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
        if arg.get("name") in INJECTED_BUILD_ARGS + ("DTK_AUTO",):
            findings.append(warning(f"{where}.buildArgs[{i}]", f"build argument {arg.get('name')} is set by KMM "
                                    "for every build (DTK_AUTO when the Dockerfile names it) and KMM's value "
                                    "replaces yours", "remove it", code="kmm-build-arg-reserved"))
    return findings


def _sign(sign: dict, where: str, variables: dict) -> list[Finding]:
    """Silent failures of one sign section as written (the webhook's filesToSign rules are in
    webhook.py)."""
    findings = []
    if sign.get("unsignedImage"):
        findings += image_findings(sign["unsignedImage"], where + ".unsignedImage", KERNEL_VARIABLES, variables)
    for i, path in enumerate(sign.get("filesToSign") or []):
        findings += variable_findings(path, f"{where}.filesToSign[{i}]", KERNEL_VARIABLES)
        try:
            substitute(path, variables)
        except SubstitutionError as exc:
            what, fix = explain(exc)
            findings.append(error(f"{where}.filesToSign[{i}]", f"{path!r}: {what}", fix,
                                  code="kmm-variable-unterminated"))
    findings += _tls(sign.get("unsignedImageRegistryTLS"), where + ".unsignedImageRegistryTLS",
                     "unsignedImageRegistryTLS")
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
