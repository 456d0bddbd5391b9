"""KMM objects -> answers: a Module (or a hub's ManagedClusterModule) with its Dockerfile ConfigMap,
Namespace, Secrets and PreflightValidationOCP.

Each field of the Module is mapped back to the answer the renderer reads it from
(``kmwizard.kmm.render._module_spec`` is the inverse of what is done here).  The Dockerfile is
recognised as kmwizard's generated one only when generating it again from the recovered answers
gives the same text; otherwise it is kept as a file (``kmm.build=dockerfile``).  Whatever is left
over, the caller finds by regenerating and comparing (the overlay).
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any, Optional

from kmwizard.findings import error, info, warning
from kmwizard.importing.common import ImportResult
from kmwizard.regexps import lazy

MODULE_API = "kmm.sigs.x-k8s.io/v1beta1"
_TLS = {"insecureSkipTLSVerify": "skip-verify", "insecure": "plain-http"}
SELECTOR_ROLE = lazy(r"^node-role\.kubernetes\.io/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$")


def import_kmm(docs: list[tuple[str, dict]]) -> ImportResult:
    """``docs``: (where, object) of one Module's companions; at most one Module or ManagedClusterModule."""
    result = ImportResult(values={"method": "kmm"})
    by_kind: dict[str, list[tuple[str, dict]]] = {}
    for where, doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append((where, doc))
    modules = by_kind.get("Module", [])
    hubs = by_kind.get("ManagedClusterModule", [])
    if not modules and not hubs:
        result.findings.append(error("import", "no Module or ManagedClusterModule among the KMM objects",
                                     "import the Module together with its ConfigMap and Secrets",
                                     code="import-no-module"))
        return result
    v = result.values
    if hubs:
        hub_where, hub = hubs[0]
        spec = hub.get("spec") or {}
        module = {"apiVersion": MODULE_API, "kind": "Module",
                  "metadata": {"name": hub["metadata"]["name"], "namespace": spec.get("spokeNamespace", "")},
                  "spec": spec.get("moduleSpec") or {}}
        where = hub_where
        v["kmm.acm_hub"] = True
        v["kmm.acm_cluster_selector"] = spec.get("selector") or {}
        result.originals.append((hub_where, hub))
        modules = [m for m in modules if m[1].get("metadata", {}).get("name") != module["metadata"]["name"]]
    else:
        where, module = modules[0]
        result.originals.append((where, module))
        modules = modules[1:]
    for other_where, other in modules + hubs[1:]:
        result.findings.append(error(other_where, f"{other['kind']} {other['metadata'].get('name')} was not "
                                     "imported: an answer file describes one Module",
                                     "import each Module into its own output directory", code="import-several"))

    meta = module.get("metadata") or {}
    name, ns = meta.get("name", ""), meta.get("namespace", "")
    v["kmm.name"], v["kmm.namespace"] = name, ns
    spec = module.get("spec") or {}
    loader = spec.get("moduleLoader") or {}
    container = loader.get("container") or {}
    _selector(spec, v)
    if spec.get("imageRepoSecret"):
        v["kmm.image_repo_secret"] = spec["imageRepoSecret"].get("name", "")
    if spec.get("imageRebuildTriggerGeneration"):
        v["kmm.image_rebuild_trigger_generation"] = spec["imageRebuildTriggerGeneration"]
    if loader.get("serviceAccountName"):
        v["kmm.service_account"] = loader["serviceAccountName"]
    _modprobe(container.get("modprobe") or {}, v)
    v["kmm.container_image"] = container.get("containerImage", "")
    for field, key in (("imagePullPolicy", "kmm.image_pull_policy"), ("version", "kmm.version")):
        if container.get(field):
            v[key] = container[field]
    if "inTreeModulesToRemove" in container:
        v["kmm.in_tree_modules_to_remove"] = list(container["inTreeModulesToRemove"])
    elif container.get("inTreeModuleToRemove"):
        v["kmm.in_tree_modules_to_remove"] = [container["inTreeModuleToRemove"]]
    v["kmm.registry_tls"] = _tls(container.get("registryTLS"))

    mappings = container.get("kernelMappings") or []
    build = container.get("build") or next((m["build"] for m in mappings if m.get("build")), None)
    if build is None and f"{name}-dockerfile" in {d["metadata"].get("name") for _w, d in by_kind.get("ConfigMap", [])}:
        # kmwizard writes the Dockerfile even when every mapping has build: false
        build = {"dockerfileConfigMap": {"name": f"{name}-dockerfile"}}
    sign = container.get("sign") or next((m["sign"] for m in mappings if m.get("sign")), None)
    secrets = {d["metadata"].get("name"): (w, d) for w, d in by_kind.get("Secret", [])}
    used_secrets: set[str] = set()
    configmaps = {d["metadata"].get("name"): (w, d) for w, d in by_kind.get("ConfigMap", [])}
    dockerfile_text = _build(build, configmaps, secrets, used_secrets, result, where)
    _sign(sign, secrets, used_secrets, result)
    declared = set(re.findall(r"^ARG (\w+)$", dockerfile_text or "", re.M))
    if build is not None and not container.get("build"):
        # per-mapping builds: the common arguments are those the Dockerfile declares
        v["kmm.build_args"] = [a for a in v.get("kmm.build_args", []) if a["name"] in declared]
    records = [_mapping(m, container, build, sign, v.get("kmm.build_args", [])) for m in mappings]
    if sign is not None and not container.get("sign") and not any(
            r.get("sign") is False or r.get("files_to_sign") for r in records):
        # Every mapping signs alike, but in its own section: render puts the section in the mappings only
        # when one of them names its own files, so say so explicitly (the same files, no other change).
        for m, r in zip(mappings, records):
            r["files_to_sign"] = list(m["sign"].get("filesToSign") or [])
    v["kmm.kernel_mappings"] = records
    _versions(spec, container, v)
    if dockerfile_text is not None:
        _dockerfile(dockerfile_text, result)

    namespaces = [d for _w, d in by_kind.get("Namespace", []) if d["metadata"].get("name") == ns]
    v["kmm.create_namespace"] = bool(namespaces)
    result.originals += [(w, d) for w, d in by_kind.get("Namespace", []) if d["metadata"].get("name") == ns]
    for secret_name in sorted(used_secrets):
        result.originals.append(secrets[secret_name])
    for secret_name, (secret_where, _doc) in secrets.items():
        if secret_name not in used_secrets:
            result.findings.append(info(secret_where, f"Secret {secret_name} is referenced by the Module but kept "
                                        "in the cluster: kmwizard does not write it" if _referenced(secret_name, spec)
                                        else f"Secret {secret_name} is not used by the Module: not imported",
                                        code="import-secret-skipped"))
    for pf_where, pf in by_kind.get("PreflightValidationOCP", []):
        pf_spec = pf.get("spec") or {}
        v["kmm.preflight_kernel"] = pf_spec.get("kernelVersion", "")
        if pf_spec.get("dtkImage"):
            v["kmm.preflight_dtk_image"] = pf_spec["dtkImage"]
        v["kmm.preflight_push"] = bool(pf_spec.get("pushBuiltImage"))
        result.originals.append((pf_where, pf))
        break
    return result


