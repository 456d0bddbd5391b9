"""Undo and redo in every editor of the wizard (issue 13 item 10), driven through Pilot.

One rule for the one-line fields (the app's history, kmwizard.screens.extras) and the multi-line
editors (Textual's TextArea history): ctrl+z undoes the last change to the field's text and
ctrl+y (or ctrl+shift+z) redoes it, whether the user typed the change or the wizard made it
(ctrl+r's reset, path completion, loading a preset), and the answers follow the text.
"""
from __future__ import annotations

import asyncio

import pytest

from test_tui_support import kmm_app, laid_out, settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import field_id

SIZE = (120, 40)
MAPPINGS = "- regexp: ^.+$\n"  # kmm-ci's kernel mappings, as the editor shows them
TYPED = "- regexp: ^.+a$\n"


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def run(coro):
    asyncio.run(coro)


def preview_text(app) -> str:
    return str(app.query_one("#preview-text").content)


async def typed_in_mappings(app, pilot):
    """The kernel mappings editor after the user typed one character in it: ^.+$ -> ^.+a$."""
    await app.show_step("mappings")
    area = app.query_one("#" + field_id("kmm.kernel_mappings"))
    area.focus()
    await laid_out(pilot)
    assert area.text == MAPPINGS
    await pilot.press("end", "left", "a")
    await settle(pilot)
    assert area.text == TYPED
    return area


def test_typing_in_an_editor_then_ctrl_z_and_ctrl_y_and_the_preview_follows():
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            area = await typed_in_mappings(app, pilot)
            assert app.answers.get("kmm.kernel_mappings")[0]["regexp"] == "^.+a$"
            assert "regexp: ^.+a$" in preview_text(app)
            await pilot.press("ctrl+z")
            await settle(pilot)
            assert area.text == MAPPINGS and app.answers.get("kmm.kernel_mappings")[0]["regexp"] == "^.+$"
            assert "regexp: ^.+a$" not in preview_text(app) and "regexp: ^.+$" in preview_text(app)
            await pilot.press("ctrl+y")
            await settle(pilot)
            assert area.text == TYPED and "regexp: ^.+a$" in preview_text(app)

    run(go())


def test_ctrl_z_after_a_reset_brings_the_users_text_back_in_an_editor():
    """Ctrl+R replaces the editor's text as an edit in its history (TextArea.text = ... would clear it)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            area = await typed_in_mappings(app, pilot)
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert area.text == "" and not app.answers.is_set("kmm.kernel_mappings")
            await pilot.press("ctrl+z")  # the reset undone: the user's text and answer are back
            await settle(pilot)
            assert area.text == TYPED
            assert app.answers.get("kmm.kernel_mappings")[0]["regexp"] == "^.+a$"
            assert "regexp: ^.+a$" in preview_text(app)
            await pilot.press("ctrl+z")  # and the typing before it
            await laid_out(pilot)
            assert area.text == MAPPINGS
            await pilot.press("ctrl+shift+z", "ctrl+y")  # redo: both keys, as in the one-line fields
            await settle(pilot)
            assert area.text == "" and not app.answers.is_set("kmm.kernel_mappings")

    run(go())


def test_one_line_field_undo_walks_back_through_a_reset_and_redo_walks_forward():
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("target")
            role = app.query_one("#" + field_id("role"))
            role.focus()
            await laid_out(pilot)
            assert role.value == "worker"
            await pilot.press("ctrl+r")
            await laid_out(pilot)
            assert role.value == "" and not app.answers.is_set("role")
            await pilot.press(*"infra")
            await laid_out(pilot)
            assert app.answers.get("role") == "infra"
            for _ in "infra":
                await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert role.value == "" and not app.answers.is_set("role")
            await pilot.press("ctrl+z")  # further back than the last change: the text before the reset
            await settle(pilot)
            assert role.value == "worker" and app.answers.get("role") == "worker"
            assert "node-role.kubernetes.io/worker" in preview_text(app)
            await pilot.press("ctrl+z")  # nothing older: the text stays
            await pilot.press("ctrl+y", "ctrl+shift+z")
            await laid_out(pilot)
            assert role.value == "i" and app.answers.get("role") == "i"
            await pilot.press("x")  # a new change ends the redo chain
            await pilot.press("ctrl+y")
            await laid_out(pilot)
            assert role.value == "ix"

    run(go())


def test_ctrl_z_takes_back_a_path_completion(tmp_path):
    (tmp_path / "Dockerfile.custom").write_text("FROM scratch\n")

    async def go():
        app = kmm_app(kmm__build="dockerfile")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("source")
            path = app.query_one("#" + field_id("kmm.dockerfile"))
            path.focus()
            await pilot.press(*"Dockerfile.c")
            await laid_out(pilot)
            await pilot.press("right")  # takes the completion
            await laid_out(pilot)
            assert path.value == "Dockerfile.custom"
            await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert path.value == "Dockerfile.c" and app.answers.get("kmm.dockerfile") == "Dockerfile.c"

    run(go())


def test_the_dockerfile_dialog_editor_undoes_and_redoes():
    """F5's editor is a TextArea too: its own history, with the same keys."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f5")
            await laid_out(pilot)
            area = app.screen.query_one("#dockerfile-text")
            before = area.text
            area.focus()
            await pilot.press("enter", *"RUN true")
            await laid_out(pilot)
            assert area.text != before
            for _ in range(2):  # the line break, then the typing (Textual batches them apart)
                await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert area.text == before
            await pilot.press("ctrl+shift+z", "ctrl+y")
            await laid_out(pilot)
            assert "RUN true" in area.text
            path = app.screen.query_one("#dockerfile-path")  # a dialog's one-line field
            before = path.value
            path.focus()
            await pilot.press("end", "x")
            await laid_out(pilot)
            assert path.value == before + "x"
            await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert path.value == before
            await pilot.press("ctrl+y")
            await laid_out(pilot)
            assert path.value == before + "x"

    run(go())


def test_the_preview_search_box_undoes_too():
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.query_one("#preview-scroll").focus()
            await pilot.press("slash", *"kmm", "backspace")
            await laid_out(pilot)
            search = app.query_one("#preview-search")
            assert search.value == "km"
            await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert search.value == "kmm" and "'kmm'" in str(app.query_one("#preview-status").content)

    run(go())


def test_loading_a_preset_keeps_each_fields_history():
    """The choice documented in docs/tui.md: a preset or answers file changes the fields' texts as
    the wizard's other changes do, one ctrl+z step in each field; nothing is forgotten."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            area = await typed_in_mappings(app, pilot)
            app._load_preset("kmm-prebuilt")
            await settle(pilot)
            assert "el9_" in area.text and len(app.answers.get("kmm.kernel_mappings")) == 2
            area.focus()
            await pilot.press("ctrl+z")
            await settle(pilot)
            assert area.text == TYPED
            assert [m["regexp"] for m in app.answers.get("kmm.kernel_mappings")] == ["^.+a$"]
            assert app.answers.get("kmm.container_image").startswith("quay.io/example/")  # the rest: the preset's

    run(go())


def test_f1_help_says_what_undo_and_redo_do():
    from kmwizard.screens.texts import general_help

    text = general_help(WizardApp())
    assert "ctrl+z undoes" in text and "ctrl+y (or ctrl+shift+z) redoes" in text
    assert "one-line field" in text and "multi-line editor" in text and "ctrl+r" in text
