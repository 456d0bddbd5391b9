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

