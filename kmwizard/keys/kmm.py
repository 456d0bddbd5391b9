"""Answer keys of the KMM method (``kmm.*``).  They sit with the other key declarations, below
``kmwizard.answers`` (which checks values against them) and below ``kmwizard.kmm`` (which reads them).

``role``, ``openshift_version`` and ``entitlement.*`` are common keys (``kmwizard.keys``).
The defaults reproduce the KMM documentation's example (kmm_ci_a from the KMM repository's
``ci/kmm-kmod``, built in the cluster with the Driver Toolkit), so a bare ``method=kmm`` works.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from kmwizard.keys import (Answers, KeySpec, dns1123_subdomain, label_problem, required_dns1123_label,
                           required_dns1123_subdomain)
from kmwizard.regexps import lazy

KMM = ("kmm",)
KMM_REPO = "https://github.com/rh-ecosystem-edge/kernel-module-management.git"
INTERNAL_REGISTRY = "image-registry.openshift-image-registry.svc:5000"
OPERATOR_NAMESPACE = "openshift-kmm"

_VERSION = lazy(r"^(\d+)\.(\d+)$")
_MODULE_NAME = lazy(r"^[A-Za-z0-9_-]+$")
_KO_FILE = lazy(r"^[^/\s][^\s]*\.ko$")
_ENV_NAME = lazy(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TLS_CHOICES = ("verify", "skip-verify", "plain-http")
SAFE_WORD = lazy(r"^[A-Za-z0-9_./:@+~=-]+$")  # what the generated Dockerfile holds unquoted
# The kernel's MODULE_NAME_LEN is 64 - sizeof(unsigned long) = 56 bytes with the NUL (include/linux/module.h):
# modprobe and insmod refuse longer names.
MODULE_NAME_MAX = 55


def parse_version(text: str) -> tuple[int, int]:
    """'2.3' -> (2, 3); callers validate first."""
    match = _VERSION.match(str(text).strip())
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


# --- validators -------------------------------------------------------------------

def plain_word(value, _answers=None):
    """Answer validator: a value the generated Dockerfile can hold without quoting."""
    if value and not SAFE_WORD.match(str(value)):
        return f"{value!r} has spaces, quotes or shell characters: it cannot go into the generated Dockerfile"
    return None


def _kmm_version(value: Any, _answers: "Answers") -> Optional[str]:
    match = _VERSION.match(str(value))
    if not match or parse_version(value) < (1, 0) or parse_version(value) >= (3, 0):
        return (f"{value!r} is not a KMM operator version: write major.minor from 1.0 to 2.x, e.g. \"2.4\" "
                "(oc get csv -n openshift-kmm shows it)")
    return None


def _module_name(value: Any, _answers: "Answers") -> Optional[str]:
    if not value:
        return "the module name for modprobe is required (the .ko file's name without .ko, e.g. kmm_ci_a)"
    if str(value).endswith(".ko"):
        return f"{value!r} ends in .ko: modprobe takes the module name without the extension"
    if not _MODULE_NAME.match(str(value)):
        return f"{value!r} is not a kernel module name: letters, digits, '_' and '-' only"
    if len(str(value)) > MODULE_NAME_MAX:
        return f"{value!r} has {len(str(value))} characters: kernel module names have at most {MODULE_NAME_MAX}"
    return None


def _module_names(value: Any, _answers: "Answers") -> Optional[str]:
    bad = [v for v in value or () if not _MODULE_NAME.match(str(v)) or str(v).endswith(".ko")
           or len(str(v)) > MODULE_NAME_MAX]
    if bad:
        return (f"{', '.join(map(repr, bad))}: module names are letters, digits, '_' and '-', without .ko, at most "
                f"{MODULE_NAME_MAX} characters")
    return None


def _ko_files(value: Any, _answers: "Answers") -> Optional[str]:
    if not value:
        return "at least one .ko file is needed: the module files the build produces"
    bad = [v for v in value if not _KO_FILE.match(str(v)) or ".." in str(v).split("/")]
    if bad:
        return (f"{', '.join(map(repr, bad))}: give paths relative to the build directory "
                "(kmm.source_subdir) that end in .ko, e.g. kmm_ci_a.ko or drivers/foo.ko")
    return None


def _abs_dir(value: Any, _answers: "Answers") -> Optional[str]:
    if value and (not str(value).startswith("/") or str(value) == "/" or " " in str(value)):
        return f"{value!r} must be an absolute directory inside the image, such as /opt or /firmware"
    if value and ".." in str(value).split("/"):
        return f"{value!r} climbs with '..': write the directory itself, such as /opt or /firmware"
    return None


def _dir_name(value: Any, answers: "Answers") -> Optional[str]:
    return _abs_dir(value, answers) if value else "dirName cannot be empty: use /opt (the default)"


def _parameters(value: Any, _answers: "Answers") -> Optional[str]:
    bad = [v for v in value or () if "=" not in str(v) or str(v).startswith("=")]
    if bad:
        return f"{', '.join(map(repr, bad))}: module parameters are written key=value"
    return None


def _build_args(value: Any, _answers: "Answers") -> Optional[str]:
    for item in value or ():
        if set(item) - {"name", "value"} or "name" not in item or "value" not in item:
            return f"{dict(item)!r}: each build argument is {{name: NAME, value: VALUE}}"
        if not _ENV_NAME.match(str(item["name"])):
            return f"build argument name {item['name']!r} is not a valid ARG name (letters, digits, '_')"
        if item["name"] in ("KERNEL_VERSION", "KERNEL_FULL_VERSION", "MOD_NAME", "MOD_NAMESPACE", "DTK_AUTO"):
            return f"build argument {item['name']!r} is set by KMM itself for every build: do not set it"
    return None


def _secret_names(value: Any, answers: "Answers") -> Optional[str]:
    for name in value or ():
        problem = dns1123_subdomain(str(name), answers)
        if problem:
            return problem
    return None


def _plain_words(value: Any, answers: "Answers") -> Optional[str]:
    for item in value or ():
        problem = plain_word(item, answers)
        if problem:
            return problem
    return None


def _inside_build_dir(value: Any, answers: "Answers") -> Optional[str]:
    """A path relative to the source directory that stays inside it (kmm.source_subdir, kmm.firmware_files)."""
    for item in value if isinstance(value, tuple) else (value,):
        if item and (str(item).startswith("/") or ".." in str(item).split("/")):
            return (f"{item!r} leaves the repository ('/' at the start or '..'): give a path relative to the "
                    "repository, inside it")
    return _plain_words(value, answers) if isinstance(value, tuple) else plain_word(value, answers)


def _source_repo(value: Any, answers: "Answers") -> Optional[str]:
    if value and not str(value).startswith("https://"):
        return (f"{value!r} is not an https URL: the build in the cluster clones without SSH keys, and plain "
                "http or git:// can be tampered with on the way")
    return plain_word(value, answers)


def _make_target(value: Any, answers: "Answers") -> Optional[str]:
    if not str(value).strip():
        return "give at least one make target (e.g. all, or modules)"
    return _plain_words(str(value).split(), answers)


def _selector(value: Any, _answers: "Answers") -> Optional[str]:
    for key, val in (value or {}).items():
        problem = label_problem(key, val)
        if problem:
            return problem
    return None


MAPPING_FIELDS = {"regexp", "literal", "container_image", "build", "sign", "in_tree_modules_to_remove",
                  "build_args", "files_to_sign"}


def _image_template(value: Any, _answers: "Answers") -> Optional[str]:
    """What KMM's webhook (validateImageFormat) and its substitution (envsubst) refuse."""
    from kmwizard.keys.envsubst import SubstitutionError, envsubst, explain  # only when a value is checked

    if not value:
        return None
    text = str(value)
    try:
        envsubst(text, {})
    except SubstitutionError as exc:
        what, fix = explain(exc)
        return f"{text!r}: {what}; {fix}"
    if ":" not in text and "@" not in text:
        return f"{text!r} has no tag or digest: KMM's webhook rejects it; add e.g. :${{KERNEL_FULL_VERSION}}"
    return None


