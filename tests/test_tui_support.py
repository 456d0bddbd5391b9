"""Shared pieces of the TUI tests (no tests here): fixture answers that render without the network, and
a way to wait until the app's render worker has caught up with the answers."""
from __future__ import annotations

from pathlib import Path

from kmwizard.answers import Answers


async def settle(pilot, rounds: int = 50) -> None:
    """Wait until the preview shows a render of the current answers (the worker is a thread)."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        key = app._render_key()
        if app._busy_since is None and key in app._cache and app.rendering is app._cache[key]:
            return
        if app._busy_since is None and app.waiting_for_fetch:  # deliberately not cloning yet
            return
    raise AssertionError("the render worker never caught up with the answers")


async def laid_out(pilot, rounds: int = 3) -> None:
    """Let the layout and the footer catch up (both follow a refresh after the change)."""
    for _ in range(rounds):
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()


def kmm_app(**overrides):
    """The wizard on the kmm-ci preset (renders without the network); kmm__build=... sets kmm.build."""
    from kmwizard.preset_store import load_preset
    from kmwizard.screens.app import WizardApp

    answers = load_preset("kmm-ci")
    for key, value in overrides.items():
        answers = answers.set(key.replace("__", "."), value)
    return WizardApp(answers)


def kvc_answers(repos) -> Answers:
    """KVC answers whose repositories are local git checkouts (no network)."""
    return Answers({"method": "kvc", "kvc.framework_repo": str(repos.framework),
                    "kvc.module_repo": str(repos.module)})


def tree(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def generate(args: list[str]) -> int:
    """`kmwizard generate ...` in-process: the independent writer the TUI output is compared with."""
    from kmwizard.cli import main

    return main(["generate", *args])

