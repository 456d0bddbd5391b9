"""The module loader Dockerfile: generated from the answers, and linted (generated or hand-written).

KMM runs the Dockerfile as an OpenShift Docker-strategy Build.  It does not substitute anything in
it: plain Docker ARG expansion applies, with the build args KMM passes (KERNEL_FULL_VERSION,
KERNEL_VERSION, MOD_NAME, MOD_NAMESPACE, DTK_AUTO on OpenShift, plus the Module's buildArgs).
"""
from __future__ import annotations

import json
import re
from typing import Iterable, Optional

from kmwizard.findings import Finding, KmwizardError, error, info, warning
from kmwizard.keys.kmm import SAFE_WORD as _SAFE_WORD
from kmwizard.kmm.variables import references
from kmwizard.records import field, record
from kmwizard.regexps import lazy

KMM_BUILD_ARGS = ("KERNEL_FULL_VERSION", "KERNEL_VERSION", "MOD_NAME", "MOD_NAMESPACE", "DTK_AUTO")
SOURCE_DIR = "/usr/src/module"


# --- generation ---------------------------------------------------------------------

def _rhel_major(openshift_version: str) -> int:
    # RHCOS moved to RHEL 9 with OpenShift 4.13.
    minor = int(openshift_version.split(".")[1])
    return 9 if minor >= 13 else 8


def _check_word(key: str, value: str) -> str:
    if not value or not _SAFE_WORD.match(value):
        exc = KmwizardError(f"{key}={value!r} cannot go into the Dockerfile: it is empty or has spaces, quotes "
                            "or shell characters", f"set {key} to a plain URL, ref, path or make target")
        exc.where = key  # render() reports the finding at this answer key
        raise exc
    return value


def generate_dockerfile(answers) -> str:
    """The multi-stage Dockerfile for kmm.build=generate (Driver Toolkit, entitled or yum-repo builder)."""
    repo = _check_word("kmm.source_repo", str(answers.get("kmm.source_repo")))
    ref = _check_word("kmm.source_ref", str(answers.get("kmm.source_ref")))
    subdir = str(answers.get("kmm.source_subdir")).strip("/")
    if subdir:
        _check_word("kmm.source_subdir", subdir)
    targets = [_check_word("kmm.make_target", t) for t in str(answers.get("kmm.make_target")).split()]
    build_dir = f"{SOURCE_DIR}/{subdir}" if subdir else SOURCE_DIR
    dir_name = str(answers.get("kmm.dir_name")).rstrip("/") or "/opt"
    rhel = _rhel_major(str(answers.get("openshift_version")))
    source = answers.get("entitlement.source")
    extra_args = [str(a["name"]) for a in answers.get("kmm.build_args")]

    # The Driver Toolkit has the node's kernel installed (so the usual build link exists); on UBI only
    # kernel-devel is, whose tree lies under /usr/src/kernels.
    kernel_src = ("/lib/modules/${KERNEL_FULL_VERSION}/build" if source == "node"
                  else "/usr/src/kernels/${KERNEL_FULL_VERSION}")
    lines: list[str] = []
    if source == "node":
        lines += ["# The Driver Toolkit matching each node's RHCOS: KMM sets DTK_AUTO for the build.",
                  "ARG DTK_AUTO", "FROM ${DTK_AUTO} as builder", "ARG KERNEL_FULL_VERSION"]
    else:
        lines += [f"FROM registry.redhat.io/ubi{rhel}/ubi:latest as builder", "ARG KERNEL_FULL_VERSION"]
    lines += [f"ARG {name}" for name in extra_args]
    if source == "certs":
        secret = answers.get("kmm.entitlement_secret")
        lines += [
            f"# Entitlement certificates from the build secret {secret}, mounted for this build only.",
            "RUN rm -f /etc/rhsm-host && mkdir -p /etc/pki/entitlement \\",
            f"    && cp /run/secrets/{secret}/*.pem /etc/pki/entitlement/ \\",
            *_install_devel_lines(more=True),
            "    && rm -rf /etc/pki/entitlement",
        ]
    elif source == "yum-repo":
        from kmwizard.entitlement import REPO_PATH, repo_file

        url = _check_word("entitlement.yum_repo", str(answers.get("entitlement.yum_repo")))
        # The same .repo as the KVC method: the packages must carry Red Hat's signature
        # (the key ships in UBI), so a tampered mirror or a plain-http hop cannot slip code in.
        template = repo_file("%s").replace("\n", "\\n")
        lines += [
            "# A repository carrying kernel-devel for the nodes' exact kernels (Red Hat-signed).",
            f"RUN printf '{template}' '{url}' > {REPO_PATH} \\",
            *_install_devel_lines(),
        ]
    lines += [
        f"RUN {json.dumps(['git', 'clone', repo, SOURCE_DIR])}",
        f"RUN {json.dumps(['git', '-C', SOURCE_DIR, 'checkout', ref])}",
        f"WORKDIR {build_dir}",
        f"RUN make KERNEL_SRC_DIR={kernel_src} KERNELDIR={kernel_src} KVER=${{KERNEL_FULL_VERSION}} "
        + " ".join(targets),
        "",
        "# A small final stage: KMM's worker copies the modules out with /bin/sh and cp; depmod needs kmod.",
        f"FROM registry.redhat.io/ubi{rhel}/ubi-minimal:latest",
        "ARG KERNEL_FULL_VERSION",
        "RUN microdnf install -y kmod && microdnf clean all",
    ]
    for ko in answers.get("kmm.ko_files"):
        lines.append(f"COPY --from=builder {build_dir}/{ko} {dir_name}/lib/modules/${{KERNEL_FULL_VERSION}}/")
    firmware_path = str(answers.get("kmm.firmware_path")).rstrip("/")
    for fw in answers.get("kmm.firmware_files"):
        lines.append(f"COPY --from=builder {build_dir}/{_check_word('kmm.firmware_files', str(fw))} "
                     f"{firmware_path or '/firmware'}/")
    lines.append(f"RUN depmod -b {dir_name} ${{KERNEL_FULL_VERSION}}")
    return "\n".join(lines) + "\n"


