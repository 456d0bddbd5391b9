"""Answers in, files out: the one function every front end calls.

``render(answers)`` returns a ``Rendering``: the files ``generate`` writes (each with
its mode and whether it holds secrets), the Kubernetes objects among them in apply
order, and the findings.  The preview, ``generate``, ``apply`` and the TUI all use
it, so what the user sees is what gets written and applied.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from kmwizard.findings import Finding, KmwizardError, error, has_errors, sorted_findings
from kmwizard.redact import mask_credentials
# The types a rendering is made of; re-exported because callers read them with render().
from kmwizard.rendering import SECRET_MASK, OutputFile, Rendering, dump_yaml, manifest_file  # noqa: F401


def render(answers) -> Rendering:
    """Render the answers with the renderer of their method; answer problems come first."""
    problems = answers.check()
    if has_errors(problems):
        return Rendering(findings=tuple(sorted_findings(problems)))
    method = answers.get("method")
    try:
        if method == "kvc":
            from kmwizard.kvc.render import render_kvc as renderer
        else:
            from kmwizard.kmm.render import render_kmm as renderer
        result = renderer(answers)
    except KmwizardError as exc:
        return Rendering(findings=tuple(sorted_findings([*problems, error(
            getattr(exc, "where", "") or method, exc.message, exc.fix, code="render-failed")])))
    files, overlay_findings = apply_overlay(result.files, answers.get("overlay"))
    found, relinted = list(result.findings), []
    changed = [f for f, before in zip(files, result.files) if f is not before]
    if changed and method == "kvc":
        from kmwizard.kvc.render import relist

        files = relist(files)  # the listing of what the MachineConfig carries, with what the overlay added
    if changed:
        # what the overlay set is held to the same rules as the rest: lint those objects again
        paths = tuple(f.path for f in changed)
        found = [f for f in found if not f.where.startswith(paths)]
        relinted = _lint(answers, files, paths)  # about the overlay's values: they keep their file paths
    from kmwizard.locate import locate  # findings on rendered files name the answer to change

    # Answers carrying credentials stop at answers.check(); notes may still quote a local repository URL.
    return Rendering(files=files, notes=tuple(mask_credentials(n) for n in result.notes),
                     install_subdir=result.install_subdir,
                     findings=tuple(sorted_findings([*problems, *locate(found, files, answers), *relinted,
                                                     *overlay_findings])))


def _lint(answers, files, paths: tuple[str, ...]) -> list[Finding]:
    """The method's linter on the objects the overlay changed."""
    manifests = [(f.path, f.manifest) for f in files if f.manifest is not None]
    if answers.get("method") == "kvc":
        from kmwizard.kvc.lint import lint_machineconfig

        return [finding for path, obj in manifests if path in paths for finding in lint_machineconfig(
            obj, where=path, openshift_version=answers.get("openshift_version"), day=answers.get("day"))]
    from kmwizard.kmm.lint import lint_documents

    return [f for f in lint_documents(manifests, answers.get("kmm.kmm_version")) if f.where.startswith(paths)]


def apply_overlay(files: tuple[OutputFile, ...], records) -> tuple[tuple[OutputFile, ...], list[Finding]]:
    """The files with the answer file's overlay records set on their objects (see kmwizard.overlay);
    a record naming no generated object, or a path that cannot be followed, is an error naming it."""
    if not records:
        return files, []
    from kmwizard import overlay

    findings: list[Finding] = []
    by_object: dict[str, list[tuple[int, dict]]] = {}
    for i, record in enumerate(records):
        by_object.setdefault(record["object"], []).append((i, record))
    out = []
    for file in files:
        obj = file.manifest
        wanted = by_object.pop(overlay.object_id(obj), None) if obj is not None else None
        if not wanted:
            out.append(file)
            continue
        import yaml  # loaded with the first YAML it reads, not with the renderer

        changed, shown = copy.deepcopy(obj), yaml.safe_load(file.preview) if file.preview else None
        for i, record in wanted:
            try:
                changed = overlay.apply(changed, [record])
                if shown is not None:
                    shown = overlay.apply(shown, [record])
            except overlay.OverlayError as exc:
                findings.append(error(f"overlay[{i}].path", f"{record['object']}: {exc}",
                                      "fix the path or remove the record", code="overlay-path"))
        out.append(manifest_file(file.path, changed, title=file.title, secret=file.secret, preview_obj=shown))
    for name, wanted in by_object.items():
        for i, _record in wanted:
            generated = ", ".join(overlay.object_id(f.manifest) for f in files if f.manifest is not None)
            findings.append(error(f"overlay[{i}].object", f"no generated object is {name} (generated: {generated})",
                                  "name one of the generated objects, or remove the record",
                                  code="overlay-object"))
    return tuple(out), findings


# The answers that name local files or trees a render reads (besides the answers themselves).
INPUT_PATH_KEYS = ("kvc.fakeroot", "kvc.framework_repo", "kvc.module_repo", "entitlement.certs_dir",
                   "kmm.dockerfile", "kmm.sign.key_file", "kmm.sign.cert_file")


def input_state(answers) -> tuple:
    """The state of the local files and trees these answers name: a render of the same answers
    over the same state gives the same result, so a front end's render cache keys on both
    (a file added to a fakeroot must show, without a restart). Cheap: stat() calls only."""
    from kmwizard.keys import KEYS
    from kmwizard.kvc.fetch import URL_PATTERN, tree_fingerprint

    method = answers.get("method")
    state = []
    for key in INPUT_PATH_KEYS:
        value = answers.get(key)
        if not value or not isinstance(value, str) or method not in KEYS[key].methods or URL_PATTERN.match(value):
            continue
        path = Path(os.path.expanduser(value))
        try:
            if path.is_dir():
                git_head = path / ".git" / "HEAD"
                head = git_head.stat().st_mtime_ns if git_head.exists() else None
                state.append((key, tree_fingerprint(path), head))
            else:
                st = path.stat()
                state.append((key, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            state.append((key, None))
    return tuple(state)


def remote_fetches(answers) -> list[str]:
    """The git URLs a render of these answers would clone now (none for KMM, local trees, or
    repositories cached already): a front end can wait for the user's choice before fetching."""
    if answers.get("method") != "kvc":
        return []
    from kmwizard.kvc.fetch import remote_fetches as kvc_remote_fetches

    return kvc_remote_fetches(answers)


def absolute_paths(answers, base: Path):
    """The answers with relative local paths made absolute against base (where they were typed):
    a preset is loaded from any directory, where 'signing.priv' would name another file or none."""
    from kmwizard.kvc.fetch import URL_PATTERN

    updates = {}
    for key in (*INPUT_PATH_KEYS, "output.install_dir"):
        value = answers.get(key) if answers.is_set(key) else None
        if isinstance(value, str) and value and not URL_PATTERN.match(value) and not value.startswith("~") \
                and not os.path.isabs(value):
            updates[key] = os.path.abspath(os.path.join(base, value))
    return answers.update(updates) if updates else answers
