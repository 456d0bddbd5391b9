"""``kmwizard migrate``: a KVC deployment (its MachineConfig, or KVC answers) -> the equivalent KMM Module.

What carries over (docs/migrate.md has the table):

* ``KMOD_NAMES`` of the instance conf -> the module to load and the loading order; each name's .ko;
* the module's sources -> a Driver Toolkit build (``kmm.build=generate``): the repository the KVC
  Dockerfile clones, at ``KMOD_SOFTWARE_VERSION`` (the ref the KVC build checks out);
* the kernels -> kernel mappings: one literal mapping per given kernel, else one for every kernel;
* the pool role -> the Module's node-role selector; the entitlement choice as it was;
* the order of the switch: apply KMM, verify it loads, delete the MachineConfig (nodes reboot).

KVC loads the module at boot, before the kubelet; KMM loads it when its pod runs.  For drivers the
node needs early (storage, network), KMM 2.5+ on OpenShift 4.20+ offers a ``BootModuleConfig``: KMM
then keeps a MachineConfig that pulls the image and loads the module at boot.  Whatever cannot be
carried over is listed, never dropped silently.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import Finding, error, has_errors, info, warning
from kmwizard.records import field, record
from kmwizard.regexps import lazy
from kmwizard.render import OutputFile, dump_yaml
from kmwizard.textfiles import DOCKERFILE_MAX, MANIFEST_MAX, InputFileError, is_regular, read_regular_file

BMC_API = "kmm.sigs.x-k8s.io/v1beta1"
FRAMEWORK_FILES = ("/etc/kvc/kmods-via-containers.conf", "/etc/systemd/system/kmods-via-containers@.service",
                   "/usr/local/bin/kmods-via-containers")
# git clone [options] <repository>: options that take a value are skipped with it
_CLONE = lazy(r"git[ \t]+clone[ \t]+(?:(?:-b|--branch|--depth|-c|--config|-o|--origin)(?:[ \t]+|=)\S+[ \t]+"
                    r"|-\S+[ \t]+)*(\S+)")
_MAKE = lazy(r"(?:^RUN|&&|;)[ \t]*make[ \t]+([A-Za-z0-9_.-]+)(?=[ \t\n])", re.M)
_BASEURL = lazy(r"baseurl=(\S+?)(?:\\n|\s|$)")
_CHECKOUT_KMODVER = lazy(r"git[ \t]+(?:-C[ \t]+\S+[ \t]+)?checkout[ \t]+\$\{?KMODVER\}?")
_BRANCH = lazy(r"git[ \t]+clone[ \t]+(?:\S+[ \t]+)*?(?:-b|--branch)[ \t=]+(\S+)")


@record
class KvcFacts:
    """What migrate reads from a KVC deployment."""
    module_name: str
    role: str
    openshift_version: str
    mc_name: str
    conf: dict[str, str]                     # literal instance conf values
    tree: dict[str, tuple[bytes, int]]       # node path -> (bytes, mode)
    entitlement: str = "node"
    certs: dict[str, bytes] = field(default_factory=dict)
    certs_dir: str = ""
    yum_repo: str = ""
    dockerfile: Optional[str] = None         # the KVC build's Dockerfile, when known
    overlay: list = field(default_factory=list)


@record
class Migration:
    answers: Optional[Answers] = None
    files: list[OutputFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    not_migrated: list[str] = field(default_factory=list)
    boot_module_config: Optional[dict] = None

    @property
    def ok(self) -> bool:
        return self.answers is not None and not has_errors(self.findings)


# --- reading the KVC side -----------------------------------------------------------

def facts_from_machineconfig(where: str, mc: dict) -> tuple[Optional[KvcFacts], list[Finding]]:
    from kmwizard.importing.common import strip_server_fields
    from kmwizard.importing.kvc import import_machineconfig

    try:
        result = import_machineconfig(where, strip_server_fields(mc))
    except (TypeError, AttributeError, KeyError, ValueError, IndexError):
        from kmwizard.kvc.lint import lint_document

        named = [f for f in lint_document(mc, where) or [] if f.severity.value == "error"]
        return None, [*named, error(where, "the MachineConfig holds fields of types the API does not allow (the "
                                    "errors above name them)", "fix it (kmwizard validate FILE), then migrate again",
                                    code="migrate-shape")]
    if not result.originals:
        return None, result.findings
    v = result.values
    tree = result.facts.get("tree", {})
    facts = KvcFacts(module_name=v["kvc.module_name"], role=v.get("role", "worker"),
                     openshift_version=v.get("openshift_version", "4.14"), mc_name=v.get("machineconfig.name", ""),
                     conf=result.facts.get("conf", {}), tree=tree)
    _entitlement_from_tree(facts)
    context = facts.conf.get("KMOD_CONTAINER_BUILD_CONTEXT", "")
    build_file = facts.conf.get("KMOD_CONTAINER_BUILD_FILE", "")
    local = tree.get(build_file) or (tree.get(f"{context.rstrip('/')}/{build_file}") if context.startswith("/")
                                     else None)
    if local:
        facts.dockerfile = local[0].decode("utf-8", "replace")
    return facts, [f for f in result.findings if f.severity.value != "info"]


def _entitlement_from_tree(facts: KvcFacts) -> None:
    certs = {Path(p).name: content for p, (content, _m) in facts.tree.items()
             if p.startswith("/etc/pki/entitlement/") and p.endswith(".pem")}
    if certs:
        facts.entitlement, facts.certs = "certs", certs
        return
    build = facts.tree.get(f"/etc/kvc/{facts.module_name}-build/Dockerfile")
    if build:
        match = _BASEURL.search(build[0].decode("utf-8", "replace"))
        if match:
            facts.entitlement, facts.yum_repo = "yum-repo", match.group(1)


def facts_from_answers(answers: Answers) -> tuple[Optional[KvcFacts], list[Finding]]:
    from kmwizard.kvc import fetch
    from kmwizard.kvc.instance import parse_conf

    if answers.get("method") != "kvc":
        return None, [error("method", "migrate reads KVC answers (method kvc)", "give KVC answers or a "
                            "KVC MachineConfig file", code="migrate-method")]
    try:
        root, module_dir = fetch.fakeroot_for(answers)
    except fetch.FetchError as exc:
        return None, [error(exc.where, exc.message, exc.fix, code="migrate-fetch")]
    name = answers.get("kvc.module_name")
    tree = {}
    for path in Path(root).rglob("*"):
        if path.is_dir():
            continue
        try:  # a regular file, as generate's transpile demands: not a link into /proc, a FIFO or a device
            data = read_regular_file(path, what="file of the KVC tree", limit=MANIFEST_MAX)
        except InputFileError as exc:
            return None, [error("kvc.fakeroot", exc.message, exc.fix, code="migrate-tree")]
        tree["/" + path.relative_to(root).as_posix()] = (data, path.stat().st_mode & 0o7777)
    conf_bytes = tree.get(f"/etc/kvc/{name}.conf", (b"", 0))[0]
    conf = {k: a.value for k, a in parse_conf(conf_bytes.decode("utf-8", "replace")).items() if a.literal}
    if answers.get("kvc.software_version"):
        conf["KMOD_SOFTWARE_VERSION"] = answers.get("kvc.software_version")
    facts = KvcFacts(module_name=name, role=answers.get("role"), openshift_version=answers.get("openshift_version"),
                     mc_name=answers.get("machineconfig.name"), conf=conf, tree=tree,
                     entitlement=answers.get("entitlement.source"), certs_dir=answers.get("entitlement.certs_dir"),
                     yum_repo=answers.get("entitlement.yum_repo"), overlay=list(answers.get("overlay")))
    build_file = answers.get("kvc.build_file")
    if module_dir is not None and is_regular(Path(module_dir) / build_file):
        try:
            facts.dockerfile = read_regular_file(Path(module_dir) / build_file, what="build file",
                                                 limit=DOCKERFILE_MAX).decode("utf-8", "replace")
        except InputFileError as exc:
            return None, [error("kvc.build_file", exc.message, exc.fix, code="migrate-build-file")]
    return facts, []


# --- KVC -> KMM ---------------------------------------------------------------------

def migrate(facts: KvcFacts, *, kernels: list[str] = (), kmm_version: Optional[str] = None,
            source_repo: Optional[str] = None, source_ref: Optional[str] = None,
            namespace: str = "openshift-kmm", certs_dir: str = "") -> Migration:
    out = Migration()
    names = facts.conf.get("KMOD_NAMES", "").split()
    where_conf = f"/etc/kvc/{facts.module_name}.conf"
    if not names:
        out.findings.append(error(f"{where_conf}:KMOD_NAMES", "the instance conf names no module (KMOD_NAMES is "
                                  "missing, empty or computed by the shell)", "set KMOD_NAMES in the conf to the "
                                  "modules modprobe loads", code="migrate-kmod-names"))
        return out
    repo, ref, make_target, problem = _sources(facts, source_repo, source_ref)
    if problem:
        out.findings.append(problem)
        return out
    v: dict[str, Any] = {
        "method": "kmm", "role": facts.role, "openshift_version": facts.openshift_version,
        "kmm.namespace": namespace, "kmm.module_name": names[0], "kmm.ko_files": [f"{n}.ko" for n in names],
        "kmm.build": "generate", "kmm.source_repo": repo, "kmm.source_ref": ref, "kmm.source_subdir": "",
        "kmm.make_target": make_target, "entitlement.source": facts.entitlement,
    }
    if len(names) > 1:
        v["kmm.modules_loading_order"] = names
    if kmm_version:
        v["kmm.kmm_version"] = kmm_version
    if kernels:
        v["kmm.kernel_mappings"] = [{"literal": k} for k in kernels]
    if facts.entitlement == "yum-repo":
        v["entitlement.yum_repo"] = facts.yum_repo
    if facts.entitlement == "certs":
        v["entitlement.certs_dir"] = certs_dir or facts.certs_dir
    try:
        answers = Answers().update(v)
    except AnswersError as exc:
        out.findings.extend(exc.findings)
        return out
    from kmwizard.render import render

    rendering = render(answers)
    out.findings.extend(rendering.findings)
    if not rendering.ok:
        return out
    out.answers = answers
    out.files = [f for f in rendering.written_files]
    module = next(m for m in rendering.manifests if m["kind"] == "Module")
    out.findings.append(info("kmm.module_name", f"KMOD_NAMES {' '.join(names)} -> moduleName {names[0]}"
                             + (f", modulesLoadingOrder {', '.join(names)}" if len(names) > 1 else "")
                             + f"; the Driver Toolkit builds {repo} at {ref} (make {make_target})",
                             code="migrate-mapped"))
    _entitlement_note(facts, out)
    _bmc(facts, answers, module, kernels, out)
    out.not_migrated = _not_migrated(facts)
    out.steps = _steps(facts, answers, module, out.boot_module_config is not None)
    return out


def _sources(facts: KvcFacts, repo: Optional[str], ref: Optional[str]):
    """(repository, ref, make target, problem) of the module's sources, from the KVC Dockerfile."""
    version = facts.conf.get("KMOD_SOFTWARE_VERSION", "")
    target, default_ref = "all", version or "HEAD"  # the KVC build passes the version as KMODVER
    if facts.dockerfile:
        clone = _CLONE.search(facts.dockerfile)
        if clone and not repo:
            repo = clone.group(1)
        make = _MAKE.search(facts.dockerfile)
        if make:
            target = make.group(1)
        if not _CHECKOUT_KMODVER.search(facts.dockerfile):
            # the KVC Dockerfile builds what it clones: the branch it names, else the default branch
            branch = _BRANCH.search(facts.dockerfile)
            default_ref = branch.group(1) if branch else "HEAD"
    ref = ref or default_ref
    if not repo:
        context = facts.conf.get("KMOD_CONTAINER_BUILD_CONTEXT", "(not set)")
        build_file = facts.conf.get("KMOD_CONTAINER_BUILD_FILE", "(not set)")
        return None, None, None, error(
            "--source-repo", f"the module's source repository is not known: the KVC build runs {build_file} from "
            f"{context}, which this input does not carry",
            f"pass --source-repo with the git URL {build_file} clones (and --source-ref; default "
            f"KMOD_SOFTWARE_VERSION {version or '(not set)'})", code="migrate-source")
    return repo, ref, target, None


