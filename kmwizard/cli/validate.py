"""``kmwizard validate FILE...``: judge existing MachineConfigs, Ignition configs, KMM objects and
Dockerfiles as the platform would (imported only when that command runs)."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional

from kmwizard.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_findings
from kmwizard.findings import ClusterError, Finding, KmwizardError, Severity, UsageError, error, info, warning
from kmwizard.regexps import lazy
from kmwizard.textfiles import read_text_arg


# A Dockerfile starts with comments, blank lines, parser directives, then ARG or FROM.
_DOCKERFILE_START = lazy(r"\A(?:\s*(?:#[^\n]*)?\n)*\s*(?:ARG|FROM)\s", re.IGNORECASE)


def load_documents(path: Path, text: Optional[str] = None) -> list[tuple[str, object]]:
    """(where, document) pairs of a YAML stream or a JSON file; '-' reads stdin."""
    from kmwizard.safe_yaml import load_json, load_manifests

    text = read_text_arg(str(path)) if text is None else text
    name = "stdin" if str(path) == "-" else str(path)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return [(name, load_json(text))]
    docs = [d for d in load_manifests(text, name) if d is not None]
    if len(docs) == 1:
        return [(name, docs[0])]
    return [(f"{name}[{i}]", d) for i, d in enumerate(docs)]


def validate_documents(pairs: list[tuple[str, object]], kmm_version: Optional[str] = None, *,
                       namespace: Optional[str] = None, crd_fields: Optional[dict] = None,
                       openshift_version: Optional[str] = None) -> list[Finding]:
    """Findings for (where, document) pairs: MachineConfigs and Ignition configs one by one, KMM
    documents together (a Module's ConfigMap must be in its namespace).  ``namespace``: where
    files without one are applied; ``crd_fields``: the cluster's Module CRD fields.  MachineConfigs
    are judged for ``openshift_version``, or for every release when it is None."""
    from kmwizard.kmm.lint import dockerfile_configmap, is_kmm_kind, lint_documents

    findings: list[Finding] = []
    kmm: list[tuple[str, dict]] = []
    for where, doc in _expand_lists(pairs):
        if not isinstance(doc, dict):
            findings.append(error(where, f"expected a mapping (a Kubernetes object or an Ignition config), "
                                         f"got {type(doc).__name__}: {str(doc)[:60]!r}",
                                  "give MachineConfig, Ignition, Module or ConfigMap files (YAML or JSON), or a "
                                  "Dockerfile", code="validate-not-object"))
        elif is_kmm_kind(doc) or dockerfile_configmap(doc):
            kmm.append((where, doc))
        elif (found := _lint_kvc(doc, where, openshift_version)) is not None:
            findings.extend(found)
        else:
            kind = doc.get("kind") or "unknown"
            findings.append(info(where, f"{kind} is not a kind kmwizard checks (it checks MachineConfigs, "
                                        "Ignition configs, KMM Modules and their Dockerfile ConfigMaps)",
                                 code="validate-unknown-kind"))
            if doc.get("apiVersion") == "v1" and kind in ("ConfigMap", "Secret"):
                kmm.append((where, doc))  # its size still counts (the API server's 1 MiB limit)
    return findings + lint_documents(kmm, kmm_version, namespace=namespace, crd_fields=crd_fields)


def _lint_kvc(doc: dict, where: str, openshift_version: Optional[str]) -> Optional[list[Finding]]:
    """The KVC linter's findings, or None for a document it does not judge (imported here: files
    of KMM objects alone do not need it)."""
    from kmwizard.kvc.lint import lint_document

    return lint_document(doc, where, openshift_version=openshift_version)


def _expand_lists(pairs):
    for where, doc in pairs:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from _expand_lists((f"{where}:items[{i}]", item) for i, item in enumerate(doc["items"]))
        else:
            yield where, doc


def run_validate(args: argparse.Namespace) -> int:
    import yaml

    from kmwizard.kmm.dockerfile import lint_dockerfile
    from kmwizard.kvc import LISTING_HEADER

    findings: list[Finding] = []
    documents: list[tuple[str, object]] = []
    unreadable = 0
    for name in args.files:
        path = Path(name)
        try:
            text = read_text_arg(name)
        except UsageError as exc:  # one unreadable file does not stop the others being checked
            findings.append(error(name, exc.message, exc.fix, code="validate-read"))
            unreadable += 1
            continue
        if _DOCKERFILE_START.match(text):  # KMM's Dockerfile as a plain file (generate writes one)
            findings.extend(lint_dockerfile(text, "stdin" if name == "-" else name))
            continue
        if text.startswith(LISTING_HEADER):  # generate's <name>.files.txt: for reading only
            findings.append(info(name, "a list of the files a MachineConfig delivers (written by kmwizard "
                                       "generate): nothing to check", code="validate-listing"))
            continue
        try:
            documents.extend(load_documents(path, text))
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            findings.append(error(str(path), f"not valid YAML or JSON: {exc}", "fix the syntax at the place shown",
                                  code="validate-syntax"))
            continue
    namespace, crd_fields, openshift_version = args.namespace, None, args.openshift_version
    if args.kubeconfig or args.context:
        namespace, crd_fields, note, cluster_version = _live_module_crd(args)
        findings.append(note)
        if cluster_version:
            openshift_version, version_note = _judged_release(args.openshift_version, cluster_version)
            findings.append(version_note)
    findings.extend(validate_documents(documents, args.kmm_version, namespace=namespace, crd_fields=crd_fields,
                                       openshift_version=openshift_version))
    print_findings(findings)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    sys.stderr.write(f"{len(args.files)} file(s) checked: {errors} error(s), {warnings} warning(s)"
                     + (f", {unreadable} could not be read" if unreadable else "") + "\n")
    return EXIT_USAGE if unreadable else EXIT_FINDINGS if errors else EXIT_OK


def _judged_release(given: Optional[str], cluster_version: str) -> tuple[Optional[str], Finding]:
    """The release MachineConfigs are judged for, with --kubeconfig: --openshift-version if given,
    else the cluster's (x.y of its ClusterVersion) when kmwizard knows its rules."""
    from kmwizard.kvc.releases import LAST_MINOR, minor_of

    xy = ".".join(cluster_version.split(".")[:2])
    if given:
        same = given == xy
        make = info if same else warning
        return given, make("cluster", f"the cluster runs OpenShift {cluster_version}; MachineConfigs are judged for "
                           f"--openshift-version {given}", "" if same else f"drop --openshift-version to judge for {xy}",
                           code="validate-openshift-version")
    try:
        minor = minor_of(xy)
    except KmwizardError:
        minor = None
    if minor is None or minor > LAST_MINOR:
        return None, info("cluster", f"the cluster runs OpenShift {cluster_version}, whose rules kmwizard does not "
                          "know: MachineConfigs are judged for every release it knows",
                          code="validate-openshift-version")
    return xy, info("cluster", f"MachineConfigs are judged for the cluster's OpenShift {xy} ({cluster_version})",
                    code="validate-openshift-version")


