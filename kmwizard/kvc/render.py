"""The KVC method end to end: answers -> fakeroot -> Ignition -> MachineConfig (+ files).

Steps, each in its own module: obtain the fakeroot (``fetch``), fix the instance conf
for RHCOS (``instance``), add the entitlement payload (``entitlement``), transpile the
tree into ``storage.files`` (``transpile``), merge into the base config (``ignition``),
wrap it in a MachineConfig (``machineconfig``) and lint the result (``lint``).
"""
from __future__ import annotations

import copy
import json

from kmwizard.findings import Finding, has_errors, info
from kmwizard import entitlement
from kmwizard.kvc import LISTING_HEADER, buildfile, fetch, ignition, instance, lint, machineconfig, transpile
from kmwizard.rendering import OutputFile, Rendering, manifest_file

SECRET_MARK = "  [secret]"  # after a listed path whose content the previews mask
REDACTED = "data:,<redacted%20by%20kmwizard:%20secret%20file%20content%20not%20shown>"


def render_kvc(answers) -> Rendering:
    name = answers.get("kvc.module_name")
    version = answers.get("openshift_version")
    day, role = answers.get("day"), answers.get("role")
    mc_name = answers.get("machineconfig.name")
    mc_path = f"{mc_name}.yaml"
    gzip_allowed = ignition.supports_gzip(version)

    root, module_dir = fetch.fakeroot_for(answers)
    findings: list[Finding] = []
    tree_secrets: set[str] = set()     # 0600 files and private keys of the tree: masked like entitlement keys
    fetched = not answers.get("kvc.fakeroot")
    # a fetched tree lives in kmwizard's cache: findings name the user's answer, not that path
    tree_files, tree_findings = transpile.transpile_tree(
        root, gzip_allowed=gzip_allowed, secrets=tree_secrets,
        where="kvc.module_repo" if fetched else transpile.WHERE,
        label="the tree `make install` built from kvc.framework_repo and kvc.module_repo" if fetched else "")
    findings.extend(tree_findings)
    unusable_build = fetched and has_errors(tree_findings)

    payload = entitlement.entitlement_files(
        answers.get("entitlement.source"), certs_dir=answers.get("entitlement.certs_dir") or None,
        yum_repo=answers.get("entitlement.yum_repo") or None, module_name=name, module_dir=module_dir,
        build_file=answers.get("kvc.build_file"))
    findings.extend(payload.findings)

    fit = buildfile.fit_build(root=root, module_name=name, module_dir=module_dir,
                              module_repo=answers.get("kvc.module_repo"), build_file=answers.get("kvc.build_file"),
                              openshift_version=version, delivered=payload.files,
                              build_target=entitlement.build_file_path(name))
    findings.extend(fit.findings)

    conf_files, conf_findings = instance.instance_fixes(
        root, name, build_file=answers.get("kvc.build_file"),
        software_version=answers.get("kvc.software_version") or None,
        overrides={**payload.conf_overrides, **fit.conf_overrides},
        overrides_where="entitlement.source" if payload.conf_overrides else "kvc.build_file",
        overrides_why="" if payload.conf_overrides else "the build file with a base image of the nodes' RHEL",
        tree_given=bool(answers.get("kvc.fakeroot")))
    findings.extend(conf_findings)

    extra = {path: (content, 0o644) for path, content in conf_files.items()}
    extra.update(payload.files)
    extra.update(fit.files)
    extra_entries = [{"path": path, "mode": mode, "overwrite": True,
                      "contents": transpile.encode_contents(content, gzip_allowed=gzip_allowed)}
                     for path, (content, mode) in sorted(extra.items())]

    style = ignition.choose_enable_style(answers.get("kvc.enable_style"), version, day)
    base = ignition.base_config(module_name=name, spec_version=ignition.spec_version_for(version),
                                ssh_key=answers.get("ssh_key") or None if day == 1 else None,
                                enable_style=style)
    config = ignition.merge_files(base, tree_files, extra_entries)
    mc = machineconfig.machineconfig(name=mc_name, role=role, config=config)
    findings.extend(lint.lint_machineconfig(mc, where=mc_path, openshift_version=version, day=day,
                                            node_files_allowed=answers.get("kvc.overwrite_node_files") or ()))
    findings.append(info("kvc.enable_style", _enable_note(style, name), code="kvc-enable-style"))

    secret_paths = set(payload.secret_paths) | tree_secrets
    files = [manifest_file(mc_path, mc, title="MachineConfig", secret=bool(secret_paths),
                           preview_obj=_redacted(mc, secret_paths) if secret_paths else None)]
    # openshift-install reads every file in openshift/ as a manifest, so on day 1 the
    # base config and the listing are shown in the preview but not written there.
    write_extras = day == 2
    files.append(OutputFile(f"{mc_name}.base.ign", (json.dumps(base, indent=2) + "\n").encode(),
                            title="Base Ignition", write=write_extras))
    files.append(OutputFile(f"{mc_name}.files.txt", _listing(config, secret_paths).encode(),
                            title="Files carried", write=write_extras))
    notes = list(payload.notes)  # what the node needs; who can read delivered entitlement keys
    if day == 2:
        notes.append(f"applying {mc_name} makes the Machine Config Operator drain and reboot every node of the "
                     f"{role} pool, one at a time")
    if unusable_build:
        fetch.forget(root)             # never reuse a build whose tree cannot be delivered
    return Rendering(files=tuple(files), findings=tuple(findings), notes=tuple(notes),
                     install_subdir="openshift" if day == 1 else "")