def _referenced(name: str, spec: dict) -> bool:
    return name in json.dumps(spec)


def _selector(spec: dict, v: dict) -> None:
    selector = spec.get("selector") or {}
    role = SELECTOR_ROLE.match(next(iter(selector))) if len(selector) == 1 else None
    if role and next(iter(selector.values())) == "":
        v["role"] = role.group(1)
    else:
        v["role"] = "worker"
        v["kmm.node_selector"] = selector


def _modprobe(modprobe: dict, v: dict) -> None:
    v["kmm.module_name"] = modprobe.get("moduleName", "")
    v["kmm.dir_name"] = modprobe.get("dirName", "/opt")
    for field, key in (("parameters", "kmm.parameters"), ("modulesLoadingOrder", "kmm.modules_loading_order")):
        if modprobe.get(field):
            v[key] = list(modprobe[field])
    if modprobe.get("firmwarePath"):
        v["kmm.firmware_path"] = modprobe["firmwarePath"]


def _tls(value: Optional[dict]) -> str:
    for field, choice in _TLS.items():
        if (value or {}).get(field):
            return choice
    return "verify"


def _build(build: Optional[dict], configmaps: dict, secrets: dict, used: set, result: ImportResult,
           where: str) -> Optional[str]:
    v = result.values
    if not build:
        v["kmm.build"] = "none"
        return None
    cm_name = (build.get("dockerfileConfigMap") or {}).get("name", "")
    if cm_name not in configmaps:
        result.findings.append(error(f"{where}:spec.moduleLoader.container.build.dockerfileConfigMap.name",
                                     f"the ConfigMap {cm_name!r} holding the Dockerfile is not among the imported "
                                     "objects: the build is kept verbatim in the overlay, without its Dockerfile",
                                     "import the ConfigMap too (kmwizard import module.yaml configmap.yaml ...)",
                                     code="import-configmap-missing"))
        v["kmm.build"] = "none"
        return None
    cm_where, cm = configmaps[cm_name]
    result.originals.append((cm_where, cm))
    data = cm.get("data") or {}
    if "dockerfile" not in data:
        result.findings.append(error(f"{cm_where}:data", f"ConfigMap {cm_name} has no data key dockerfile "
                                     f"(keys: {', '.join(data) or 'none'}), which KMM builds from",
                                     "put the Dockerfile under data.dockerfile", code="import-dockerfile-key"))
        v["kmm.build"] = "none"
        return None
    names = [s.get("name") for s in build.get("secrets") or []]
    v["kmm.build_args"] = [{"name": a.get("name"), "value": a.get("value")} for a in build.get("buildArgs") or []]
    v["kmm.base_image_registry_tls"] = _tls(build.get("baseImageRegistryTLS"))
    entitlement = names[-1] if names else None
    certs = _pem_data(secrets.get(entitlement)) if entitlement else None
    if certs:
        used.add(entitlement)
        names = names[:-1]
        v["entitlement.source"] = "certs"
        v["kmm.entitlement_secret"] = entitlement
        for key, content in certs.items():
            result.files[f"entitlement/{key}"] = (content, 0o600)
        result.path_values["entitlement.certs_dir"] = "entitlement"
    v["kmm.build_secrets"] = names
    return data["dockerfile"]


