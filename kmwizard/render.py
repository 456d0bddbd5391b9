"""Answers in, files out: the one function every front end calls.

``render(answers)`` returns a ``Rendering``: the files ``generate`` writes (each with
its mode and whether it holds secrets), the Kubernetes objects among them in apply
order, and the findings.  The preview, ``generate``, ``apply`` and the TUI all use
it, so what the user sees is what gets written and applied.
"""
from __future__ import annotations

from kmwizard.findings import KmwizardError, error, has_errors, sorted_findings
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
    # Answers carrying credentials stop at answers.check(); notes may still quote a local repository URL.
    return Rendering(files=result.files, notes=tuple(mask_credentials(n) for n in result.notes),
                     install_subdir=result.install_subdir,
                     findings=tuple(sorted_findings([*problems, *result.findings])))
