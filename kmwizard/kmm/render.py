"""Answers (method kmm) -> Namespace, Secrets, Dockerfile ConfigMap, Module, and the optional
ManagedClusterModule / PreflightValidationOCP, in the order they are applied.

The rendered objects go through the same linter as hand-written ones (``kmwizard.kmm.lint``),
so a generated Module is held to every webhook rule and silent-failure check.
"""
from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any, Optional

from kmwizard.answers import thaw
from kmwizard.findings import Finding, UsageError, error, info, warning
from kmwizard.kmm.dockerfile import generate_dockerfile
from kmwizard.kmm.kernel_match import match_kernel
from kmwizard.keys.kmm import INTERNAL_REGISTRY, OPERATOR_NAMESPACE, parse_version
from kmwizard.kmm.lint import lint_configmap, lint_documents
from kmwizard.records import replace
from kmwizard.rendering import SECRET_MASK, OutputFile, Rendering, manifest_file

MODULE_API = "kmm.sigs.x-k8s.io/v1beta1"
HUB_API = "hub.kmm.sigs.x-k8s.io/v1beta1"
PREFLIGHT_API = "kmm.sigs.x-k8s.io/v1beta2"
CONTROL_PLANE_TOLERATIONS = (
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
)
_TLS = {"verify": None, "skip-verify": {"insecureSkipTLSVerify": True}, "plain-http": {"insecure": True}}


def render_kmm(answers) -> Rendering:
    findings: list[Finding] = []
    notes: list[str] = []
    ns, name = answers.get("kmm.namespace"), answers.get("kmm.name")
    version = parse_version(answers.get("kmm.kmm_version"))
    cm_name = f"{name}-dockerfile"

    dockerfile = _dockerfile_text(answers, findings)
    secrets = _secrets(answers, findings)
    if any(f.severity.value == "error" for f in findings):
        return Rendering(findings=tuple(findings))

    module = {"apiVersion": MODULE_API, "kind": "Module", "metadata": {"name": name, "namespace": ns},
              "spec": _module_spec(answers, cm_name if dockerfile is not None else None, version, findings)}

    files: list[OutputFile] = []
    if answers.get("kmm.create_namespace"):
        files.append(manifest_file("namespace.yaml", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": ns}}, title="Namespace"))
    for secret_name, data, what in secrets:
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name, "namespace": ns},
               "type": "Opaque", "data": data}
        masked = copy.deepcopy(obj)
        masked["data"] = {k: SECRET_MASK.format(what=what, size=len(base64.b64decode(v))) for k, v in data.items()}
        files.append(manifest_file(f"secret-{secret_name}.yaml", obj, title=f"Secret {secret_name}", secret=True,
                                   preview_obj=masked))
    configmap = None
    if dockerfile is not None:
        configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm_name, "namespace": ns},
                     "data": {"dockerfile": dockerfile}}
        files.append(manifest_file(f"configmap-{cm_name}.yaml", configmap, title="ConfigMap (Dockerfile)"))
    module_file = manifest_file(f"module-{name}.yaml", module, title="Module")
    lint_pairs = [(module_file.path, module)]
    if answers.get("kmm.acm_hub"):
        # The hub sends the Module to the spokes (the hub itself too, as local-cluster): applying
        # it here as well would make kmwizard and ACM fight over one object. Shown, not written.
        module_file = replace(module_file, manifest=None, write=False,
                              title="Module (sent by the hub; not applied)")
    files.append(module_file)
    if answers.get("kmm.acm_hub"):
        mcm = {"apiVersion": HUB_API, "kind": "ManagedClusterModule", "metadata": {"name": name},
               "spec": {"moduleSpec": copy.deepcopy(module["spec"]), "spokeNamespace": ns,
                        "selector": thaw(answers.get("kmm.acm_cluster_selector"))}}
        files.append(manifest_file(f"managedclustermodule-{name}.yaml", mcm, title="ManagedClusterModule"))
        notes.append(f"managedclustermodule-{name}.yaml goes to the ACM hub instead of a Module (module-{name}.yaml "
                     "is shown in the preview, not written or applied): the hub "
                     "builds and signs, so the Dockerfile ConfigMap and the Secrets must exist on the hub in the "
                     "namespace the KMM hub operator builds in (the KMM project's own example uses "
                     f"{OPERATOR_NAMESPACE}); the spokes get the Module in {ns}.")
    if answers.get("kmm.preflight_kernel"):
        files.append(manifest_file(f"preflightvalidationocp-{name}.yaml", _preflight(answers, name),
                                   title="PreflightValidationOCP"))
        findings += _preflight_findings(module, answers.get("kmm.preflight_kernel"))
    if dockerfile is not None:
        files.append(OutputFile("Dockerfile", dockerfile.encode(), title="Dockerfile (for reading)"))

    pairs = [(f.path, f.manifest) for f in files if f.manifest is not None]
    findings += lint_documents(lint_pairs + [p for p in pairs if p[0] != module_file.path],
                               answers.get("kmm.kmm_version"))
    if configmap is not None:
        # lint_documents linted the ConfigMap without the Module's dirName and build args: redo it with them.
        where = f"configmap-{cm_name}.yaml"
        findings = [f for f in findings if not f.where.startswith(where)]
        findings += lint_configmap(configmap, where, dir_name=answers.get("kmm.dir_name"),
                                   build_args=[a["name"] for a in answers.get("kmm.build_args")])
    findings += _answer_findings(answers, version)
    return Rendering(files=tuple(files), findings=tuple(findings), notes=tuple(notes))


