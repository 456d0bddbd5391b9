"""The preview's status line and the files it keeps on screen, driven through Pilot: the preview never
passes off files that are not the current answers' as current, and its status says the true thing
(screens/rendering.py RenderingMixin._show_rendering/_show_waiting, screens/preview.py PreviewPane)."""
from __future__ import annotations

import asyncio

import pytest

from kmwizard.answers import Answers
from test_tui_support import kmm_app, laid_out, settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import field_id
from kmwizard.screens.preview import PreviewPane

SIZE = (120, 40)
STALE = "✗ not rendered: fix the errors below (the last good preview stays)"
NOT_RENDERED = "✗ not rendered: fix the errors below"

pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def status(app) -> str:
    return str(app.query_one("#preview-status").content)


def preview_text(app) -> str:
    return str(app.query_one("#preview-text").content)


async def choose(pilot, key: str, value) -> None:
    """An answer chosen in its field, as the user's Enter or Space on a choice sets it."""
    pilot.app.query_one("#" + field_id(key)).value = value
    await settle(pilot)
    await laid_out(pilot)


def test_the_last_good_preview_stays_marked_through_a_resize_and_a_tab_switch():
    """Defect A: the findings panel grows with the error, the preview pane resizes, and
    PreviewPane.on_resize -> _show_selected used to write the file's name over the status that
    _show_rendering set (now PreviewPane.mark_stale, which _show_selected keeps until the next show)."""
    async def go():
        app = WizardApp(Answers().set("method", "kmm"))  # kmwizard tui --set method=kmm
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f8", "f8")
            await settle(pilot)
            assert app.current_step == "source"
            good = status(app)
            assert good.startswith("module-") and "kind: Module" in preview_text(app)
            await choose(pilot, "kmm.build", "dockerfile")  # no Dockerfile given: an error, no files
            assert any(f.where == "kmm.dockerfile" for f in app.findings())
            assert status(app) == STALE and "kind: Module" in preview_text(app)
            await pilot.resize_terminal(110, 40)  # a re-show of the file, as the findings' resize does
            await laid_out(pilot)
            assert status(app) == STALE
            preview = app.query_one(PreviewPane)
            other = next(f.path for f in preview.files if f.path != preview.selected_path)
            assert preview.select_path(other)
            await laid_out(pilot)
            assert preview.selected_path == other and status(app) == STALE
            await choose(pilot, "kmm.build", "none")  # fixed: the status names the file again
            assert app.rendering.files and status(app).startswith(preview.selected_path)

    asyncio.run(go())


def test_back_to_kvc_brings_back_the_nothing_fetched_explanation(builds):
    """Defect B: RenderingMixin._show_waiting kept the KMM files on screen (it only wrote its text when no
    files had been shown); now it clears them, as the KVC answers have no preview until fetched."""
    async def go():
        app = WizardApp(Answers())  # kmwizard tui: nothing is fetched until the repositories are chosen
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            waiting = preview_text(app)
            assert "Nothing fetched yet" in waiting
            await choose(pilot, "method", "kmm")
            assert "kind: Module" in preview_text(app) and app.query("#preview-tabs")
            await choose(pilot, "method", "kvc")
            assert app.waiting_for_fetch and builds == []
            assert [f.code for f in app.findings()] == ["fetch-deferred"]
            assert preview_text(app) == waiting and not app.query("#preview-tabs")
            assert app.query_one(PreviewPane).files == ()
            assert status(app).startswith("not rendered yet")

    asyncio.run(go())


