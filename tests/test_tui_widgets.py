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
            await pilot.pause()
            assert presets.outer_size.height == len(ids) + 2  # a sixth preset: the list grows, all in view
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


def test_a_default_that_follows_another_answer_is_shown_as_it_changes():
    """The review in tmux: after the namespace changed, "Generate the Namespace too?" still marked no while
    the preview had a Namespace (its default follows the namespace: keys/kmm.py), and Enter on the marked
    option did nothing. Text fields' dim default hints follow the same way (FormMixin.watch_answers ->
    FieldRow.follow); typed text is never touched."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("loading")
            await app.show_step("signing")
            create = choice(app, "kmm.create_namespace")
            secret = app.query_one("#" + field_id("kmm.sign.key_secret"))
            assert create.value is False and "kmm-ci-signing-key" in secret.placeholder
            app.answers = app.answers.set("kmm.namespace", "demo").set("kmm.name", "other")
            await settle(pilot)
            assert create.value is True and marks(create) == ["● yes", "○ no"]
            assert "other-signing-key" in secret.placeholder and secret.value == ""
            assert not app.answers.is_set("kmm.create_namespace")  # still the default, shown as it is now
            create.focus()
            await pilot.press("down", "enter")  # choosing "no" now takes effect
            await settle(pilot)
            assert app.answers.get("kmm.create_namespace") is False
            assert not any(f.manifest and f.manifest.get("kind") == "Namespace" for f in app.rendering.files)

    run(go())


def test_switching_the_method_sets_the_other_methods_answers_aside_and_back():
    """The review: after --preset kmm-ci, choosing KVC gave 12 errors ("this key belongs to method kmm")
    that no KVC step can fix. Answers.switch_method takes them out; choosing KMM again brings them back."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            kmm_answers = app.answers
            method = choice(app, "method")
            method.focus()
            await pilot.press("up", "enter")
            await settle(pilot)
            assert app.answers.get("method") == "kvc"
            assert [k for k in app.answers.explicit if k.startswith("kmm.")] == []
            assert not any(f.code == "answer-wrong-method" for f in app.findings())
            assert any("set aside" in str(n.message) for n in app._notifications)
            await pilot.press("down", "enter")
            await settle(pilot)
            assert app.answers == kmm_answers  # every KMM answer back, method included
            await pilot.press("ctrl+r")  # reset to the default method (KVC): the same setting aside
            await settle(pilot)
            assert not app.answers.is_set("method") and app.answers.get("method") == "kvc"
            assert [k for k in app.answers.explicit if k.startswith("kmm.")] == []

    run(go())


def test_ctrl_z_takes_back_a_choice_and_ctrl_y_redoes_it():
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("entitlement")
            source = choice(app, "entitlement.source")
            source.focus()
            await pilot.press("down", "enter")  # certs
            await settle(pilot)
            assert app.answers.get("entitlement.source") == "certs"
            await pilot.press("ctrl+z")
            await settle(pilot)
            assert app.answers.get("entitlement.source") == "node" and source.value == "node"
            await pilot.press("ctrl+y")
            await settle(pilot)
            assert app.answers.get("entitlement.source") == "certs"

    run(go())


def test_the_help_line_fits_with_its_tail_and_follows_the_step():
    """The review: the help under the form was cut mid-sentence, its "(F1: more)" never showed, a dialog's
    fields blanked it, and the Review step kept the Extras question's help."""
    from kmwizard.screens.texts import help_line

    text = help_line("word " * 60, width=40, lines=2)
    assert text.endswith("…  (F1: more)") and len(__import__("textwrap").wrap(text, 40)) == 2
    assert help_line("Short.", width=40, lines=2) == "Short.  (F1: more)"

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            line = app.query_one("#help-line")
            choice(app, "method").focus()
            await pilot.pause()
            assert str(line.content).endswith("(F1: more)")
            await pilot.press("f1")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert str(line.content).endswith("(F1: more)")  # the dialog's widgets left it alone
            app.goto_step("review")
            await pilot.pause()
            assert str(line.content) == ""

    run(go())


def test_the_highlighted_preset_is_described_in_full_under_the_form():
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            presets = app.query_one("#start-preset")
            presets.focus()
            await pilot.press("down")
            await pilot.pause()
            full = str(presets.options[1].prompt)
            assert str(app.query_one("#help-line").content) == f"{full}  (Enter loads it)"

    run(go())


def test_f1_on_a_choice_lists_its_labels_and_says_nothing_of_empty_text():
    from kmwizard.flow import FLOW
    from kmwizard.questions import field_help

    question = next(q for s in FLOW for q in s.questions if q.key == "kmm.image_pull_policy")
    text = field_help(question, Answers({"method": "kmm"}))
    assert "Choices: (not set: Kubernetes' default), IfNotPresent, Always, Never" in text
    assert "Leave a text answer empty" not in text


