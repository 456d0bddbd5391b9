"""The wizard's own small widgets, as a user drives them: the radio lists of choices (fields.ChoiceList),
the preset list (form.PresetList), the title bar (title_bar.TitleBar) and the preview's file tabs
(file_tabs.FileTabs). Each replaced a Textual widget (Select, Header, Tabs' centring) to make the first
screen lighter or readable; these tests hold them to what the replaced widget did for the user."""
from __future__ import annotations

import asyncio

import pytest

from kmwizard.answers import Answers
from kmwizard.preset_store import load_preset, save_user_preset
from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import ChoiceList, field_id
from test_tui_support import kmm_app, laid_out, settle

pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path
SIZE = (120, 40)


def run(coroutine) -> None:
    asyncio.run(coroutine)


def choice(app, key: str) -> ChoiceList:
    return app.query_one("#" + field_id(key), ChoiceList)


def marks(widget: ChoiceList) -> list[str]:
    return [str(option.prompt) for option in widget.options]


def test_a_choice_shows_every_option_and_moving_over_them_chooses_nothing():
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            method = choice(app, "method")
            assert marks(method) == ["● KVC (MachineConfig)", "○ KMM (Module)"]
            method.focus()
            await pilot.press("down")
            assert method.highlighted == 1 and app.answers.get("method") == "kvc"  # only highlighted
            await pilot.press("space")
            await settle(pilot)
            assert app.answers.get("method") == "kmm" and method.value == "kmm"
            assert marks(method) == ["○ KVC (MachineConfig)", "● KMM (Module)"]
            await pilot.press("up", "enter")
            await settle(pilot)
            assert app.answers.get("method") == "kvc"

    run(go())


def test_unfocused_the_highlight_rests_on_the_chosen_option():
    """A highlight left on another option would pass for the answer (as a closed Select never did)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            method = choice(app, "method")
            method.focus()
            await pilot.press("up")
            assert method.highlighted == 0
            app.query_one("#start-file").focus()
            await pilot.pause()
            assert method.highlighted == 1 and app.answers.get("method") == "kmm"

    run(go())


def test_a_click_chooses_and_the_preview_follows():
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            method = choice(app, "method")
            await pilot.click(method, offset=(4, 2))  # the second option (row 0 is the border)
            await settle(pilot)
            assert app.answers.get("method") == "kmm"
            assert any(f.manifest and f.manifest.get("kind") == "Module" for f in app.rendering.files)

    run(go())


def test_reset_and_help_work_on_a_focused_choice():
    """ctrl+r and F1 find the question from the focused widget's id, as they did with a Select."""
    from kmwizard.screens.dialogs import HelpScreen

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("signing")
            sign = choice(app, "kmm.sign.enabled")
            sign.focus()
            await pilot.press("up", "enter")  # yes
            await settle(pilot)
            assert app.answers.get("kmm.sign.enabled") is True and app.answers.is_set("kmm.sign.enabled")
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert not app.answers.is_set("kmm.sign.enabled") and sign.value is False
            assert marks(sign) == ["○ yes", "● no"]
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)

    run(go())


def test_choice_labels_follow_the_method():
    """Only KMM builds on the Driver Toolkit: the entitlement option says so only there."""
    async def go():
        app = WizardApp(Answers({"method": "kvc"}))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("entitlement")
            source = choice(app, "entitlement.source")
            assert marks(source)[0] == "● node (already entitled)"
            app.answers = app.answers.set("method", "kmm")
            await settle(pilot)
            assert marks(source)[0] == "● node (entitled / Driver Toolkit)"
            assert source.value == "node"

    run(go())


def test_a_loaded_preset_moves_the_marks():
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.load_answers(load_preset("kmm-ci"), "preset kmm-ci")
            await settle(pilot)
            assert choice(app, "method").value == "kmm"
            assert marks(choice(app, "method")) == ["○ KVC (MachineConfig)", "● KMM (Module)"]

    run(go())


def test_a_saved_user_preset_joins_the_list_and_loads_with_enter():
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            presets = app.query_one("#start-preset")
            assert presets.outer_size.height == 7  # fixed: filling it after the first paint moves nothing
            save_user_preset("zz-mine", Answers({"method": "kmm", "kmm.name": "from-zz"}), "mine")
            app._refresh_presets()  # what F4's dialog does once saved
            await pilot.pause()
            ids = [option.id for option in presets.options]
            assert ids[-1] == "zz-mine" and "kmm-ci" in ids
            presets.focus()
            await pilot.press("end")
            assert app.answers == Answers()  # highlighted, not loaded
            await pilot.press("enter")
            await settle(pilot)
            assert app.answers.get("kmm.name") == "from-zz" and choice(app, "method").value == "kmm"

    run(go())


def test_the_answers_file_loads_on_enter_and_a_wrong_path_says_so(tmp_path):
    answers_file = tmp_path / "mine.yaml"
    answers_file.write_text("format_version: 1\nmethod: kmm\nkmm:\n  name: from-file\n")

    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            field = app.query_one("#start-file")
            field.value = str(tmp_path / "missing.yaml")
            field.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert app.answers == Answers()
            assert any("missing.yaml" in str(n.message) for n in app._notifications)
            field.value = str(answers_file)
            await pilot.press("enter")
            await settle(pilot)
            assert app.answers.get("kmm.name") == "from-file"

    run(go())


def test_the_title_bar_names_the_step_and_its_icon_opens_the_command_palette():
    from textual.command import CommandPalette

    from kmwizard.screens.title_bar import TitleBar

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            bar = app.query_one(TitleBar)
            assert "kmwizard — Method" in str(bar.render())
            await pilot.press("f8")
            await pilot.pause()
            assert "kmwizard — Target" in str(bar.render())
            await pilot.click(TitleBar, offset=(20, 0))  # not on the icon: nothing
            await pilot.pause()
            assert not isinstance(app.screen, CommandPalette)
            await pilot.click(TitleBar, offset=(1, 0))
            await pilot.pause()
            assert isinstance(app.screen, CommandPalette)

    run(go())


def test_file_tabs_scroll_only_as_far_as_the_active_tab_needs():
    """Textual's Tabs centre the active tab (textual/widgets/_tabs.py Tabs._scroll_active_tab): with the
    Module active after its ConfigMap, the first tab read "onfigMap (Dockerfile)" at 120 columns."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await laid_out(pilot)
            tabs = app.query_one("#preview-tabs")
            strip = tabs.query_one("#tabs-scroll")
            assert tabs.active_tab is not None and "Module" in str(tabs.active_tab.label)
            first = tabs.query("Tab").first()
            assert strip.scroll_x == 0  # both fit from the start: nothing to scroll
            assert first.region.x >= strip.region.x  # the first tab's name starts in view
            active = tabs.active_tab.region
            assert strip.region.x <= active.x and active.right <= strip.region.right

    run(go())