def _install_devel_lines(more: bool = False) -> list[str]:
    """The shell lines that install kernel-devel for the node's kernel; `more`: a line follows."""
    return [
        # uname -r of a kernel variant ends in +rt or +64k (RHEL 9.3+); older realtime kernels carry .rtN.
        "    && case \"${KERNEL_FULL_VERSION}\" in *+rt|*.rt[0-9]*) devel=kernel-rt-devel ;; "
        "*+64k) devel=kernel-64k-devel ;; *) devel=kernel-devel ;; esac \\",
        "    && dnf install -y \"${devel}-${KERNEL_FULL_VERSION%%+*}\" gcc make git elfutils-libelf-devel \\",
        "    && dnf clean all" + (" \\" if more else ""),
    ]


# --- parsing ------------------------------------------------------------------------

@record
class Instruction:
    line: int          # 1-based line of the instruction's first line
    keyword: str       # upper case
    args: str


@record
class Stage:
    index: int
    base: str
    alias: str
    line: int
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions (continuations joined, comments dropped) and the stages they form."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
    if pending:
        keyword, _, args = pending.strip().partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            base = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(Stage(len(stages), base, alias, ins.line))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def _declared_args(instructions: Iterable[Instruction]) -> set[str]:
    names = set()
    for ins in instructions:
        if ins.keyword == "ARG":
            for word in ins.args.split():
                names.add(word.split("=", 1)[0])
        elif ins.keyword == "ENV":
            # ENV A=b C=d, or the legacy ENV A b
            words = ins.args.split()
            if words and "=" not in words[0]:
                names.add(words[0])
            names.update(w.split("=", 1)[0] for w in words if "=" in w)
    return names


_NO_SHELL_BASES = lazy(r"^(scratch|.*distroless.*)$", re.IGNORECASE)


