"""The KVC instance conf inside a MachineConfig, judged by the rules ``generate`` applies: required
keys, the build context (podman's rules), the build file, and a base image of the nodes' RHEL."""
from __future__ import annotations

from typing import Optional

from kmwizard.findings import Finding, Severity
from kmwizard.kvc import buildfile, instance, lint_release, releases
from kmwizard.regexps import lazy

_INSTANCE_UNIT = lazy(r"kmods-via-containers@([^.\s/]+)\.service")


def instances_started(config: dict) -> set[str]:
    """KVC instances the config's units start: kmods-via-containers@<name>.service named as a unit
    or inside one (the require-unit style's Requires=)."""
    systemd = config.get("systemd") if isinstance(config.get("systemd"), dict) else {}
    units = systemd.get("units")
    names = set()
    for unit in units if isinstance(units, list) else ():
        if isinstance(unit, dict):
            for text in (unit.get("name"), unit.get("contents")):
                if isinstance(text, str):
                    names.update(_INSTANCE_UNIT.findall(text))
    return names


def lint_confs(delivered: dict[str, tuple[Optional[bytes], str]], instances: set[str]) -> tuple[list[Finding], list]:
    """(findings, release rules) for the conf of each started instance in ``delivered`` (node path ->
    (bytes or None when undecodable, where))."""
    findings: list[Finding] = []
    rules: list = []
    tree = instance.DeliveredTree(delivered)
    for name in sorted(instances):
        path = instance.conf_path(name)
        data, at = delivered.get(path, (None, ""))
        if data is None:
            continue
        conf = instance.parse_conf(data.decode("utf-8", "replace"))
        findings.extend(instance.check_conf(conf, path, at, tree))
        text, label = _build_file(conf, delivered)
        if text is not None:
            rules.append(_rhel_rule(text, f"{path}: {label}", at))
    return findings, rules


def _build_file(conf, delivered) -> tuple[Optional[str], str]:
    """The build file's text when this config delivers it."""
    name = conf.get("KMOD_CONTAINER_BUILD_FILE")
    context = conf.get("KMOD_CONTAINER_BUILD_CONTEXT")
    if name is None or not name.literal or not name.value:
        return None, ""
    path = name.value
    if not path.startswith("/"):
        if context is None or not context.literal or not context.value.startswith("/"):
            return None, ""
        path = f"{context.value.rstrip('/')}/{path}"
    data = delivered.get(path, (None, ""))[0]
    return (data.decode("utf-8", "replace"), f"build file {path}") if data is not None else (None, "")


def _rhel_rule(text: str, label: str, at: str):
    images = [b for b in buildfile.base_images(text) if buildfile.rhel_major_of(b.resolved) is not None]

    def rule(minor: int) -> list[lint_release.Verdict]:
        """RHCOS is RHEL 8 up to 4.12 and RHEL 9 from 4.13: the build needs the node's RHEL."""
        major = releases.rhel_major(minor)
        wrong = [b.resolved for b in images if buildfile.rhel_major_of(b.resolved) != major]
        if not wrong:
            return []
        have = buildfile.rhel_major_of(wrong[0])
        return [lint_release.Verdict(
            f"build-rhel:{label}", at, Severity.ERROR,
            f"{label}: base image {wrong[0]!r} is RHEL {have}, but the nodes run RHEL {major}: the build cannot "
            f"install kernel-devel for their el{major} kernel and the module never loads",
            f"build FROM a RHEL {major} image (e.g. registry.access.redhat.com/ubi{major}/ubi); kmwizard generate "
            "delivers a converted build file", "kvc-build-rhel")]
    return rule