def _pem_data(entry) -> Optional[dict[str, bytes]]:
    """The entitlement certificates of a Secret made by kmwizard (<serial>.pem, <serial>-key.pem)."""
    if not entry:
        return None
    data = entry[1].get("data") or {}
    if not data or not all(k.endswith(".pem") for k in data):
        return None
    try:
        return {k: base64.b64decode(val) for k, val in data.items()}
    except (ValueError, TypeError):
        return None


def _sign(sign: Optional[dict], secrets: dict, used: set, result: ImportResult) -> None:
    v = result.values
    if not sign:
        return
    v["kmm.sign.enabled"] = True
    for field, secret_key, data_key, file_key in (("keySecret", "kmm.sign.key_secret", "key", "kmm.sign.key_file"),
                                                  ("certSecret", "kmm.sign.cert_secret", "cert",
                                                   "kmm.sign.cert_file")):
        secret_name = (sign.get(field) or {}).get("name", "")
        v[secret_key] = secret_name
        entry = secrets.get(secret_name)
        content = (entry[1].get("data") or {}).get(data_key) if entry else None
        if content:
            used.add(secret_name)
            result.files[f"signing/{data_key}"] = (base64.b64decode(content), 0o600)
            result.path_values[file_key] = f"signing/{data_key}"
    v["kmm.sign.files_to_sign"] = list(sign.get("filesToSign") or [])
    if sign.get("unsignedImage"):
        v["kmm.sign.unsigned_image"] = sign["unsignedImage"]


def _mapping(m: dict, container: dict, build: Optional[dict], sign: Optional[dict], base_args: list) -> dict:
    record: dict[str, Any] = {}
    if m.get("regexp"):
        record["regexp"] = m["regexp"]
    else:
        record["literal"] = m.get("literal", "")
    if m.get("containerImage"):
        record["container_image"] = m["containerImage"]
    per_mapping_build = build is not None and not container.get("build")
    if per_mapping_build:
        if not m.get("build"):
            record["build"] = False
        else:
            base = {a["name"]: a["value"] for a in base_args}
            own = [a for a in m["build"].get("buildArgs") or [] if base.get(a["name"]) != a["value"]
                   or a["name"] not in base]
            if own:
                record["build_args"] = own
    per_mapping_sign = sign is not None and not container.get("sign")
    if per_mapping_sign:
        if not m.get("sign"):
            record["sign"] = False
        elif m["sign"].get("filesToSign") != sign.get("filesToSign"):
            record["files_to_sign"] = list(m["sign"].get("filesToSign") or [])
    if m.get("inTreeModulesToRemove"):
        record["in_tree_modules_to_remove"] = list(m["inTreeModulesToRemove"])
    elif m.get("inTreeModuleToRemove"):
        record["in_tree_modules_to_remove"] = [m["inTreeModuleToRemove"]]
    return record