def _regexp(value: str, answers: "Answers") -> Optional[str]:
    """regexp.Compile as KMM's webhook runs it, by the rules of the Go the target KMM is built with."""
    from kmwizard.keys.goregexp import GoRegexpError, compile_go, go_regexp_fix, go_version_for_kmm  # not at start-up

    try:
        version = parse_version(str(answers.get("kmm.kmm_version")))
    except (ValueError, KeyError, TypeError, IndexError):
        version = None
    try:
        compile_go(value, go_version_for_kmm(version))
    except GoRegexpError as exc:
        return (f"regexp {value!r} does not compile in Go's regexp, which KMM uses: {exc}; "
                f"{go_regexp_fix(value)}")
    return None


def _mappings(value: Any, _answers: "Answers") -> Optional[str]:
    if not value:
        return "at least one kernel mapping is needed (e.g. {regexp: '^.+$'} for every kernel)"
    for i, item in enumerate(value):
        unknown = set(item) - MAPPING_FIELDS
        if unknown:
            return (f"mapping {i}: unknown field(s) {', '.join(sorted(unknown))}; a mapping takes "
                    f"{', '.join(sorted(MAPPING_FIELDS))}")
        if bool(item.get("regexp")) == bool(item.get("literal")):
            return f"mapping {i}: give exactly one of regexp or literal, got {dict(item)!r}"
        for flag in ("build", "sign"):
            if flag in item and not isinstance(item[flag], bool):
                return f"mapping {i}: {flag} is true or false (whether this mapping builds/signs), got {item[flag]!r}"
        for text in ("regexp", "literal", "container_image"):
            if item.get(text) is not None and not isinstance(item[text], str):
                return f"mapping {i}: {text} is a string (quote it in YAML), got {item[text]!r}"
        problem = (_regexp(item["regexp"], _answers) if item.get("regexp") else None) \
            or _image_template(item.get("container_image"), _answers)
        if problem:
            return f"mapping {i}: {problem}"
        for listed in ("files_to_sign", "in_tree_modules_to_remove"):
            if listed in item and not (isinstance(item[listed], (list, tuple))
                                       and all(isinstance(v, str) for v in item[listed])):
                return f"mapping {i}: {listed} is a list of strings, got {item[listed]!r}"
        if "build_args" in item:
            problem = _build_args(item["build_args"], _answers) if isinstance(item["build_args"], (list, tuple)) \
                else "a list of {name, value}"
            if problem:
                return f"mapping {i}: build_args: {problem}"
    return None