# --- pieces -------------------------------------------------------------------------

def _dockerfile_text(answers, findings: list[Finding]) -> Optional[str]:
    mode = answers.get("kmm.build")
    if mode == "none":
        return None
    if mode == "generate":
        return generate_dockerfile(answers)
    path = answers.get("kmm.dockerfile")
    if not path:
        findings.append(error("kmm.dockerfile", "kmm.build is dockerfile but no Dockerfile is given",
                              "set kmm.dockerfile to your Dockerfile, or kmm.build=generate", code="answer-missing"))
        return None
    from kmwizard.textfiles import DOCKERFILE_MAX, read_text_file
    from kmwizard.redact import url_credentials

    try:
        text = read_text_file(path, what="Dockerfile", limit=DOCKERFILE_MAX,
                              fix="check the path (relative paths start where kmwizard runs)")
    except UsageError as exc:
        findings.append(error("kmm.dockerfile", exc.message, exc.fix, code="kmm-dockerfile-read"))
        return None
    if url_credentials(text):
        findings.append(error("kmm.dockerfile", f"{path} holds a URL with a user name and password (or token): "
                              "the Dockerfile goes into a ConfigMap, which everyone who can read namespace "
                              f"{answers.get('kmm.namespace')} can read", "remove the credentials from the "
                              "Dockerfile and give them to the build as a build secret (kmm.build_secrets: "
                              "mounted at /run/secrets/<name>/ during the build only)", code="kmm-dockerfile-credentials"))
    return text


def _secrets(answers, findings: list[Finding]) -> list[tuple[str, dict, str]]:
    """(name, base64 data, what) for each Secret made from local files; never their contents in findings."""
    out = []
    if answers.get("entitlement.source") == "certs" and answers.get("kmm.build") != "none":
        data = _entitlement_data(answers.get("entitlement.certs_dir"), findings)
        if data:
            out.append((answers.get("kmm.entitlement_secret"), data, "entitlement certificates and keys"))
    if answers.get("kmm.sign.enabled"):
        out += _signing_secrets(answers, findings)
    return out