def _entitlement_note(facts: KvcFacts, out: Migration) -> None:
    text = {"node": "entitlement.source node: KMM builds on the Driver Toolkit, which carries the kernel "
                    "headers, so the nodes' entitlement is no longer needed for the build",
            "certs": "entitlement.source certs: the certificates go into a build Secret instead of every node",
            "yum-repo": f"entitlement.source yum-repo: the build adds {facts.yum_repo} as it did on the nodes"}
    out.findings.append(info("entitlement.source", text.get(facts.entitlement, facts.entitlement),
                             code="migrate-entitlement"))


def _bmc(facts: KvcFacts, answers: Answers, module: dict, kernels: list, out: Migration) -> None:
    from kmwizard.keys.kmm import parse_version
    from kmwizard.kmm.variables import kernel_variables, substitute

    kmm = parse_version(answers.get("kmm.kmm_version"))
    minor = int(str(answers.get("openshift_version")).split(".")[1])
    if kmm < (2, 5) or minor < 20:
        out.findings.append(info("kmm.kmm_version", f"KMM {answers.get('kmm.kmm_version')} on OpenShift "
                                 f"{answers.get('openshift_version')}: no BootModuleConfig (it needs KMM 2.5+ on "
                                 "OpenShift 4.20+), so the module loads when KMM's pod runs on a node, after the "
                                 "kubelet starts, not at boot as with KVC; a storage or network driver the node "
                                 "needs to boot must stay on KVC until then", code="migrate-boot"))
        return
    image = module["spec"]["moduleLoader"]["container"].get("containerImage", "")
    if len(kernels) == 1:
        image = substitute(image, {**kernel_variables(kernels[0]), "MOD_NAME": module["metadata"]["name"],
                                   "MOD_NAMESPACE": module["metadata"]["namespace"]})
    bmc_mc = f"99-{facts.role}-kmm-{module['metadata']['name']}"
    out.boot_module_config = {
        "apiVersion": BMC_API, "kind": "BootModuleConfig",
        "metadata": {"name": module["metadata"]["name"], "namespace": module["metadata"]["namespace"]},
        "spec": {"kernelModuleImage": image, "kernelModuleName": answers.get("kmm.module_name"),
                 "machineConfigName": bmc_mc, "machineConfigPoolName": facts.role}}
    out.files.append(OutputFile(f"bootmoduleconfig-{module['metadata']['name']}.yaml",
                                dump_yaml(out.boot_module_config).encode(), title="BootModuleConfig (optional)"))
    concrete = "$" not in image
    out.findings.append(info("kmm.kmm_version", f"KMM {answers.get('kmm.kmm_version')} on OpenShift "
                             f"{answers.get('openshift_version')} can load the module at boot like KVC: "
                             f"bootmoduleconfig-{module['metadata']['name']}.yaml makes KMM create and keep "
                             f"MachineConfig {bmc_mc} (labelled for pool {facts.role}) whose units pull the image "
                             f"and load {answers.get('kmm.module_name')} at boot, before the kubelet, with node "
                             "disruption policies for them. Use it for storage or network drivers",
                             code="migrate-boot"))
    if not concrete:
        out.findings.append(warning("--kernel", f"kernelModuleImage {image} still holds kernel variables: the boot "
                                    "unit pulls it as written", "pass the pool's kernel with --kernel (one) to "
                                    "name the concrete image", code="migrate-bmc-image"))