def _enable_note(style: str, name: str) -> str:
    # auto picks template-instance only where Ignition's preset (systemd 240+) and the daemon (up to
    # 4.19) both enable it: see ignition.enable_style_problem.
    if style == "require-unit":
        return (f"require-kvc-{name}.service is enabled and pulls in kmods-via-containers@{name}.service "
                "(the docs' workaround; works on every release)")
    return f"kmods-via-containers@{name}.service is enabled directly (RHCOS 4.13+, systemd 252)"


def _redacted(mc: dict, secret_paths: set[str]) -> dict:
    shown = copy.deepcopy(mc)
    for entry in shown["spec"]["config"].get("storage", {}).get("files", []):
        if entry["path"] in secret_paths:
            entry["contents"] = {"source": REDACTED}
    return shown


def relist(files: tuple[OutputFile, ...]) -> tuple[OutputFile, ...]:
    """<name>.files.txt made again from the MachineConfig as it is now: after the answer file's overlay
    changed it, a file or unit the overlay added is carried, so it is listed.  Secret entries keep the
    mark the first listing gave them."""
    machineconfigs = {f.manifest["metadata"]["name"]: f for f in files
                      if f.manifest is not None and f.manifest.get("kind") == "MachineConfig"}
    out = []
    for file in files:
        mc = machineconfigs.get(file.path.removesuffix(".files.txt")) if file.path.endswith(".files.txt") else None
        if mc is None:
            out.append(file)
            continue
        listed = file.content.decode().splitlines()  # "<mode>  <path>[  [secret]]"
        secret_paths = {line.split("  ", 1)[1].removesuffix(SECRET_MARK)
                        for line in listed if line.endswith(SECRET_MARK)}
        out.append(OutputFile(file.path, _listing(mc.manifest["spec"]["config"], secret_paths).encode(),
                              title=file.title, write=file.write))
    return tuple(out)


def _listing(config: dict, secret_paths: set[str]) -> str:
    lines = [LISTING_HEADER]
    for entry in config.get("storage", {}).get("files", []):
        mark = SECRET_MARK if entry["path"] in secret_paths else ""
        lines.append(f"{entry.get('mode', 0o644):04o}  {entry['path']}{mark}")
    for unit in config.get("systemd", {}).get("units", []):
        lines.append(f"unit  {unit['name']}{'  (enabled)' if unit.get('enabled') else ''}")
    return "\n".join(lines) + "\n"


