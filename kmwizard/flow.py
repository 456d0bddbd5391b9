"""The wizard's steps and questions, declared once for every front end.

The Textual app and the plain-terminal prompts both walk ``steps_for(answers)`` and,
inside a step, ``questions_for(step, answers)``; a question added here appears in
both.  Choices, defaults, help and validation come from the key declarations in
``kmwizard.keys``, so a question only says how to ask.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from kmwizard.answers import Answers
from kmwizard.keys import KEYS, KeySpec
from kmwizard.records import record

Condition = Callable[[Answers], bool]


def always(_answers: Answers) -> bool:
    return True


def is_kvc(answers: Answers) -> bool:
    return answers.get("method") == "kvc"


def is_kmm(answers: Answers) -> bool:
    return answers.get("method") == "kmm"


def builds(answers: Answers) -> bool:
    return is_kmm(answers) and answers.get("kmm.build") != "none"


def builds_generated(answers: Answers) -> bool:
    return is_kmm(answers) and answers.get("kmm.build") == "generate"


def signs(answers: Answers) -> bool:
    return is_kmm(answers) and bool(answers.get("kmm.sign.enabled"))


def has_overlay(answers: Answers) -> bool:
    return bool(answers.get("overlay"))


@record(frozen=True)
class Question:
    key: str
    prompt: str
    # How to ask: "select" (one of the key's choices), "text", "path" (a local path),
    # "multiline" (an SSH key, a Dockerfile), "list" (comma separated), "records" (a table)
    widget: str = "text"
    when: Condition = always
    placeholder: str = ""

    @property
    def spec(self) -> KeySpec:
        return KEYS[self.key]

    @property
    def help(self) -> str:
        return self.spec.help

    def choices(self) -> tuple:
        return self.spec.choices

    def current(self, answers: Answers) -> Any:
        return answers.get(self.key)


@record(frozen=True)
class Step:
    id: str
    title: str
    intro: str
    questions: tuple[Question, ...]
    when: Condition = always


METHOD_INTRO = (
    "KVC (kmods-via-containers in a MachineConfig) builds the module on each node at boot from a container "
    "and needs no operator: choose it for day-1 installs, clusters without the KMM operator, or OpenShift "
    "before 4.12. KMM (Kernel Module Management) is the operator-based way on OpenShift 4.12+: a Module "
    "resource builds (with the Driver Toolkit), signs and loads the module for each kernel, and follows "
    "cluster upgrades by itself."
)

FLOW: tuple[Step, ...] = (
    Step("method", "Method", METHOD_INTRO, (
        Question("method", "How should the module reach the nodes?", "select"),
    )),
    Step("target", "Target", "Which cluster, which nodes, and when.", (
        Question("day", "Install time (day 1) or running cluster (day 2)?", "select", when=is_kvc),
        Question("role", "Which pool or node role gets the module?", "text", placeholder="worker"),
        Question("openshift_version", "Target OpenShift version (x.y)", "text", placeholder="4.14"),
        Question("kmm.kmm_version", "Target KMM operator version", "text", when=is_kmm, placeholder="2.4"),
        Question("ssh_key", "SSH public key for the core user (day 1, optional)", "multiline",
                 when=lambda a: is_kvc(a) and a.get("day") == 1),
        Question("output.install_dir", "openshift-install directory (day 1)", "path",
                 when=lambda a: is_kvc(a) and a.get("day") == 1),
    )),
    Step("source", "Module source", "Where the kernel module comes from and what it is called.", (
        Question("kvc.module_name", "KVC instance name", "text", when=is_kvc),
        Question("kvc.framework_repo", "kmods-via-containers framework (git URL or directory)", "path",
                 when=is_kvc),
        Question("kvc.framework_ref", "Framework branch, tag or commit", "text", when=is_kvc),
        Question("kvc.module_repo", "Module's KVC repository (git URL or directory)", "path", when=is_kvc),
        Question("kvc.module_ref", "Module branch, tag or commit", "text", when=is_kvc),
        Question("kvc.fakeroot", "Or an existing fakeroot tree (skips git and make)", "path", when=is_kvc),
        Question("kvc.build_file", "Dockerfile the node builds with", "text", when=is_kvc),
        Question("kvc.software_version", "KMOD_SOFTWARE_VERSION override (optional)", "text", when=is_kvc),
        Question("kvc.overwrite_node_files", "Node files the tree may replace on purpose (comma separated)", "list",
                 when=is_kvc),
        Question("kmm.namespace", "Namespace of the Module", "text", when=is_kmm),
        Question("kmm.name", "Module resource name", "text", when=is_kmm),
        Question("kmm.module_name", "Kernel module name (as modprobe knows it)", "text", when=is_kmm),
        Question("kmm.build", "How is the module loader image built?", "select", when=is_kmm),
        Question("kmm.source_repo", "Git repository with the module's source", "text", when=builds_generated),
        Question("kmm.source_ref", "Branch, tag or commit of the source", "text", when=builds_generated),
        Question("kmm.source_subdir", "Folder of the module inside the repository", "text", when=builds_generated),
        Question("kmm.make_target", "make target that builds the .ko files", "text", when=builds_generated),
        Question("kmm.dockerfile", "Your own Dockerfile", "path",
                 when=lambda a: is_kmm(a) and a.get("kmm.build") == "dockerfile"),
        Question("kmm.ko_files", "The .ko files the build produces (comma separated)", "list", when=is_kmm),
    )),
    Step("entitlement", "Entitlement", "How the build gets the kernel packages for the node's kernel.", (
        Question("entitlement.source", "Where does the build find kernel-devel?", "select"),
        Question("entitlement.certs_dir", "Directory with the entitlement certificates", "path",
                 when=lambda a: a.get("entitlement.source") == "certs"),
        Question("entitlement.yum_repo", "Yum repository baseurl with the nodes' kernel packages", "text",
                 when=lambda a: a.get("entitlement.source") == "yum-repo"),
        Question("kmm.entitlement_secret", "Build Secret that will hold the certificates", "text",
                 when=lambda a: is_kmm(a) and a.get("entitlement.source") == "certs"),
    )),
    Step("mappings", "Kernel mappings", "Which image serves which kernel; first match wins.", (
        Question("kmm.container_image", "Default module loader image", "text", when=is_kmm),
        Question("kmm.kernel_mappings", "Kernel mappings", "records", when=is_kmm),
        Question("kmm.image_pull_policy", "Image pull policy (empty: Kubernetes' default)", "select", when=is_kmm),
        Question("kmm.image_repo_secret", "Pull/push secret for the image registry (optional)", "text",
                 when=is_kmm),
        Question("kmm.build_args", "Build arguments", "records", when=builds),
        Question("kmm.build_secrets", "Secrets mounted into the build (comma separated names)", "list",
                 when=builds),
        Question("kmm.registry_tls", "TLS towards the module image registry", "select", when=is_kmm),
        Question("kmm.base_image_registry_tls", "TLS towards the base image registry of builds", "select",
                 when=builds),
        Question("kmm.image_rebuild_trigger_generation", "Rebuild trigger (bump to rebuild existing tags)", "text",
                 when=builds),
    ), when=is_kmm),
    Step("loading", "Loading", "How the module is loaded on the node.", (
        Question("kmm.dir_name", "Directory holding lib/modules/<kernel> in the image", "text", when=is_kmm),
        Question("kmm.parameters", "Module parameters (key=value, comma separated)", "list", when=is_kmm),
        Question("kmm.firmware_path", "Firmware directory inside the image (optional)", "text", when=is_kmm),
        Question("kmm.firmware_files", "Firmware files the image carries (comma separated)", "list", when=is_kmm),
        Question("kmm.node_selector", "Custom node labels instead of the role (optional)", "records", when=is_kmm),
        Question("kmm.modules_loading_order", "Loading order for dependent modules (comma separated)", "list",
                 when=is_kmm),
        Question("kmm.in_tree_modules_to_remove", "In-tree modules to unload first (comma separated)", "list",
                 when=is_kmm),
        Question("kmm.version", "Module version for ordered upgrades (optional)", "text", when=is_kmm),
        Question("kmm.service_account", "Service account of the module loader (optional)", "text", when=is_kmm),
        Question("kmm.create_namespace", "Generate the Namespace too?", "select", when=is_kmm),
    ), when=is_kmm),
    Step("signing", "Signing", "Secure Boot nodes load only signed modules.", (
        Question("kmm.sign.enabled", "Sign the module for Secure Boot?", "select", when=is_kmm),
        Question("kmm.sign.key_file", "Private signing key file (becomes a Secret, never shown)", "path",
                 when=lambda a: is_kmm(a) and a.get("kmm.sign.enabled")),
        Question("kmm.sign.cert_file", "Signing certificate file (public)", "path",
                 when=lambda a: is_kmm(a) and a.get("kmm.sign.enabled")),
        Question("kmm.sign.key_secret", "Secret holding the signing key (data key: key)", "text", when=signs),
        Question("kmm.sign.cert_secret", "Secret holding the certificate (data key: cert)", "text", when=signs),
        Question("kmm.sign.files_to_sign", "Files to sign, under the directory above (comma separated)", "list",
                 when=signs),
        Question("kmm.sign.unsigned_image", "Unsigned image to sign when nothing is built (optional)", "text",
                 when=signs),
    ), when=is_kmm),
    Step("extras", "Extras", "Optional companions: an ACM hub, and a check against an upcoming kernel.", (
        Question("kmm.acm_hub", "Generate a ManagedClusterModule for an ACM hub?", "select", when=is_kmm),
        Question("kmm.acm_cluster_selector", "Managed clusters to target (labels)", "records",
                 when=lambda a: is_kmm(a) and a.get("kmm.acm_hub")),
        Question("kmm.preflight_kernel", "Upcoming kernel to check (PreflightValidationOCP, optional)", "text",
                 when=is_kmm),
        Question("kmm.preflight_dtk_image", "Driver Toolkit image of that release (optional)", "text",
                 when=lambda a: is_kmm(a) and bool(a.get("kmm.preflight_kernel"))),
        Question("kmm.preflight_push", "Push the images the preflight check builds?", "select",
                 when=lambda a: is_kmm(a) and bool(a.get("kmm.preflight_kernel"))),
    ), when=is_kmm),
    Step("output", "Service and name", "How the service starts at boot, and what the MachineConfig is called.", (
        Question("kvc.enable_style", "How is the KVC service enabled?", "select", when=is_kvc),
        Question("machineconfig.name", "MachineConfig name", "text", when=is_kvc),
    ), when=is_kvc),
    Step("overlay", "Kept from the original", "Imported objects held fields the answers cannot express; they are "
         "set on the generated objects as written here.", (
             Question("overlay", "Fields kept verbatim (object, path, value)", "records", when=has_overlay),
         ), when=has_overlay),
)


def steps_for(answers: Answers) -> list[Step]:
    """The steps that apply to these answers, in order, each with at least one question."""
    return [s for s in FLOW if s.when(answers) and questions_for(s, answers)]


def questions_for(step: Step, answers: Answers) -> list[Question]:
    return [q for q in step.questions if q.when(answers)]


def step_of(key: str) -> Optional[Step]:
    """The step that asks for a key: where a front end moves focus for a finding."""
    for step in FLOW:
        if any(q.key == key for q in step.questions):
            return step
    return None