def _signing_secrets(answers, findings: list[Finding]) -> list[tuple[str, dict, str]]:
    """The key and certificate Secrets from local files: each must be what it claims (a private key,
    an X.509 certificate, PEM or DER), read from a regular file, and the two must pair up."""
    from kmwizard.der import read_certificate, read_private_key_public_part
    from kmwizard.textfiles import KEY_MAX, InputFileError, read_regular_file

    out, parsed = [], {}
    for key, data_key, secret_key, what in (("kmm.sign.key_file", "key", "kmm.sign.key_secret", "signing key"),
                                            ("kmm.sign.cert_file", "cert", "kmm.sign.cert_secret",
                                             "signing certificate")):
        path = answers.get(key)
        if not path:
            continue
        fix = f"give the {what} file (for the kernel's own keys: signing_key.pem and signing_key.x509)"
        try:
            content = read_regular_file(path, what=what, limit=KEY_MAX, fix=fix)
        except InputFileError as exc:
            findings.append(error(key, exc.message, exc.fix, code="kmm-sign-file"))
            continue
        try:
            if not content.strip():
                raise ValueError("it is empty")
            if data_key == "cert":
                if b"PRIVATE KEY" in content:
                    raise ValueError("it holds a private key, not a certificate")
                parsed["cert"] = (path, read_certificate(content))
            else:
                parsed["key"] = (path, read_private_key_public_part(content))
        except ValueError as exc:  # messages never quote the content
            findings.append(error(key, f"{path} is not a usable {what}: {exc}", fix, code="kmm-sign-file"))
            continue
        out.append((answers.get(secret_key), {data_key: base64.b64encode(content).decode()}, what))
    if "key" in parsed and "cert" in parsed and parsed["key"][1] is not None \
            and parsed["key"][1] != parsed["cert"][1].public_key:
        findings.append(error("kmm.sign.key_file", f"the key {parsed['key'][0]} does not belong to the "
                              f"certificate {parsed['cert'][0]}: the nodes would reject every signed module",
                              "give the key and the certificate of the same pair", code="kmm-sign-pair"))
    if "cert" in parsed:
        findings += _cert_expiry(*parsed["cert"])
    return out


def _cert_expiry(path: str, cert) -> list[Finding]:
    """As for entitlement certificates: an expired or soon-expiring signing certificate is worth a warning
    (a new key pair has to be enrolled in the nodes' MOK/db before it replaces this one)."""
    from datetime import datetime, timezone

    from kmwizard.der import EXPIRY_WARNING_DAYS, expiry_state

    day = f"{cert.not_after:%Y-%m-%d}"
    state = expiry_state(cert, datetime.now(timezone.utc))
    if state == "expired":
        return [warning("kmm.sign.cert_file", f"{path} expired on {day}", "make a new signing key pair, enroll "
                        "its certificate on the nodes (MOK) and sign with it", code="kmm-sign-expired")]
    if state == "expiring":
        return [warning("kmm.sign.cert_file", f"{path} expires on {day}, within {EXPIRY_WARNING_DAYS} days",
                        "make and enroll the next signing key pair now", code="kmm-sign-expiring")]
    return []


def _entitlement_data(certs_dir: str, findings: list[Finding]) -> dict:
    """Secret data from the certificate directory, with the KVC method's checks (pairs, parsing,
    key matches certificate, expiry)."""
    from kmwizard.entitlement import entitlement_files

    payload = entitlement_files("certs", certs_dir=certs_dir, module_name="")
    findings.extend(payload.findings)
    if any(f.severity == "error" for f in payload.findings):
        return {}
    return {Path(path).name: base64.b64encode(content).decode() for path, (content, _mode) in payload.files.items()}


def _tls(choice: str) -> Optional[dict]:
    value = _TLS[choice]
    return dict(value) if value else None