def _not_migrated(facts: KvcFacts) -> list[str]:
    name = facts.module_name
    kvc_files = set(FRAMEWORK_FILES) | {f"/etc/kvc/{name}.conf", f"/usr/local/lib/kvc/{name}-lib.sh",
                                        f"/etc/kvc/{name}-build/Dockerfile"}
    left = []
    wrappers = [p for p, (content, _m) in facts.tree.items() if f"kmods-via-containers wrapper {name}".encode()
                in content]
    for path in sorted(facts.tree):
        if path in kvc_files or path.startswith("/etc/pki/entitlement/"):
            continue
        why = ("a userspace wrapper that runs tools inside the KVC container: KMM images hold modules only; "
               "ship the tool another way (a DaemonSet or an image)") if path in wrappers else \
            "a file the MachineConfig delivered besides the module: KMM does not deliver files; keep it in a " \
            "small MachineConfig of its own"
        left.append(f"{path}: {why}")
    for key in sorted(set(facts.conf) - {"KMOD_CONTAINER_BUILD_CONTEXT", "KMOD_CONTAINER_BUILD_FILE",
                                          "KMOD_SOFTWARE_VERSION", "KMOD_NAMES"}):
        left.append(f"{key} in the instance conf: read by the KVC scripts only; carry it into the build yourself")
    for record in facts.overlay:
        left.append(f"overlay {record['object']} {record['path']}: a field kept from the original MachineConfig")
    return left


