"""Regenerate docs/screenshots/*.svg: the wizard as a user sees it on a fresh machine.

Run from the repository: ``python docs/make_screenshots.py``.  Every picture starts from a
built-in preset (or nothing), in a scratch working directory with an empty configuration and
cache, so no path of a test fixture or of this machine appears; nothing is cloned (KVC shows
what an offline user sees until the repositories are chosen).
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "screenshots"
WIDE, SMALL = (120, 36), (80, 24)


async def settle(pilot) -> None:
    app = pilot.app
    for _ in range(100):
        await pilot.pause(0.05)
        if app._busy_since is None and (app.waiting_for_fetch or app._render_key() in app._cache):
            break
    for widget in app.query("Input, TextArea").results():
        widget.cursor_blink = False
    await pilot.pause(0.2)


async def shoot(name: str, answers, size, steps) -> None:
    from kmwizard.screens.app import WizardApp

    app = WizardApp(answers)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for step in steps:
            await step(app, pilot)
            await settle(pilot)
        (OUT / f"{name}.svg").write_text(app.export_screenshot(title=f"kmwizard: {name}"), encoding="utf-8")
        print("wrote", OUT / f"{name}.svg")


def goto(step_id: str, focus: str | None = None):
    async def run(app, pilot):
        await app.show_step(step_id)
        if focus:
            app.query_one(focus).focus()
    return run


def keys(*pressed: str):
    async def run(app, pilot):
        await pilot.press(*pressed)
    return run


def setv(selector: str, value: str):
    async def run(app, pilot):
        app.query_one(selector).value = value
    return run


def tab(title: str):
    async def run(app, pilot):
        preview = app.query_one("PreviewPane")
        for index, file in enumerate(preview.files):
            if file.title == title or title in file.path:
                app.query_one("#preview-tabs").active = f"file-{index}"
    return run


async def main() -> None:
    from kmwizard.answers import Answers
    from kmwizard.preset_store import load_preset
    from kmwizard.screens.fields import field_id

    kmm_ci = load_preset("kmm-ci")
    signed = load_preset("kmm-signed").update({"kmm.sign.key_file": "signing.priv",
                                               "kmm.sign.cert_file": "signing.x509"})
    await shoot("start-80x24", Answers(), SMALL, [])
    await shoot("kvc-source", Answers(), WIDE, [goto("source")])
    await shoot("kmm-kernel-mappings", kmm_ci, WIDE,
                [goto("mappings", "#kernel-test"), setv("#kernel-test", "5.14.0-427.13.1.el9_4.x86_64")])
    await shoot("kmm-signing-secrets-masked", signed, WIDE, [goto("signing"), tab("signing-key")])
    await shoot("field-help", kmm_ci, WIDE, [goto("target", "#" + field_id("role")), keys("f1")])
    await shoot("kmm-review", kmm_ci, WIDE, [goto("review")])
    await shoot("write-files", kmm_ci, WIDE, [goto("review"), keys("f2")])
    await shoot("apply", kmm_ci, WIDE, [goto("review"), keys("f3")])


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    scratch = Path(tempfile.mkdtemp(prefix="kmwizard-screens-"))
    home = scratch / "home"
    (home / "work").mkdir(parents=True)
    # A fresh user: no presets of their own, no cache, no kubeconfig; a key pair to sign with.
    os.environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
    for variable in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        os.environ.pop(variable, None)
    os.chdir(home / "work")
    import subprocess

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "signing.priv",
                    "-out", "signing.x509", "-subj", "/CN=kmwizard screenshot", "-days", "365"],
                   check=True, capture_output=True)
    asyncio.run(main())