def _default_name(answers: "Answers") -> str:
    return str(answers.get("kmm.module_name")).replace("_", "-").lower()


def _default_ko_files(answers: "Answers") -> tuple:
    return (f"{answers.get('kmm.module_name')}.ko",)


def _default_files_to_sign(answers: "Answers") -> tuple:
    base = str(answers.get("kmm.dir_name")).rstrip("/")
    return tuple(f"{base}/lib/modules/${{KERNEL_FULL_VERSION}}/{ko.rsplit('/', 1)[-1]}"
                 for ko in answers.get("kmm.ko_files"))


def _default_create_namespace(answers: "Answers") -> bool:
    return not str(answers.get("kmm.namespace")).startswith(("openshift-", "kube-", "default"))


def _kmm_version_for_openshift(answers: "Answers") -> str:
    # The newest KMM each OpenShift release line is known to run (the catalog offers it there).
    minor = int(str(answers.get("openshift_version")).split(".")[1]) \
        if re.match(r"^4\.\d+$", str(answers.get("openshift_version"))) else 14
    return {12: "2.0", 13: "2.1", 14: "2.2", 15: "2.3", 16: "2.4", 17: "2.4", 18: "2.5", 19: "2.6"}.get(
        minor, "2.0" if minor < 12 else "2.7")


def _default_build(answers: "Answers") -> str:
    return "dockerfile" if answers.get("kmm.dockerfile") else "generate"


def _default_entitlement_secret(answers: "Answers") -> str:
    return f"{answers.get('kmm.name')}-entitlement"


def _default_sign_key_secret(answers: "Answers") -> str:
    return f"{answers.get('kmm.name')}-signing-key"


def _default_sign_cert_secret(answers: "Answers") -> str:
    return f"{answers.get('kmm.name')}-signing-cert"