def _module_spec(answers, cm_name: Optional[str], version: tuple[int, int], findings: list[Finding]) -> dict:
    role = answers.get("role")
    selector = thaw(answers.get("kmm.node_selector")) or {f"node-role.kubernetes.io/{role}": ""}
    dir_name = answers.get("kmm.dir_name")

    modprobe: dict[str, Any] = {"moduleName": answers.get("kmm.module_name"), "dirName": dir_name}
    if answers.get("kmm.parameters"):
        modprobe["parameters"] = list(answers.get("kmm.parameters"))
    if answers.get("kmm.firmware_path"):
        modprobe["firmwarePath"] = answers.get("kmm.firmware_path")
    if answers.get("kmm.modules_loading_order"):
        modprobe["modulesLoadingOrder"] = list(answers.get("kmm.modules_loading_order"))

    build = None
    if cm_name:
        build = {"dockerfileConfigMap": {"name": cm_name}}
        if answers.get("kmm.build_args"):
            build["buildArgs"] = [{"name": str(a["name"]), "value": str(a["value"])}
                                  for a in answers.get("kmm.build_args")]
        secrets = list(answers.get("kmm.build_secrets"))
        if answers.get("entitlement.source") == "certs":
            secrets.append(answers.get("kmm.entitlement_secret"))
        if secrets:
            build["secrets"] = [{"name": s} for s in secrets]
        if _tls(answers.get("kmm.base_image_registry_tls")):
            build["baseImageRegistryTLS"] = _tls(answers.get("kmm.base_image_registry_tls"))
    sign = None
    if answers.get("kmm.sign.enabled"):
        sign = {"keySecret": {"name": answers.get("kmm.sign.key_secret")},
                "certSecret": {"name": answers.get("kmm.sign.cert_secret")},
                "filesToSign": list(answers.get("kmm.sign.files_to_sign"))}
        if answers.get("kmm.sign.unsigned_image"):
            sign["unsignedImage"] = answers.get("kmm.sign.unsigned_image")

    records = [thaw(r) for r in answers.get("kmm.kernel_mappings")]
    # A mapping cannot switch off a container-level build or sign (KMM merges, never removes), so
    # as soon as one mapping differs, each mapping carries its own complete section.
    per_mapping_build = build is not None and any(r.get("build") is False or r.get("build_args") for r in records)
    per_mapping_sign = sign is not None and any(r.get("sign") is False or r.get("files_to_sign") for r in records)
    mappings = []
    for record in records:
        mapping: dict[str, Any] = {}
        if record.get("regexp"):
            mapping["regexp"] = str(record["regexp"])
        else:
            mapping["literal"] = str(record.get("literal", ""))
        mapping["containerImage"] = str(record.get("container_image") or "")  # the CRD requires the key
        if per_mapping_build and record.get("build", True):
            own = copy.deepcopy(build)
            if record.get("build_args"):
                own["buildArgs"] = _override_args(own.get("buildArgs", []), record["build_args"])
            mapping["build"] = own
        if per_mapping_sign and record.get("sign", True):
            own = copy.deepcopy(sign)
            if record.get("files_to_sign"):
                own["filesToSign"] = [str(f) for f in record["files_to_sign"]]
            mapping["sign"] = own
        if record.get("in_tree_modules_to_remove"):
            mapping.update(_in_tree([str(m) for m in record["in_tree_modules_to_remove"]], version,
                                    "kmm.kernel_mappings", findings))
        mappings.append(mapping)

    container: dict[str, Any] = {"modprobe": modprobe, "kernelMappings": mappings}
    if answers.get("kmm.container_image"):
        container["containerImage"] = answers.get("kmm.container_image")
    if answers.get("kmm.image_pull_policy"):
        container["imagePullPolicy"] = answers.get("kmm.image_pull_policy")
    if answers.get("kmm.in_tree_modules_to_remove"):
        container.update(_in_tree(list(answers.get("kmm.in_tree_modules_to_remove")), version,
                                  "kmm.in_tree_modules_to_remove", findings))
    if build is not None and not per_mapping_build:
        container["build"] = build
    if sign is not None and not per_mapping_sign:
        container["sign"] = sign
    if _tls(answers.get("kmm.registry_tls")):
        container["registryTLS"] = _tls(answers.get("kmm.registry_tls"))
    if answers.get("kmm.version"):
        container["version"] = answers.get("kmm.version")

    loader: dict[str, Any] = {"container": container}
    if answers.get("kmm.service_account"):
        loader["serviceAccountName"] = answers.get("kmm.service_account")
    spec: dict[str, Any] = {"moduleLoader": loader, "selector": selector}
    if answers.get("kmm.image_repo_secret"):
        spec["imageRepoSecret"] = {"name": answers.get("kmm.image_repo_secret")}
    if answers.get("kmm.image_rebuild_trigger_generation"):
        spec["imageRebuildTriggerGeneration"] = int(answers.get("kmm.image_rebuild_trigger_generation"))
    if role == "master" and not answers.get("kmm.node_selector"):
        spec["tolerations"] = [dict(t) for t in CONTROL_PLANE_TOLERATIONS]
        findings.append(info("role", "role is master: the Module tolerates the control-plane taints "
                             "(node-role.kubernetes.io/master and /control-plane, NoSchedule); without them KMM "
                             "skips those nodes", code="kmm-master-toleration"))
    return spec