def _steps(facts: KvcFacts, answers: Answers, module: dict, bmc: bool) -> list[str]:
    ns, name = module["metadata"]["namespace"], module["metadata"]["name"]
    first = " ".join(answers.get("kmm.modules_loading_order") or [answers.get("kmm.module_name")])
    steps = [
        f"Apply the KMM objects (the KVC module stays loaded meanwhile): kmwizard apply --answers answers.yaml "
        f"(or oc apply -f for the files here){'; add bootmoduleconfig-' + name + '.yaml for loading at boot' if bmc else ''}",
        f"Verify KMM built the image and loads it on every node of the {facts.role} pool: kmwizard verify --answers "
        f"answers.yaml --module {first.split()[0]} (oc get module {name} -n {ns} -o yaml shows the nodes)",
        f"Delete the KVC MachineConfig: oc delete machineconfig {facts.mc_name}. The Machine Config Operator then "
        f"drains and reboots each node of the {facts.role} pool, one at a time; after the reboot KVC is gone and "
        "KMM loads the module again when its pod starts"
        + (", or at boot through the BootModuleConfig" if bmc else ""),
        f"After the pool is updated (oc get mcp {facts.role}), verify again: kmwizard verify --answers answers.yaml",
    ]
    return steps


def steps_text(out: Migration) -> str:
    lines = ["# Migrating from KVC to KMM", "", "Steps, in an order that never leaves a node without its module:", ""]
    lines += [f"{i}. {s}" for i, s in enumerate(out.steps, 1)]
    lines += ["", "## Not migrated automatically", ""]
    lines += [f"- {item}" for item in out.not_migrated] or ["- nothing"]
    return "\n".join(lines) + "\n"