def lint_dockerfile(text: str, where: str, *, dir_name: Optional[str] = "/opt",
                    build_args: Iterable[str] = ()) -> list[Finding]:
    """Findings for a module loader Dockerfile: what makes the build fail or the module never load.

    ``dir_name`` is the modprobe.dirName of the Module that builds with it; None when unknown (a
    ConfigMap no Module in the same files names): then /opt, the CRD's default, is assumed and
    a .ko directory elsewhere is only a warning."""
    findings: list[Finding] = []
    instructions, stages = parse(text)
    if not stages:
        return [error(where, "the Dockerfile has no FROM instruction", "start it with FROM (see docs/kmm.md)",
                      code="kmm-dockerfile-no-from")]
    # Only ARG may come before the first FROM: anything else belongs to no build stage and the build
    # stops at once ("no build stage in current context", BuildKit's instructions.Parse).
    for ins in instructions:
        if ins.line >= stages[0].line:
            break
        if ins.keyword != "ARG":
            findings.append(error(f"{where}:line {ins.line}", f"{ins.keyword} comes before the first FROM: only ARG "
                                  "may, so the build fails with 'no build stage in current context'",
                                  f"move the {ins.keyword} after the FROM of the stage it belongs to",
                                  code="kmm-dockerfile-before-from"))
    known_dir = dir_name is not None
    dir_name = (dir_name or "/opt").rstrip("/") or "/opt"
    known = set(KMM_BUILD_ARGS) | set(build_args)

    # ARG before the first FROM is usable in FROM lines only.
    global_args: set[str] = set()
    for ins in instructions:
        if ins.keyword == "FROM":
            for ref in references(ins.args):
                if ref.name not in global_args:
                    hint = ("put `ARG DTK_AUTO` on the first line, before FROM" if ref.name == "DTK_AUTO"
                            else f"declare `ARG {ref.name}` before the first FROM")
                    findings.append(error(f"{where}:line {ins.line}", f"FROM reads {ref.text} but ARG {ref.name} "
                                          "is not declared before the first FROM, so it expands to empty and the "
                                          "build fails", hint, code="kmm-dockerfile-from-arg"))
        elif ins.keyword == "ARG" and not _stage_started(ins, stages):
            global_args.update(w.split("=", 1)[0] for w in ins.args.split())

    declared_anywhere = _declared_args(instructions) | known
    for stage in stages:
        in_stage: set[str] = set()
        for ins in stage.instructions:
            if ins.keyword in ("ARG", "ENV"):
                in_stage |= _declared_args([ins])
                continue
            if ins.keyword in ("RUN", "COPY", "ADD", "WORKDIR", "LABEL", "USER", "VOLUME", "EXPOSE") and \
                    not (ins.keyword == "RUN" and ins.args.startswith("[")):
                for ref in references(ins.args):
                    # Only names that are build args somewhere: other $x are the shell's own variables.
                    if ref.name in declared_anywhere and ref.name not in in_stage:
                        findings.append(error(
                            f"{where}:line {ins.line}",
                            f"{ins.keyword} reads {ref.text} but stage {stage.index} (FROM {stage.base}) does not "
                            f"declare ARG {ref.name}: an ARG is scoped to the stage that declares it, so this is "
                            "empty", f"add `ARG {ref.name}` after the FROM of this stage",
                            code="kmm-dockerfile-arg-scope"))
                        in_stage.add(ref.name)  # one finding per name and stage

    findings += _swallowed_instructions(text, where)
    final = stages[-1]
    if _NO_SHELL_BASES.match(final.base):
        findings.append(error(f"{where}:line {final.line}", f"the final stage is FROM {final.base}, which has no "
                              "/bin/sh or cp: KMM 2.2+ copies the modules out of the image with them",
                              "end with a small image that has a shell, coreutils and kmod, e.g. "
                              "registry.redhat.io/ubi9/ubi-minimal with `microdnf install -y kmod`",
                              code="kmm-dockerfile-final-no-shell"))
    modules_dir = f"{dir_name}/lib/modules"
    places = [ins for ins in instructions if ins.keyword in ("COPY", "ADD", "RUN") and modules_dir in ins.args]
    elsewhere = [ins for ins in instructions if ins.keyword in ("COPY", "ADD", "RUN") and "/lib/modules/" in ins.args]
    if not places and not known_dir and elsewhere:
        findings.append(warning(f"{where}:line {elsewhere[0].line}", f"the .ko files go to a lib/modules directory "
                                f"outside {modules_dir}: right only if the Module building with this ConfigMap sets "
                                "modprobe.dirName to that root (no Module in these files names this ConfigMap, so "
                                "the default /opt was assumed)", "validate the ConfigMap together with its Module",
                                code="kmm-dockerfile-dirname-unknown"))
    elif not places:
        findings.append(error(where, f"the Dockerfile never puts the .ko files under {modules_dir}/<kernel>/, "
                              f"where KMM looks for them (modprobe.dirName is {dir_name}"
                              + ("" if known_dir else ", the default: no Module in these files names this ConfigMap")
                              + ")", f"COPY the .ko files to {modules_dir}/${{KERNEL_FULL_VERSION}}/ in the final "
                              "stage", code="kmm-dockerfile-no-ko-copy"))
    elif not any(re.search(re.escape(modules_dir) + r"/\$\{?KERNEL_(FULL_)?VERSION", ins.args) for ins in places):
        findings.append(warning(f"{where}:line {places[0].line}", f"the .ko files go to a fixed directory under "
                                f"{modules_dir}/, not to {modules_dir}/${{KERNEL_FULL_VERSION}}/: the directory "
                                "must equal each node's `uname -r`", "use ${KERNEL_FULL_VERSION} in the path",
                                code="kmm-dockerfile-fixed-kernel-dir"))
    for ins in final.instructions:
        if ins.keyword == "RUN" and re.search(r"\bdepmod\b", ins.args) and " -b" in ins.args \
                and not re.search(r"\$\{?KERNEL_(FULL_)?VERSION", ins.args):
            findings.append(warning(f"{where}:line {ins.line}", "depmod -b without a kernel version indexes the "
                                    "modules of the build host's `uname -r`, not of the node kernel: modules.dep "
                                    "for the node kernel is missing", f"RUN depmod -b {dir_name} "
                                    "${KERNEL_FULL_VERSION} (declare ARG KERNEL_FULL_VERSION in this stage)",
                                    code="kmm-dockerfile-depmod-kernel"))
    if not any("depmod" in ins.args for ins in instructions if ins.keyword == "RUN"):
        findings.append(warning(where, "the Dockerfile never runs depmod: without modules.dep, modprobe cannot "
                                "load modules that depend on each other", f"end with `RUN depmod -b {dir_name} "
                                "${KERNEL_FULL_VERSION}` (needs kmod in the final stage)",
                                code="kmm-dockerfile-no-depmod"))
    if len(stages) == 1 and "DTK_AUTO" in final.base:
        findings.append(info(where, "the Driver Toolkit is the final stage: the module loader image will be "
                             "several GB", "build in a DTK stage and copy the .ko files into a small final stage",
                             code="kmm-dockerfile-single-stage"))
    return findings


_INSTRUCTION_START = lazy(r"^(FROM|RUN|COPY|ADD|WORKDIR|ARG|ENV)\s")


def _swallowed_instructions(text: str, where: str) -> list[Finding]:
    """A trailing backslash joins the next line: an instruction there becomes shell words."""
    findings, continued = [], False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        if continued and _INSTRUCTION_START.match(stripped):
            findings.append(error(f"{where}:line {number}", f"the line before ends with a backslash, so "
                                  f"{stripped.split()[0]} on this line is part of the previous command, not an "
                                  "instruction", "remove the trailing backslash from the line before",
                                  code="kmm-dockerfile-continuation"))
        continued = stripped.endswith("\\")
    return findings


def _stage_started(ins: Instruction, stages: list[Stage]) -> bool:
    return bool(stages) and ins.line > stages[0].line