def _override_args(base: list, overrides) -> list:
    args = [dict(a) for a in base]
    for item in overrides:
        arg = {"name": str(item["name"]), "value": str(item["value"])}
        for i, existing in enumerate(args):
            if existing["name"] == arg["name"]:
                args[i] = arg
                break
        else:
            args.append(arg)
    return args


def _in_tree(modules: list, version: tuple[int, int], key: str, findings: list[Finding]) -> dict:
    if version >= (2, 1):
        return {"inTreeModulesToRemove": modules}
    if len(modules) > 1:
        findings.append(error(key, f"KMM {version[0]}.{version[1]} removes one in-tree module only "
                              f"(inTreeModuleToRemove), got {', '.join(modules)}",
                              "keep one, or set kmm.kmm_version to 2.1 or later", code="kmm-version-field"))
    return {"inTreeModuleToRemove": modules[0]}


def _preflight(answers, name: str) -> dict:
    spec: dict[str, Any] = {"kernelVersion": answers.get("kmm.preflight_kernel")}
    if answers.get("kmm.preflight_dtk_image"):
        spec["dtkImage"] = answers.get("kmm.preflight_dtk_image")
    if answers.get("kmm.preflight_push"):
        spec["pushBuiltImage"] = True
    return {"apiVersion": PREFLIGHT_API, "kind": "PreflightValidationOCP", "metadata": {"name": f"preflight-{name}"},
            "spec": spec}


def _preflight_findings(module: dict, kernel: str) -> list[Finding]:
    result = match_kernel(module, kernel)
    if result.matched:
        return []
    return [warning("kmm.preflight_kernel", f"the upcoming kernel {kernel} matches no kernel mapping: after the "
                    "upgrade, nodes running it get no module (KMM skips them silently)",
                    "add or widen a mapping (test with `kmwizard kernel-match --kernel ...`)",
                    code="kmm-preflight-no-match")]


def _answer_findings(answers, version: tuple[int, int]) -> list[Finding]:
    findings = []
    minor = int(str(answers.get("openshift_version")).split(".")[1])
    if minor < 12:
        findings.append(warning("openshift_version", f"KMM is supported on OpenShift 4.12 and later; "
                                f"{answers.get('openshift_version')} would need the KVC method",
                                "set method=kvc, or target 4.12+", code="kmm-openshift-version"))
    ns = answers.get("kmm.namespace")
    if ns != OPERATOR_NAMESPACE:
        sa = answers.get("kmm.service_account") or "default"
        findings.append(info("kmm.namespace", f"the module loader pods run privileged in namespace {ns}: their "
                             f"service account ({sa}) needs the privileged SCC",
                             f"oc adm policy add-scc-to-user privileged -z {sa} -n {ns}", code="kmm-scc"))
    if answers.get("kmm.build") != "none" and str(answers.get("kmm.container_image")).startswith(INTERNAL_REGISTRY):
        findings.append(info("kmm.container_image", "images are pushed to the cluster's internal registry: if it "
                             "has no persistent storage (emptyDir), they vanish when it restarts and KMM rebuilds",
                             "give the registry persistent storage, or push to an external registry with "
                             "kmm.image_repo_secret", code="kmm-internal-registry"))
    if answers.get("kmm.build") == "none" and answers.get("entitlement.source") != "node":
        findings.append(info("entitlement.source", "nothing is built (kmm.build=none), so the entitlement "
                             "choice is not used", code="kmm-entitlement-unused"))
    if answers.get("kmm.version"):
        findings.append(info("kmm.version", "with a version set, nodes move to a new version only when labelled "
                             f"kmm.node.kubernetes.io/version-module.{ns}.{answers.get('kmm.name')}=<version>; "
                             "and KMM refuses to remove the version later", code="kmm-version-ordered"))
    if answers.get("kmm.image_rebuild_trigger_generation") and version < (2, 6):
        findings.append(error("kmm.image_rebuild_trigger_generation", "imageRebuildTriggerGeneration needs KMM 2.6",
                              "set it to 0, or kmm.kmm_version to 2.6+", code="kmm-version-field"))
    return findings