KMM_KEYS: tuple[KeySpec, ...] = (
    KeySpec("kmm.kmm_version", "str", default=_kmm_version_for_openshift, validate=_kmm_version, methods=KMM,
            example="2.4",
            help="The version of the KMM operator in the cluster (oc get csv -n openshift-kmm). It decides which "
                 "fields exist and which webhook rules apply: tolerations need 2.3+, inTreeModulesToRemove 2.1+, "
                 "imageRebuildTriggerGeneration 2.6+; the name+namespace limit is 41 characters from 2.7, 40 "
                 "before. The default is only a guess from openshift_version: set the version you run."),
    KeySpec("kmm.namespace", "str", default=OPERATOR_NAMESPACE, validate=required_dns1123_label, methods=KMM,
            example="kmm-ci",
            help="The namespace of the Module, its Dockerfile ConfigMap and its Secrets. In the operator's own "
                 "namespace (openshift-kmm) the module loader pods may run privileged; elsewhere the "
                 "Module's service account needs the privileged SCC."),
    KeySpec("kmm.create_namespace", "bool", default=_default_create_namespace, methods=KMM,
            help="Also write a Namespace manifest for kmm.namespace (default: yes, unless it is an openshift-* "
                 "or kube-* namespace, which exist already and cannot be created by users)."),
    KeySpec("kmm.module_name", "str", default="kmm_ci_a", validate=_module_name, methods=KMM, example="kmm_ci_a",
            help="The kernel module modprobe loads (spec.moduleLoader.container.modprobe.moduleName): the .ko "
                 "file's name without .ko. Modules it depends on are loaded too when the image ran depmod."),
    KeySpec("kmm.name", "str", default=_default_name, validate=required_dns1123_subdomain, methods=KMM,
            example="kmm-ci",
            help="The Module's name. name + namespace may have at most 40 characters (41 from KMM 2.7): the "
                 "operator derives other object names from both. Default: the module name with '-' for '_'."),
    KeySpec("kmm.ko_files", "list", default=_default_ko_files, validate=_ko_files, methods=KMM,
            example="kmm_ci_a.ko,kmm_ci_b.ko",
            help="The .ko files the build produces, relative to the build directory (kmm.source_subdir). The "
                 "generated Dockerfile copies each into <dirName>/lib/modules/${KERNEL_FULL_VERSION}/ and runs "
                 "depmod, so dependencies between them resolve."),
    KeySpec("kmm.dir_name", "str", default="/opt", validate=_dir_name, methods=KMM,
            help="modprobe.dirName: the directory in the image that holds lib/modules/<kernel>/ (default /opt). "
                 "Files to sign must lie under it."),
    KeySpec("kmm.parameters", "list", default=(), validate=_parameters, methods=KMM, example="debug=1,mode=fast",
            help="Module parameters passed to modprobe when loading, each key=value."),
    KeySpec("kmm.firmware_path", "str", default="", validate=_abs_dir, methods=KMM, example="/firmware",
            help="modprobe.firmwarePath: a directory inside the image whose contents KMM copies to the node's "
                 "firmware search path before loading. Leave empty when the module needs no firmware."),
    KeySpec("kmm.firmware_files", "list", default=(), validate=_inside_build_dir, methods=KMM,
            example="firmware/foo.bin",
            help="Firmware files from the build directory that the generated Dockerfile copies into "
                 "kmm.firmware_path."),
    KeySpec("kmm.modules_loading_order", "list", default=(), validate=_module_names, methods=KMM,
            example="kmm_ci_a,kmm_ci_b",
            help="modprobe.modulesLoadingOrder: load these modules in this order (unloaded in reverse) when "
                 "they have soft dependencies. The first must be kmm.module_name; at least two, no repeats."),
    KeySpec("kmm.in_tree_modules_to_remove", "list", default=(), validate=_module_names, methods=KMM,
            example="ice",
            help="In-tree modules KMM unloads before loading yours (an out-of-tree replacement of a driver the "
                 "kernel ships). Needs KMM 2.1+ for a list; older versions take exactly one."),
    KeySpec("kmm.node_selector", "map", default={}, validate=_selector, methods=KMM,
            example='{"feature.node.kubernetes.io/pci-8086.present": "true"}',
            help="Custom node labels for spec.selector (exact matches). Empty: the node-role label of `role` "
                 "(node-role.kubernetes.io/<role>: \"\")."),
    KeySpec("kmm.kernel_mappings", "records", default=({"regexp": "^.+$"},), validate=_mappings, methods=KMM,
            example="[{regexp: '^.+\\.el9_4\\.x86_64$'}, {literal: 5.14.0-427.13.1.el9_4.x86_64, "
                    "container_image: 'quay.io/org/kmod:fixed'}]",
            help="Which image each node kernel gets; the first mapping that matches wins (regexps are "
                 "unanchored: write ^...$). Each takes regexp or literal, and optionally container_image "
                 "(empty: kmm.container_image), build: false (use a prebuilt image for these kernels), "
                 "sign: false, build_args (list of {name, value}), files_to_sign, in_tree_modules_to_remove. "
                 "Nodes whose kernel matches no mapping are skipped silently: test with `kmwizard kernel-match`."),
    KeySpec("kmm.container_image", "str", validate=_image_template,
            default=f"{INTERNAL_REGISTRY}/${{MOD_NAMESPACE}}/${{MOD_NAME}}:${{KERNEL_FULL_VERSION}}", methods=KMM,
            example="quay.io/myorg/${MOD_NAME}:${KERNEL_FULL_VERSION}",
            help="The module loader image for mappings without their own. KMM substitutes ${KERNEL_FULL_VERSION}, "
                 "${KERNEL_XYZ}, ${KERNEL_X/Y/Z}, ${MOD_NAME}, ${MOD_NAMESPACE}; keep a kernel variable in the "
                 "tag so each kernel gets its own image. Default: the cluster's internal registry (its images "
                 "are lost if the registry has no persistent storage)."),
    KeySpec("kmm.image_pull_policy", "choice", choices=("", "IfNotPresent", "Always", "Never"), default="",
            methods=KMM,
            help="imagePullPolicy of the module loader image. Empty: Kubernetes' default (Always for :latest, "
                 "IfNotPresent otherwise)."),
    KeySpec("kmm.build", "choice", choices=("generate", "dockerfile", "none"), default=_default_build, methods=KMM,
            help="How images that do not exist yet are built in the cluster. generate: kmwizard writes the "
                 "Dockerfile from kmm.source_repo (Driver Toolkit, multi-stage, depmod). dockerfile: your own "
                 "Dockerfile (kmm.dockerfile), checked by the linter. none: the images exist already (prebuilt); "
                 "KMM only pulls them. Default: dockerfile when kmm.dockerfile is given, else generate."),
    KeySpec("kmm.dockerfile", "str", default="", methods=KMM, example="./Dockerfile.kmm",
            help="Your own Dockerfile (a local file) to put into the ConfigMap (data key dockerfile) instead of "
                 "the generated one; it gets the same checks. Setting it makes kmm.build default to dockerfile."),
    KeySpec("kmm.source_repo", "str", validate=_source_repo, default=KMM_REPO, methods=KMM,
            help="With kmm.build=generate: the git repository (https URL) holding the module's sources; the "
                 "build clones it."),
    KeySpec("kmm.source_ref", "str", validate=plain_word, default="main", methods=KMM,
            help="Branch, tag or commit of kmm.source_repo."),
    KeySpec("kmm.source_subdir", "str", validate=_inside_build_dir, default="ci/kmm-kmod", methods=KMM,
            help="The directory inside the repository where make runs and the .ko files appear."),
    KeySpec("kmm.make_target", "str", default="all", validate=_make_target, methods=KMM,
            help="The make target that builds the modules; make gets KERNEL_SRC_DIR, KERNELDIR and KVER for "
                 "the node's kernel."),
    KeySpec("kmm.build_args", "records", default=(), validate=_build_args, methods=KMM,
            example="[{name: MY_FLAG, value: '1'}]",
            help="Extra Docker build arguments ({name, value}); the Dockerfile must declare each with ARG in "
                 "the stage that reads it. KMM always passes KERNEL_FULL_VERSION, KERNEL_VERSION, MOD_NAME, "
                 "MOD_NAMESPACE (and DTK_AUTO on OpenShift)."),
    KeySpec("kmm.build_secrets", "list", default=(), validate=_secret_names, methods=KMM, example="my-build-secret",
            help="Secrets in kmm.namespace mounted during the build only, at /run/secrets/<secret>/<key>. They "
                 "are for the build (tokens, certificates); pushing uses kmm.image_repo_secret."),
    KeySpec("kmm.image_repo_secret", "str", default="", validate=dns1123_subdomain, methods=KMM,
            example="my-registry-pull-secret",
            help="A kubernetes.io/dockerconfigjson Secret in kmm.namespace: KMM pulls the module image with it "
                 "and builds push with it. Not needed for the internal registry."),
    KeySpec("kmm.registry_tls", "choice", choices=_TLS_CHOICES, default="verify", methods=KMM,
            help="registryTLS for KMM's image checks: verify (default), skip-verify or plain-http. The docs say "
                 "not to use the insecure options; on OpenShift node pulls ignore them anyway (configure "
                 "image.config.openshift.io for an insecure registry)."),
    KeySpec("kmm.base_image_registry_tls", "choice", choices=_TLS_CHOICES, default="verify", methods=KMM,
            help="build.baseImageRegistryTLS for the FROM images of the build: verify (default), skip-verify or "
                 "plain-http. Not recommended; OpenShift builds ignore it (use image.config.openshift.io)."),
    KeySpec("kmm.sign.enabled", "bool", default=False, methods=KMM,
            help="Sign the modules for Secure Boot: KMM signs the files in kmm.sign.files_to_sign with your "
                 "private key and certificate after the build (or from kmm.sign.unsigned_image)."),
    KeySpec("kmm.sign.key_secret", "str", default=_default_sign_key_secret, validate=dns1123_subdomain,
            methods=KMM,
            help="Secret in kmm.namespace holding the private signing key under data key `key`."),
    KeySpec("kmm.sign.cert_secret", "str", default=_default_sign_cert_secret, validate=dns1123_subdomain,
            methods=KMM,
            help="Secret in kmm.namespace holding the public certificate (DER or PEM) under data key `cert`."),
    KeySpec("kmm.sign.key_file", "str", default="", secret=True, methods=KMM, example="./signing_key.priv",
            help="A local private key file: kmwizard writes the key Secret from it (mode 0600, never shown). "
                 "Empty: the Secret exists in the cluster already."),
    KeySpec("kmm.sign.cert_file", "str", default="", secret=True, methods=KMM, example="./signing_key.x509",
            help="A local certificate file: kmwizard writes the cert Secret from it. Empty: it exists already."),
    KeySpec("kmm.sign.files_to_sign", "list", default=_default_files_to_sign, methods=KMM,
            help="Full paths of the files to sign inside the image, under kmm.dir_name; ${KERNEL_FULL_VERSION} "
                 "is substituted. Default: every .ko of kmm.ko_files."),
    KeySpec("kmm.sign.unsigned_image", "str", default="", methods=KMM,
            example="quay.io/myorg/${MOD_NAME}-unsigned:${KERNEL_FULL_VERSION}",
            help="Sign a prebuilt unsigned image instead of a freshly built one (kmm.build=none). Kernel "
                 "variables are substituted."),
    KeySpec("kmm.version", "str", default="", methods=KMM, example="1.0.1",
            help="spec.moduleLoader.container.version for ordered upgrades (nodes move when labelled). Once a "
                 "Module has a version it cannot lose it, and one without cannot gain it: decide now."),
    KeySpec("kmm.image_rebuild_trigger_generation", "int", default=0, methods=KMM,
            help="Bump this number to make KMM rebuild images whose tag exists already (KMM 2.6+); 0 leaves the "
                 "field out. Otherwise an existing tag is never rebuilt, even after a Dockerfile change."),
    KeySpec("kmm.service_account", "str", default="", validate=dns1123_subdomain, methods=KMM,
            help="moduleLoader.serviceAccountName for the module loader pods. Outside openshift-kmm it needs "
                 "the privileged SCC (oc adm policy add-scc-to-user privileged -z <sa> -n <namespace>)."),
    KeySpec("kmm.entitlement_secret", "str", default=_default_entitlement_secret, validate=dns1123_subdomain,
            methods=KMM,
            help="With entitlement.source=certs: the build Secret holding the entitlement certificates (from "
                 "entitlement.certs_dir), mounted at /run/secrets/<name>/ during the build."),
    KeySpec("kmm.acm_hub", "bool", default=False, methods=KMM,
            help="Also write a ManagedClusterModule for an ACM hub (hub.kmm.sigs.x-k8s.io), which sends this "
                 "Module to the selected managed clusters; the hub builds and signs."),
    KeySpec("kmm.acm_cluster_selector", "map", default={"name": "local-cluster"}, validate=_selector, methods=KMM,
            example='{"cluster.open-cluster-management.io/clusterset": "default"}',
            help="With kmm.acm_hub: labels of the ManagedCluster objects that get the Module."),
    KeySpec("kmm.preflight_kernel", "str", default="", methods=KMM, example="5.14.0-427.13.1.el9_4.x86_64",
            help="Also write a PreflightValidationOCP checking every Module against this upcoming kernel (the "
                 "kernel of the OpenShift release you plan to upgrade to)."),
    KeySpec("kmm.preflight_dtk_image", "str", default="", methods=KMM,
            help="The Driver Toolkit image of the target release for the preflight build (oc adm release info "
                 "<release> --image-for=driver-toolkit)."),
    KeySpec("kmm.preflight_push", "bool", default=False, methods=KMM,
            help="Whether the preflight check pushes the images it builds (then the upgrade finds them ready)."),
)