def test_a_failed_render_of_the_other_method_does_not_keep_its_files_as_the_last_good_preview(builds, tmp_path):
    """Defect B, with answers that render at once (no waiting screen): a KVC render that fails (here its
    fakeroot is missing) after the KMM preview; RenderingMixin._show_rendering used to keep the KMM files as
    "the last good preview"; a preview is kept only for the method it was rendered for (shown_method)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "kind: Module" in preview_text(app)
            kvc, _aside = app.answers.switch_method("kvc")
            app.answers = kvc.set("kvc.fakeroot", str(tmp_path / "missing"))
            await settle(pilot)
            await laid_out(pilot)
            assert app.rendering.files == () and not app.rendering.ok
            assert "kind: Module" not in preview_text(app) and not app.query("#preview-tabs")
            assert status(app) == NOT_RENDERED

    asyncio.run(go())


def test_errors_from_the_start_do_not_claim_a_last_good_preview():
    """Defect C: RenderingMixin._show_rendering said "(the last good preview stays)" whenever a render had
    errors and no files, also when no preview had ever been shown."""
    async def go():
        app = kmm_app(entitlement__source="certs")  # certs without a certificate: an error from the start
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await laid_out(pilot)
            assert app.rendering.files == ()
            assert status(app) == NOT_RENDERED
            assert preview_text(app).startswith("Nothing to show yet")

    asyncio.run(go())


def test_a_failed_fetch_no_longer_says_nothing_was_fetched(builds):
    """Defect C's kin: after the waiting screen, a KVC render that fails kept "Nothing fetched yet ...
    press F8 there" (PreviewPane._message outlived the show() of the failed render; show() now resets it)."""
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for _ in range(3):  # leaving the Module source step allows the fetch, which fails offline
                await pilot.press("f8")
                await settle(pilot)
            assert builds and app.rendering.files == ()
            assert status(app) == NOT_RENDERED
            assert preview_text(app).startswith("Nothing to show yet")

    asyncio.run(go())


def test_the_preview_opens_on_the_managedclustermodule_on_an_acm_hub():
    """Defect D: preview.main_file knew the Module and the MachineConfig; on an ACM hub the Module is
    carried in a ManagedClusterModule (the Module file is only for reading), so it opened on the first file."""
    async def go():
        app = kmm_app(kmm__acm_hub=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            preview = app.query_one(PreviewPane)
            shown = preview._current()
            assert shown.manifest["kind"] == "ManagedClusterModule"
            assert preview.files[0] is not shown  # not simply the first file
            assert status(app).startswith(shown.path) and "kind: ManagedClusterModule" in preview_text(app)

    asyncio.run(go())


def test_a_search_keeps_its_marks_and_count_through_a_resize_and_a_tab_switch():
    """The re-show on a resize (PreviewPane.on_resize -> _show_selected) redrew the file without the
    search's marks and put the file's name over "match i of n"; another tab dropped the search too."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.action_search_preview()
            await pilot.pause()
            await pilot.press(*"kmm_ci")
            await pilot.pause()
            assert "match 1 of" in status(app)
            await pilot.resize_terminal(110, 40)
            await laid_out(pilot)
            assert "match 1 of" in status(app)
            assert "black on yellow" in str(app.query_one("#preview-text").content.spans)
            preview = app.query_one(PreviewPane)
            preview._tabs().active = "file-0"  # the ConfigMap: its Dockerfile names the modules too
            await laid_out(pilot)
            assert status(app).startswith(preview.files[0].path) and "match 1 of" in status(app)

    asyncio.run(go())


def test_a_slow_render_keeps_saying_rendering_through_a_resize(monkeypatch):
    """RenderingMixin._show_busy wrote "rendering… N s" with set_status, and a resize in between
    (PreviewPane.on_resize -> _show_selected) put the old file's name there until its next tick."""
    import threading

    import kmwizard.screens.rendering as rendering

    release = threading.Event()
    real = rendering.safe_render

    def slow(answers):
        release.wait(10)
        return real(answers)

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            monkeypatch.setattr(rendering, "safe_render", slow)
            app.answers = app.answers.set("kmm.name", "slow-one")
            for _ in range(100):  # the busy note shows after 0.2 s (the render waits for release)
                await pilot.pause(0.05)
                if status(app).startswith("rendering…"):
                    break
            assert status(app).startswith("rendering…")
            app.query_one(PreviewPane).on_resize(None)  # what a resize does, before the note's next tick
            assert status(app).startswith("rendering…")
            release.set()
            await settle(pilot)
            assert "module-slow-one.yaml" in status(app)

    asyncio.run(go())
