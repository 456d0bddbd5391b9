"""``kmwizard import``: existing objects -> an answer file (+ fakeroot/ and key files) that generates them.

1. Each object is mapped back to answers by its method's importer (``kvc.py``, ``kmm.py``).
2. Those answers are rendered, and every field of an original object that the rendering lacks or
   holds differently becomes an overlay record (``kmwizard.overlay``), so that generating
   reproduces the original; for kmwizard's own output the overlay stays empty.
3. What generating would still change (fields it adds, files it fixes) is listed too.

Nothing here writes to the user's directory: ``ImportPlan.files`` goes through ``kmwizard.output``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import Finding, error, info, warning
from kmwizard.records import field, record
from kmwizard.importing.common import ImportResult, strip_server_fields
from kmwizard.render import OutputFile, Rendering

KMM_KINDS = {"Module", "ManagedClusterModule", "PreflightValidationOCP", "ConfigMap", "Secret", "Namespace"}


@record
class ImportPlan:
    answers: Optional[Answers] = None          # with paths inside the output directory
    files: tuple[OutputFile, ...] = ()         # answers.yaml, fakeroot/..., key files
    findings: list[Finding] = field(default_factory=list)
    overlay: list[dict] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)   # what generating changes against the originals
    originals: list[tuple[str, dict]] = field(default_factory=list)
    generated: dict[str, dict] = field(default_factory=dict)  # object id -> regenerated object
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The answers generate: what the findings name is in the overlay or listed, and may be written."""
        return self.answers is not None

    def rendering(self) -> Rendering:
        return Rendering(files=self.files)


