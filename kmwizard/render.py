"""Answers in, files out: the one function every front end calls.

``render(answers)`` returns a ``Rendering``: the files ``generate`` writes (each with
its mode and whether it holds secrets), the Kubernetes objects among them in apply
order, and the findings.  The preview, ``generate``, ``apply`` and the TUI all use
it, so what the user sees is what gets written and applied.
"""
from __future__ import annotations

import os
from pathlib import Path

from kmwizard.findings import KmwizardError, error, has_errors, sorted_findings
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
    from kmwizard.locate import locate  # findings on rendered files name the answer to change

    return Rendering(files=result.files, notes=result.notes, install_subdir=result.install_subdir,
                     findings=tuple(sorted_findings([*problems, *locate(result.findings, result.files, answers)])))


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