def test_at_80x24_the_dialogs_keep_their_fields_and_buttons_in_view(tmp_path):
    """The review at 80x24: the Write dialog over existing files showed its diff and cut off the "Replace"
    box and both buttons; F5's editor pushed its path field and Save button off screen. Below 34 rows the
    dialogs take the class -short (SHORT_TERMINAL) and their long parts shrink (dialogs.dialog_css).
    At 110x32 (-middle) they shrink less; the same check holds there."""
    def in_view(screen, selectors):
        width, height = screen.app.size
        for selector in selectors:
            region = screen.query_one(selector).region
            assert region.height and region.bottom <= height and region.right <= width, (selector, region)

    async def go(size):
        app = kmm_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f2")
            await pilot.pause()
            app.screen.query_one("#write-dir").value = str(tmp_path / "out")
            await pilot.press("enter")  # writes: nothing exists there yet
            await pilot.pause(0.3)
            (tmp_path / "out" / "Dockerfile").write_text("# mine\n")  # now one file differs
            await pilot.press("f2")
            await pilot.pause()
            app.screen.query_one("#write-dir").value = str(tmp_path / "out")
            await laid_out(pilot)
            assert "REPLACES" in str(app.screen.query_one("#write-plan").content)
            in_view(app.screen, ["#write-dir", "#write-force", "#cancel", "#write"])
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("f5")
            await laid_out(pilot)
            in_view(app.screen, ["#dockerfile-text", "#dockerfile-path", "#cancel", "#save"])

    run(go((80, 24)))
    (tmp_path / "out" / "Dockerfile").unlink()
    run(go((110, 32)))


def test_saving_under_a_built_in_presets_name_asks_first():
    """The review: F4 with the name kmm-ci saved at once, and the user preset then hid the built-in one in
    every list. preset_store.save_user_preset refuses without force, as for an existing user preset."""
    from kmwizard.findings import UsageError
    from kmwizard.preset_store import list_presets

    with pytest.raises(UsageError, match="built-in preset named 'kmm-ci' exists already"):
        save_user_preset("kmm-ci", Answers({"method": "kmm"}), "mine")
    assert [p.origin for p in list_presets() if p.name == "kmm-ci"] == ["built-in"]
    save_user_preset("kmm-ci", Answers({"method": "kmm"}), "mine", force=True)
    assert [p.origin for p in list_presets() if p.name == "kmm-ci"] == ["user"]


def test_choosing_kvc_after_a_kmm_preset_clones_nothing_until_the_repositories_are_chosen(builds):
    """The review: after --preset kmm-ci, choosing KVC cloned GitHub at once (loading the preset had
    allowed fetching), and "Migrate to KMM" cloned again on opening. Choosing the method is not choosing
    the repositories (FormMixin.switch_method); the Migrate dialog then clones only on Check."""
    from kmwizard.screens.migrate_dialog import MigrateScreen

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            method = choice(app, "method")
            method.focus()
            await pilot.press("up", "enter")
            await settle(pilot)
            assert app.answers.get("method") == "kvc" and builds == []
            assert app.waiting_for_fetch  # the preview says nothing is fetched until they are chosen
            app.action_migrate()
            await pilot.pause()
            assert isinstance(app.screen, MigrateScreen) and builds == []
            assert "Press Check" in str(app.screen.query_one("#migrate-result").content)
            await pilot.click("#check")
            await pilot.pause()
            assert builds  # now, and only now (the fixture fails it: no network in tests)

    run(go())


def test_ctrl_q_with_unsaved_answers_asks_once_and_quits_on_the_second():
    """The review: ctrl+q quit at once after edits, losing the answers. Unchanged answers (as loaded from a
    preset) or answers just saved as a preset quit at once (WizardApp.action_quit, _kept)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.answers = app.answers.set("role", "infra")
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.is_running and any("ctrl+q again quits" in str(n.message) for n in app._notifications)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running

    run(go())

    async def saved():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.answers = app.answers.set("role", "infra")
            await pilot.press("f4")
            await pilot.pause()
            app.screen.query_one("#preset-name").value = "mine"
            await pilot.click("#save")
            await pilot.pause()
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running

    run(saved())

    async def loaded():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running

    run(loaded())


def test_dialogs_are_centred():
    """DIALOG_CSS said "ModalScreen { align: center middle; }", which a screen's scoped CSS reads as
    "WriteScreen ModalScreen": it matched nothing and every dialog sat at the top left
    (dialogs.dialog_css now names the screen itself)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            for key in ("f1", "f2", "f4", "f5", "f3"):
                await pilot.press(key)
                await pilot.pause(0.2)
                dialog = app.screen.query_one(".dialog").region
                left, right = dialog.x, 120 - dialog.right
                top, bottom = dialog.y, 40 - dialog.bottom
                assert abs(left - right) <= 1 and abs(top - bottom) <= 1, (key, dialog)
                app.screen.dismiss(None)
                await pilot.pause()

    run(go())


def test_writing_again_counts_only_the_files_it_changed(tmp_path):
    """The review: "Wrote 3 file(s)" when 2 of them were already up to date (questions.written_text)."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for _ in range(2):
                await pilot.press("f2")
                await pilot.pause()
                app.screen.query_one("#write-dir").value = str(tmp_path / "out")
                await pilot.pause()
                await pilot.press("enter")
                await pilot.pause(0.3)
            messages = [str(n.message) for n in app._notifications]
            assert any(m.startswith("Wrote 3 file(s)") for m in messages), messages
            assert any(m.startswith("Nothing to write into") and "3 file(s) are already up to date" in m
                       for m in messages), messages

    run(go())