def expand(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(where, object) with Lists unpacked (``oc get -o yaml`` writes a List)."""
    out = []
    for where, doc in pairs:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(expand((f"{where}:items[{i}]", item) for i, item in enumerate(doc["items"])))
        else:
            out.append((where, doc))
    return out


def import_documents(pairs: Iterable[tuple[str, Any]], out_dir: str | Path, *,
                     sets: Iterable[tuple[str, str]] = ()) -> ImportPlan:
    """Plan the import of (where, object) pairs into ``out_dir``; ``sets`` are --set overrides
    applied to the recovered answers (e.g. the exact openshift_version)."""
    plan = ImportPlan()
    kvc_docs, kmm_docs = [], []
    for where, doc in expand(pairs):
        if isinstance(doc, dict) and "kind" not in doc and isinstance(doc.get("ignition"), dict):
            plan.findings.append(info(where, "an Ignition config, not a MachineConfig (generate's <name>.base.ign "
                                      "is one): skipped", "import the MachineConfig that carries it",
                                      code="import-ignition-config"))
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict) or not isinstance(doc.get("kind"), str):
            plan.findings.append(error(where, "not a Kubernetes object (a mapping with kind and metadata): skipped",
                                       "give MachineConfig or KMM Module files", code="import-not-object"))
            continue
        doc = strip_server_fields(doc)
        if doc["kind"] == "MachineConfig":
            kvc_docs.append((where, doc))
        elif doc["kind"] in KMM_KINDS:
            kmm_docs.append((where, doc))
        else:
            plan.findings.append(warning(f"{where}:kind", f"kind {doc['kind']!r} is not something kmwizard "
                                         "generates: skipped, not in the answers",
                                         "import MachineConfigs (KVC) or KMM Modules with their ConfigMaps",
                                         code="import-unknown-kind"))
    try:
        result = _pick(kvc_docs, kmm_docs, plan)
        if result is None:
            return plan
        plan.findings.extend(result.findings)
        plan.facts = result.facts
        plan.originals = result.originals
        if not result.originals:
            return plan
        with tempfile.TemporaryDirectory(prefix="kmwizard-import-") as staging:
            _regenerate(result, Path(staging), Path(out_dir).expanduser().resolve(), list(sets), plan)
    except (TypeError, AttributeError, KeyError, ValueError, IndexError):
        # A field of a type the API does not allow: the linter names it (it reads any shape).
        plan.answers = None
        plan.findings.extend(_shape_findings(kvc_docs, kmm_docs))
        plan.findings.append(error("import", "the objects hold fields of types the API does not allow, so they "
                                   "cannot be imported (the errors above name them)",
                                   "fix the objects (kmwizard validate FILE checks them), then import again",
                                   code="import-shape"))
    return plan


def _shape_findings(kvc_docs, kmm_docs) -> list[Finding]:
    from kmwizard.kmm.lint import lint_documents
    from kmwizard.kvc.lint import lint_document

    found = [f for where, doc in kvc_docs for f in (lint_document(doc, where) or [])]
    found += lint_documents(kmm_docs)
    return [f for f in found if f.severity.value == "error"]


def _pick(kvc_docs, kmm_docs, plan: ImportPlan) -> Optional[ImportResult]:
    from kmwizard.importing.kmm import import_kmm
    from kmwizard.importing.kvc import import_machineconfig

    if kvc_docs:
        for where, doc in kvc_docs[1:] + kmm_docs:
            plan.findings.append(error(where, f"{doc['kind']} {doc['metadata'].get('name')} was not imported: an "
                                       f"answer file describes one MachineConfig or one Module, and "
                                       f"{kvc_docs[0][1]['metadata'].get('name')} comes first",
                                       "import it into another output directory", code="import-several"))
        return import_machineconfig(*kvc_docs[0])
    if kmm_docs:
        return import_kmm(kmm_docs)
    plan.findings.append(error("import", "nothing to import: no MachineConfig and no KMM Module",
                               "give the files holding them", code="import-nothing"))
    return None


def _answers(result: ImportResult, base: Path, sets: list, plan: ImportPlan) -> Optional[Answers]:
    values = dict(result.values)
    values.update({key: str(base / rel) for key, rel in result.path_values.items()})
    try:
        answers = Answers().update(values)
        for key, value in sets:
            answers = answers.set(key, value)
    except AnswersError as exc:
        plan.findings.extend(error(f.where, f"the imported value does not fit: {f.message}", f.fix,
                                   code="import-answer") for f in exc.findings)
        return None
    return _drop_defaults(answers)


def _drop_defaults(answers: Answers) -> Answers:
    """Leave out what equals the default, so the answer file reads like a hand-written one."""
    for key in list(answers.explicit):
        if key != "method" and answers.unset(key).get(key) == answers.get(key):
            answers = answers.unset(key)
    return answers


def _regenerate(result: ImportResult, staging: Path, final: Path, sets: list, plan: ImportPlan) -> None:
    """Render the recovered answers (files staged), add the overlay that makes them give the originals back,
    list what generating still changes, and plan the files with the answers pointing into ``final``."""
    from kmwizard import overlay
    from kmwizard.render import render

    for rel, (content, mode) in result.files.items():
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.chmod(target, mode)
    answers = _answers(result, staging, sets, plan)
    if answers is None:
        return
    rendering = render(answers)
    if not rendering.manifests:
        plan.findings.extend(rendering.findings)
        plan.findings.append(error("import", "the recovered answers do not generate: nothing was written",
                                   "fix the errors above (--set KEY=VALUE overrides a recovered answer)",
                                   code="import-render"))
        return
    records = _overlay_records(result, _generated(answers, rendering), plan)
    if records:
        answers = answers.set("overlay", records)
        plan.findings.extend(f for f in rendering.findings if f.code == "kvc-conf-changed")
        rendering = render(answers)
        if not rendering.manifests:  # an overlay record that cannot be applied: a defect here, not the user's
            plan.findings.extend(rendering.findings)
            return
    # What the linter says about the original's own fields is the user's to decide: listed, not fatal.
    plan.findings.extend(f for f in rendering.findings if f.severity.value == "error")
    plan.overlay, plan.generated = records, _generated(answers, rendering)
    _list_changes(result, plan)
    for key, rel in result.path_values.items():
        answers = answers.set(key, str(final / rel))
    plan.answers = answers
    secret = _has_keys(result)
    files = [OutputFile("answers.yaml", answers.to_yaml().encode("utf-8"), mode=0o600 if secret else 0o644,
                        secret=secret, title="answers")]
    files += [OutputFile(rel, content, mode=mode, secret=mode & 0o077 == 0)
              for rel, (content, mode) in sorted(result.files.items())]
    plan.files = tuple(files)


def _generated(answers: Answers, rendering: Rendering) -> dict[str, dict]:
    """object id -> generated object, without the Module a hub's ManagedClusterModule carries."""
    from kmwizard import overlay

    generated = {overlay.object_id(m): m for m in rendering.manifests}
    if answers.get("method") == "kmm" and answers.get("kmm.acm_hub"):
        generated.pop(f"Module/{answers.get('kmm.namespace')}/{answers.get('kmm.name')}", None)
    return generated


def _overlay_records(result: ImportResult, generated: dict, plan: ImportPlan) -> list[dict]:
    """One record per field of an original that the generated object lacks or holds differently."""
    from kmwizard import overlay

    records = []
    for where, original in result.originals:
        oid = overlay.object_id(original)
        if oid not in generated:
            plan.findings.append(error(where, f"{oid} is not among the generated objects "
                                       f"({', '.join(generated)}): it is not imported",
                                       "import it on its own", code="import-unmatched"))
            continue
        for path, value in overlay.differences(original, generated[oid], equivalent=_same_file):
            kept = {"object": oid, "path": overlay.format_path(path), "value": value}
            records.append(kept)
            plan.findings.append(info(f"overlay: {oid}: {kept['path']}", "the answers cannot express this "
                                      "field: kept verbatim in the overlay", code="import-overlay"))
            if _file_contents_path(path):
                # kmwizard would change the file (a fixed instance conf): the original wins, and says so
                plan.findings.append(warning(f"overlay: {oid}: {kept['path']}", "generating changes this "
                                             "file (see the kvc-conf-changed findings); the overlay keeps the "
                                             "original bytes", "remove this overlay record to take kmwizard's "
                                             "fixed version", code="import-overlay-file"))
    return records


def _list_changes(result: ImportResult, plan: ImportPlan) -> None:
    """What generating adds or changes against the originals (the overlay only adds and replaces)."""
    from kmwizard import overlay

    for _where, original in result.originals:
        oid = overlay.object_id(original)
        if oid in plan.generated:
            for path, _value in overlay.differences(plan.generated[oid], original, equivalent=_same_file):
                shown = "added" if _missing(original, path) else "changed"
                plan.changes.append(f"{oid}: {overlay.format_path(path)} {shown} by generating")
    recoded = sum(_recoded(original, plan.generated.get(overlay.object_id(original), {}))
                  for _w, original in result.originals)
    if recoded:
        plan.changes.append(f"{recoded} file(s) encoded differently by generating: the same bytes and modes")
    for text in plan.changes:
        plan.findings.append(info("import", text, code="import-generating-changes"))


def _has_keys(result: ImportResult) -> bool:
    return any(mode & 0o077 == 0 for _content, mode in result.files.values())


def _file_contents_path(path) -> bool:
    """spec.config.storage.files[path=...].contents (or a field inside it)."""
    if "contents" not in path or "files" not in path:
        return False
    at = path.index("contents")
    return at >= 1 and isinstance(path[at - 1], tuple) and path[at - 1][0] == "path"


def _same_file(path, a, b) -> bool:
    if not _file_contents_path(path) or path[-1] != "contents" or not isinstance(a, dict) or not isinstance(b, dict):
        return False
    from kmwizard.importing.kvc import decode_contents

    try:
        return decode_contents(a) == decode_contents(b)
    except ValueError:
        return False


def _missing(obj: Any, path) -> bool:
    node = obj
    for step in path:
        if isinstance(step, str):
            if not isinstance(node, dict) or step not in node:
                return True
            node = node[step]
        elif isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return True
            node = node[step]
        else:
            if not isinstance(node, list):
                return True
            node = next((item for item in node if isinstance(item, dict) and item.get(step[0]) == step[1]), None)
            if node is None:
                return True
    return False


def _recoded(original: dict, generated: dict) -> int:
    """How many delivered files generating encodes differently (same decoded bytes)."""
    def files(obj):
        return {f.get("path"): f.get("contents") for f in
                (((obj.get("spec") or {}).get("config") or {}).get("storage") or {}).get("files") or []
                if isinstance(f, dict)}
    before, after = files(original), files(generated)
    return sum(1 for path, contents in before.items() if path in after and contents != after[path])


def compare(originals: list[tuple[str, dict]], answers: Answers) -> list[tuple[str, str]]:
    """(object id, unified YAML diff) of each original against what ``answers`` generate now: what
    generating would change. An object the answers no longer generate shows as removed."""
    import difflib

    from kmwizard import overlay
    from kmwizard.render import dump_yaml, render

    rendering = render(answers)
    generated = {overlay.object_id(m): m for m in rendering.manifests}
    out = []
    for _where, original in originals:
        oid = overlay.object_id(original)
        before = dump_yaml(_readable(original), sort_keys=True).splitlines(keepends=True)
        after = dump_yaml(_readable(generated[oid]), sort_keys=True).splitlines(keepends=True) \
            if oid in generated else []
        text = "".join(difflib.unified_diff(before, after, f"{oid} (original)", f"{oid} (generated)", n=2))
        out.append((oid, text))
    return out


def _readable(value: Any) -> Any:
    """The object as a diff should show it: keyed lists sorted by key, file contents decoded (so a mere
    re-encoding shows no change and a changed file shows its lines)."""
    from kmwizard.importing.kvc import decode_contents
    from kmwizard.overlay import LIST_KEYS

    if isinstance(value, dict):
        out = {k: _readable(v) for k, v in value.items()}
        if isinstance(value.get("contents"), dict) and "source" in value["contents"] and "path" in value:
            try:
                data = decode_contents(value["contents"])
                out["contents"] = data.decode("utf-8") if b"\0" not in data else f"<{len(data)} bytes, binary>"
            except (ValueError, UnicodeDecodeError):
                pass
        return out
    if isinstance(value, list):
        items = [_readable(v) for v in value]
        for key in LIST_KEYS:
            if items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
                return sorted(items, key=lambda i: i[key])
        return items
    return value