# --- the command's core ---------------------------------------------------------------

def plan_migration(facts: KvcFacts, out_dir: str | Path, **options) -> Migration:
    """``migrate`` with every file to write: answers.yaml, the KMM files, MIGRATION.md, and the entitlement
    certificates (0600) the answers point at inside ``out_dir``."""
    import tempfile

    final = Path(out_dir).expanduser().resolve()
    with tempfile.TemporaryDirectory(prefix="kmwizard-migrate-") as staging:
        certs_dir = ""
        if facts.certs:
            certs_dir = str(Path(staging) / "entitlement")
            Path(certs_dir).mkdir(mode=0o700)
            for name, content in facts.certs.items():
                (Path(certs_dir) / name).write_bytes(content)
        out = migrate(facts, certs_dir=certs_dir, **options)
    if not out.ok:
        return out
    if facts.certs:
        out.answers = out.answers.set("entitlement.certs_dir", str(final / "entitlement"))
        out.files += [OutputFile(f"entitlement/{n}", c, mode=0o600, secret=True) for n, c in sorted(facts.certs.items())]
    secret = any(f.secret for f in out.files)
    out.files = [OutputFile("answers.yaml", out.answers.to_yaml().encode()), *out.files,
                 OutputFile("MIGRATION.md", steps_text(out).encode())]
    if secret:
        out.findings.append(info("entitlement.certs_dir", "files holding keys are written 0600", code="migrate-secret"))
    return out