def _live_module_crd(args: argparse.Namespace) -> tuple[Optional[str], Optional[dict], Finding, Optional[str]]:
    """(namespace, Module CRD fields, a note saying which schema judges, the cluster's OpenShift
    version or None) from the cluster."""
    from kmwizard.cluster import discovery, engine
    from kmwizard.kmm.schema import live_fields

    with engine.connect(args.kubeconfig, args.context, args.namespace) as conn:
        namespace = conn.target.namespace
        where = f"cluster {conn.target.server}"
        cluster_version = discovery.discover(conn).openshift_version
        try:
            res = conn.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            crd = conn.call(res.get, name="modules.kmm.sigs.x-k8s.io", action="reading the Module CRD").to_dict()
        except ClusterError as exc:
            return namespace, None, info(where, f"could not read the cluster's Module CRD ({exc.message}): fields "
                                         "are judged by kmwizard's built-in table", exc.fix,
                                         code="validate-crd-source"), cluster_version
    versions = ", ".join(v.get("name", "?") for v in (crd.get("spec") or {}).get("versions") or [])
    return namespace, live_fields(crd), info(where, f"fields are judged against the cluster's Module CRD "
                                             f"(versions {versions}); files without a namespace against namespace "
                                             f"{namespace}", code="validate-crd-source"), cluster_version