def _versions(spec: dict, container: dict, v: dict) -> None:
    """The oldest KMM version that has every field used (the renderer spells some fields by version,
    and the linter refuses fields a version lacks)."""
    fields = json.dumps(container)
    if '"inTreeModuleToRemove"' in fields:
        v["kmm.kmm_version"] = "2.0"
        return
    needed = [(2, 1) if '"inTreeModulesToRemove"' in fields else (0, 0),
              (2, 3) if spec.get("tolerations") else (0, 0),
              (2, 6) if spec.get("imageRebuildTriggerGeneration") else (0, 0)]
    if max(needed) > (0, 0):
        v["kmm.kmm_version"] = "%d.%d" % max(needed)


# --- the Dockerfile ----------------------------------------------------------------------

_CLONE = lazy(r'^RUN (\["git", "clone", .*\])$', re.M)
_CHECKOUT = lazy(r'^RUN (\["git", "-C", .*\])$', re.M)
_WORKDIR = lazy(r"^WORKDIR (\S+)$", re.M)
_MAKE = lazy(r"^RUN make KERNEL_SRC_DIR=\S+ KERNELDIR=\S+ KVER=\$\{KERNEL_FULL_VERSION\} (.+)$", re.M)
_COPY = lazy(r"^COPY --from=builder (\S+) (\S+)/$", re.M)
_DEPMOD = lazy(r"^RUN depmod -b (\S+) \$\{KERNEL_FULL_VERSION\}$", re.M)
_FINAL = lazy(r"^FROM registry\.redhat\.io/ubi(\d+)/ubi-minimal:latest$", re.M)
_YUM = lazy(r"^RUN printf '.*' '(\S+)' > ", re.M)


def _dockerfile(text: str, result: ImportResult) -> None:
    """kmm.build=generate with the recovered sources when the text is kmwizard's own Dockerfile,
    else kmm.build=dockerfile with the text kept in DIR/Dockerfile."""
    from kmwizard.answers import Answers
    from kmwizard.kmm.dockerfile import SOURCE_DIR, generate_dockerfile

    v = result.values
    guess = dict(v)
    try:
        clone, checkout = json.loads(_CLONE.search(text).group(1)), json.loads(_CHECKOUT.search(text).group(1))
        build_dir = next(w for w in _WORKDIR.findall(text) if w.startswith(SOURCE_DIR))
        rhel = int(_FINAL.search(text).group(1))
        guess.update({
            "kmm.build": "generate", "kmm.source_repo": clone[2], "kmm.source_ref": checkout[-1],
            "kmm.source_subdir": build_dir[len(SOURCE_DIR):].strip("/"),
            "kmm.make_target": _MAKE.search(text).group(1),
            "kmm.dir_name": _DEPMOD.search(text).group(1)})
        copies = _COPY.findall(text)
        ko_prefix = f"{build_dir}/"
        guess["kmm.ko_files"] = [src[len(ko_prefix):] for src, dst in copies if dst.endswith("/lib/modules/${KERNEL_FULL_VERSION}")]
        firmware = [(src[len(ko_prefix):], dst) for src, dst in copies
                    if not dst.endswith("/lib/modules/${KERNEL_FULL_VERSION}")]
        if firmware:
            guess["kmm.firmware_files"] = [src for src, _dst in firmware]
        if "FROM ${DTK_AUTO} as builder" in text:
            guess.setdefault("entitlement.source", "node")
        elif _YUM.search(text):
            guess["entitlement.source"] = "yum-repo"
            guess["entitlement.yum_repo"] = _YUM.search(text).group(1)
        guess["openshift_version"] = "4.12" if rhel == 8 else "4.14"
        answers = Answers().update(guess)
        for key, rel in result.path_values.items():
            answers = answers.set(key, "/nonexistent/" + rel)  # paths do not change the Dockerfile
        same = generate_dockerfile(answers) == text
    except Exception:  # noqa: BLE001 - a missing line, a value no answer takes: not kmwizard's layout
        same = False  # kept as the user's own Dockerfile
    if same:
        v.update(guess)
        return
    v["kmm.build"] = "dockerfile"
    result.files["Dockerfile"] = (text.encode("utf-8"), 0o644)
    result.path_values["kmm.dockerfile"] = "Dockerfile"
    if v.get("entitlement.source") == "certs":
        # A hand-written Dockerfile reads the certificates itself: the Secret stays a build secret.
        result.findings.append(warning("entitlement.source", "the Dockerfile is not kmwizard's: the entitlement "
                                       "Secret is kept as given", code="import-entitlement-own-dockerfile"))
