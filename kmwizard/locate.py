"""Which answer a finding on a rendered file comes from.

The checkers judge the rendered manifests, so their findings say where in a file the problem
is (``module-x.yaml:$.spec.moduleLoader.container.kernelMappings[0].regexp``).  A user of the
wizards can only change answers: ``locate`` rewrites such a finding to name the answer key
(``kmm.kernel_mappings``) and keeps the file and path in its message.  Every front end gets
the same findings from ``render``, so the prompt wizard asks that question again and the
TUI marks and focuses that field.
"""
from __future__ import annotations

from typing import Iterable, Optional

from kmwizard.findings import Finding
from kmwizard.regexps import lazy

# (path prefix, answer key) per manifest kind, most specific first; a prefix matches the path itself
# or the path followed by "." or "[".
_MODULE = (
    ("$.metadata.name", "kmm.name"),
    ("$.metadata.namespace", "kmm.namespace"),
    ("$.spec.moduleLoader.container.kernelMappings", "kmm.kernel_mappings"),
    ("$.spec.moduleLoader.container.modprobe.dirName", "kmm.dir_name"),
    ("$.spec.moduleLoader.container.modprobe.parameters", "kmm.parameters"),
    ("$.spec.moduleLoader.container.modprobe.firmwarePath", "kmm.firmware_path"),
    ("$.spec.moduleLoader.container.modprobe.modulesLoadingOrder", "kmm.modules_loading_order"),
    ("$.spec.moduleLoader.container.modprobe", "kmm.module_name"),
    ("$.spec.moduleLoader.container.inTreeModulesToRemove", "kmm.in_tree_modules_to_remove"),
    ("$.spec.moduleLoader.container.inTreeModuleToRemove", "kmm.in_tree_modules_to_remove"),
    ("$.spec.moduleLoader.container.version", "kmm.version"),
    ("$.spec.moduleLoader.container.imagePullPolicy", "kmm.image_pull_policy"),
    ("$.spec.moduleLoader.container.containerImage", "kmm.container_image"),
    ("$.spec.moduleLoader.container.registryTLS", "kmm.registry_tls"),
    ("$.spec.moduleLoader.container.build.buildArgs", "kmm.build_args"),
    ("$.spec.moduleLoader.container.build.secrets", "kmm.build_secrets"),
    ("$.spec.moduleLoader.container.build.baseImageRegistryTLS", "kmm.base_image_registry_tls"),
    ("$.spec.moduleLoader.container.build", "kmm.build"),
    ("$.spec.moduleLoader.container.sign.keySecret", "kmm.sign.key_secret"),
    ("$.spec.moduleLoader.container.sign.certSecret", "kmm.sign.cert_secret"),
    ("$.spec.moduleLoader.container.sign.filesToSign", "kmm.sign.files_to_sign"),
    ("$.spec.moduleLoader.container.sign.unsignedImage", "kmm.sign.unsigned_image"),
    ("$.spec.moduleLoader.container.sign", "kmm.sign.enabled"),
    ("$.spec.moduleLoader.serviceAccountName", "kmm.service_account"),
    ("$.spec.imageRepoSecret", "kmm.image_repo_secret"),
    ("$.spec.imageRebuildTriggerGeneration", "kmm.image_rebuild_trigger_generation"),
    ("$.spec.selector", "kmm.node_selector"),
)
_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "Module": _MODULE,
    "ManagedClusterModule": (
        ("$.metadata.name", "kmm.name"),
        ("$.spec.spokeNamespace", "kmm.namespace"),
        ("$.spec.selector", "kmm.acm_cluster_selector"),
    ),
    "Namespace": (("$.metadata.name", "kmm.namespace"),),
    "PreflightValidationOCP": (
        ("$.spec.kernelVersion", "kmm.preflight_kernel"),
        ("$.spec.dtkImage", "kmm.preflight_dtk_image"),
        ("$.spec.pushBuiltImage", "kmm.preflight_push"),
    ),
    "MachineConfig": (
        ("$.metadata.name", "machineconfig.name"),
        ("$.metadata.labels", "role"),
        ("$.spec.config.ignition", "openshift_version"),
        ("$.spec.config.passwd", "ssh_key"),
        ("$.spec.config.systemd", "kvc.enable_style"),
    ),
}
_PATH = lazy(r"^(?P<file>[^:$]+):(?P<path>\$.*)$")


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def answer_key(where: str, files: Iterable, answers) -> Optional[str]:
    """The answer key behind a finding at ``file:$.path`` of a rendered file, or None."""
    match = _PATH.match(where)
    if not match:
        return None
    manifest = next((f.manifest for f in files if f.path == match["file"] and f.manifest), None)
    if manifest is None:
        return None
    kind, path = manifest.get("kind"), match["path"]
    if kind == "ManagedClusterModule" and _matches(path, "$.spec.moduleSpec"):
        kind, path = "Module", "$.spec" + path[len("$.spec.moduleSpec"):]
    if kind == "ConfigMap" and _matches(path, "$.data"):  # the Dockerfile KMM builds with
        return "kmm.dockerfile" if answers.get("kmm.build") == "dockerfile" else "kmm.build"
    if kind == "MachineConfig" and _matches(path, "$.spec.config.storage"):  # the files come from the tree
        return "kvc.fakeroot" if answers.get("kvc.fakeroot") else "kvc.module_repo"
    for prefix, key in _RULES.get(kind, ()):
        if _matches(path, prefix):
            return key
    return None


def locate(findings: Iterable[Finding], files: Iterable, answers) -> list[Finding]:
    """The findings, those on rendered files rewritten to name their answer key; the file and
    path move into the message, so nothing is lost."""
    files = list(files)
    located = []
    for finding in findings:
        key = answer_key(finding.where, files, answers)
        if key is not None:
            finding = Finding(finding.severity, key, f"{finding.message} (in {finding.where})", finding.fix,
                              finding.code)
        located.append(finding)
    return located
