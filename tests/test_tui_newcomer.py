"""The wizard as a newcomer meets it (issue 13), driven through Pilot: an offline first screen that
fetches nothing, a preview that follows the local trees it reads, findings that lead to their field."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kvc_trees import MODULE, build_kvc_tree
from test_tui_support import kmm_app, laid_out, settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import field_id

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def run(coro):
    asyncio.run(coro)


def test_first_screen_fetches_nothing_until_the_repositories_are_chosen(builds):
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert builds == [] and app.waiting_for_fetch
            assert "Nothing fetched yet" in str(app.query_one("#preview-text").content)
            assert "not rendered yet" in str(app.query_one("#preview-status").content)
            assert not [f for f in app.findings() if f.severity is Severity.ERROR]
            assert [f.code for f in app.findings()] == ["fetch-deferred"]
            for step in ("target", "source"):  # walking up to the repositories fetches nothing
                await pilot.press("f8")
                await settle(pilot)
                assert app.current_step == step and builds == []
            await pilot.press("f8")  # leaving the Module source step: the user has chosen
            await settle(pilot)
            assert app.current_step == "entitlement"
            assert builds and not app.waiting_for_fetch
            assert any(f.severity is Severity.ERROR for f in app.findings())  # the fetch's own error

    run(go())


def test_choosing_kmm_on_the_first_screen_renders_at_once(builds):
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.query_one("#" + field_id("method")).value = "kmm"
            await settle(pilot)
            assert app.rendering.files and not app.waiting_for_fetch and builds == []
            assert "kind: Module" in str(app.query_one("#preview-text").content)

    run(go())


def test_write_on_the_waiting_screen_starts_the_fetch_instead_of_writing_nothing(builds):
    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f2")
            await settle(pilot)
            assert builds and app.screen is app.screen_stack[0]  # no write dialog over nothing

    run(go())


def test_a_file_added_to_the_fakeroot_shows_without_a_restart(tmp_path):
    """The render cache keys on the tree's state (kmwizard.render.input_state)."""
    root, _ = build_kvc_tree(tmp_path)
    conf = root / "etc" / "kvc" / f"{MODULE}.conf"
    saved = conf.read_bytes()
    conf.unlink()

    async def go():
        app = WizardApp(Answers({"method": "kvc", "kvc.fakeroot": str(root)}))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "kvc-conf-missing" in [f.code for f in app.findings()]
            conf.write_bytes(saved)
            app._check_inputs()  # what the poll timer does every INPUT_POLL_SECONDS
            await settle(pilot)
            assert "kvc-conf-missing" not in [f.code for f in app.findings()]
            assert app.rendering.files

    run(go())


def test_a_finding_on_the_rendered_module_marks_its_step_and_field_and_f6_enter_jumps():
    """Item 2: the name-length error found on module-*.yaml:$.metadata.name names kmm.name
    (kmwizard.locate); its step gets its ✗, the field is marked, and F6 then Enter (no arrow key)
    focuses the field."""
    from kmwizard.preset_store import load_preset

    answers = load_preset("kmm-ci").set("kmm.name", "a" * 40)

    async def go():
        app = WizardApp(answers)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            wrong = [f for f in app.findings() if f.severity is Severity.ERROR]
            assert [f.where for f in wrong] == ["kmm.name"] and "$.metadata.name" in wrong[0].message
            labels = {o.id: str(o.prompt) for o in app.query_one("#steps").options}
            assert labels["source"].startswith("✗") and not labels["method"].startswith("✗")
            await pilot.press("f6")
            await pilot.press("enter")
            await laid_out(pilot)
            assert app.current_step == "source"
            assert app.focused is app.query_one("#" + field_id("kmm.name"))
            row = app.query_one("#row-" + field_id("kmm.name")[2:])
            assert row.has_class("-error") and "✗" in str(row.query_one("Label").content)

    run(go())


def footer_keys(app) -> list[str]:
    """The keys as the footer draws them, left to right."""
    footer = app.screen.query_one("KeyFooter")
    line = str(footer.render())
    return [key for key, shown_as, description, _enabled in sorted(
        footer.keys, key=lambda k: line.index(f"{k[1]} {k[2]}"))]


def test_the_footer_keeps_its_order_and_every_tab_stop_shows_focus():
    """Item 3: a TextArea binds F6/F7 itself and used to move them to the front of the footer;
    the steps' scroll columns were focusable with nothing to show it."""
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("mappings")
            await laid_out(pilot)
            orders = set()
            for widget in list(app.screen.focus_chain):
                widget.focus()
                await laid_out(pilot)
                orders.add(tuple(footer_keys(app)))
                assert type(widget).__name__ != "StepScroll", "an invisible tab stop"
            assert orders == {("f1", "f2", "f3", "f4", "f6", "f7", "f8", "f9")}

    run(go())


def test_a_click_on_a_footer_key_does_what_the_key_does_and_a_remapped_key_shows_as_remapped(tmp_path):
    """The footer is one widget (screens/footer.py KeyFooter), not Textual's widget per key: a click at a key's
    label must still press that key (Textual's FooterKey.on_mouse_down simulates the key), the
    pointer's key is highlighted, and keymap.yaml's keys are what it shows."""
    from kmwizard.screens.dialogs import HelpScreen, SavePresetScreen

    keymap = tmp_path / "keymap.yaml"
    keymap.write_text("kmwizard.save_preset: f12\n")

    async def go():
        app = kmm_app()
        app.keymap_file = keymap
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            footer = app.screen.query_one("KeyFooter")
            line = str(footer.render())
            assert "f12 Save" in line and "f4" not in line
            await pilot.hover(footer, offset=(line.index("Help"), 0))
            await laid_out(pilot)
            assert footer.key_at(line.index("Help")) == 0 and footer._hover == 0
            await pilot.click(footer, offset=(line.index("Help"), 0))
            await laid_out(pilot)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await laid_out(pilot)
            await pilot.click(footer, offset=(line.index("f12"), 0))
            await laid_out(pilot)
            assert isinstance(app.screen, SavePresetScreen)
            await pilot.press("escape")
            await laid_out(pilot)
            await pilot.click(footer, offset=(len(line) + 2, 0))  # past the last key: nothing happens
            await laid_out(pilot)
            assert app.screen is app.screen_stack[0]

    run(go())


def test_enter_in_a_dialog_field_does_the_main_action(tmp_path):
    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await laid_out(pilot)
            app.screen.query_one("#preset-name").value = "by-enter"
            app.screen.query_one("#preset-name").focus()
            await pilot.press("enter")
            await laid_out(pilot)
            assert app.screen is app.screen_stack[0]
            from kmwizard.preset_store import preset_path

            assert preset_path("by-enter").is_file()
            await pilot.press("f2")
            await laid_out(pilot)
            app.screen.query_one("#write-dir").value = str(tmp_path / "out")
            app.screen.query_one("#write-dir").focus()
            await laid_out(pilot)
            await pilot.press("enter")
            await laid_out(pilot)
            assert (tmp_path / "out" / "module-kmm-ci.yaml").is_file()

    run(go())


def test_narrow_terminals_get_a_step_strip_and_f9_swaps_form_and_preview():
    """Item 11: at 80 columns the form and the preview each get the full width, in turn."""
    async def go():
        app = kmm_app(kmm__kernel_mappings=({"regexp": "^(.+$"},))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            labels = [str(o.prompt) for o in app.query_one("#steps").options]
            assert labels[:3] == ["  1", "  2", "  3"] and "✗ 5" in labels  # numbers and ✗ marks only
            form, preview = app.query_one("#form-column"), app.query_one("#preview-column")
            assert preview.region.width == 0
            assert form.region.width >= 70
            assert "1 error(s)" in str(app.query_one("#form-status").content)
            await pilot.press("f9")
            await laid_out(pilot)
            assert preview.region.width >= 70 and form.region.width == 0
            await pilot.press("f6")  # F6 focuses the findings; Enter jumps back to the form
            await pilot.press("enter")
            await laid_out(pilot)
            await laid_out(pilot)
            assert form.region.width >= 70 and app.current_step == "mappings"
            await pilot.resize_terminal(120, 40)
            await laid_out(pilot)
            labels = [str(o.prompt) for o in app.query_one("#steps").options]
            assert labels[0] == "  Method" and "✗ Kernel mappings" in labels

    run(go())


def test_at_80x24_the_preset_list_shows_one_line_per_preset_and_several_at_once(builds):
    """Item 11: the preset list used to wrap each long description, one preset filling the list. The presets
    are now a list on the first screen itself (form.PresetList, no drop-down to open), one line per preset
    cut with an ellipsis, five in view; moving over them loads nothing."""
    from textual.geometry import Region

    from kmwizard.preset_store import list_presets, load_preset

    builtin = [p.name for p in list_presets() if p.origin == "built-in"]
    assert len(builtin) >= 3

    async def go():
        app = WizardApp(Answers())
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            presets = app.query_one("#start-preset")
            presets.focus()
            await pilot.pause()
            assert presets.highlighted == 0  # on arrival the first is highlighted: Enter never does nothing
            await pilot.press("down", "down")
            await laid_out(pilot)
            assert presets.option_count == len(builtin)
            assert presets.virtual_size.height == presets.option_count  # no option takes a second line
            width, height = presets.outer_size
            rows = [strip.text.strip("▊▎▔▁ ") for strip in presets.render_lines(Region(0, 0, width, height))]
            shown = [name for name in builtin if any(row.startswith(f"{name} (built-in)") for row in rows)]
            assert len(shown) >= 3, "\n".join(rows)
            prompts = [str(option.prompt) for option in presets.options]
            for name in shown:  # its row holds it alone, the description cut rather than wrapped
                row = next(row for row in rows if row.startswith(f"{name} (built-in)"))
                full = next(text for text in prompts if text.startswith(f"{name} (built-in)"))
                assert [n for n in builtin if f"{n} (" in row] == [name], row
                assert row == full or (row.endswith("…") and full.startswith(row[:-1].rstrip())), row
            assert app.answers == Answers()  # the arrows moved the highlight and loaded nothing
            chosen = builtin[presets.highlighted]
            await pilot.press("enter")
            await settle(pilot)
            assert app.answers == load_preset(chosen) and chosen == builtin[2]

    run(go())


def test_findings_grow_with_their_text_and_f6_twice_fills_the_screen():
    """Item 4: a long finding's fix is visible, and one key shows every finding in full."""
    async def go():
        app = kmm_app(kmm__kernel_mappings=({"regexp": "^(.+$"},))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await laid_out(pilot)
            panel = app.query_one("#findings")
            assert panel.region.height >= 2 + 4  # border + the error (3 lines) + its fix
            await pilot.press("f6", "f6")
            await laid_out(pilot)
            assert app.screen.maximized is panel and panel.region.height == SIZE[1] - 1
            await pilot.press("f6")
            await laid_out(pilot)
            assert app.screen.maximized is None

    run(go())


def test_the_preview_wraps_with_a_toggle_and_its_status_line_is_never_cut():
    async def go():
        long_image = "quay.io/" + "x" * 150 + "/m:${KERNEL_FULL_VERSION}"
        app = kmm_app(kmm__container_image=long_image)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            text = app.query_one("#preview-text")
            scroll = app.query_one("#preview-scroll")
            assert text.region.width <= scroll.region.width  # wrapped: nothing beyond the edge
            scroll.focus()
            await pilot.press("w")
            await laid_out(pilot)
            assert text.virtual_region.width > scroll.region.width  # long lines now scroll sideways
            status = app.query_one("#preview-status")
            app.query_one("PreviewPane").set_status("x " * 100)
            await laid_out(pilot)
            assert status.region.height >= 3  # wrapped, not cut

    run(go())


def test_kvc_wording_names_neither_the_driver_toolkit_nor_make_install_for_a_given_tree(tmp_path):
    """Item 11: KVC's entitlement choice is not about the Driver Toolkit (KMM only); a fakeroot the
    user gave is fixed in that tree, not with `make install`; the source step speaks to both methods."""
    from kmwizard import flow
    from kmwizard.questions import choice_options

    root, _ = build_kvc_tree(tmp_path)
    (root / "etc" / "kvc" / f"{MODULE}.conf").unlink()
    kvc = Answers({"method": "kvc", "kvc.fakeroot": str(root)})
    question = next(q for s in flow.FLOW for q in s.questions if q.key == "entitlement.source")
    assert "Driver Toolkit" not in " ".join(label for label, _ in choice_options(question, kvc))
    assert "Driver Toolkit" in " ".join(label for label, _ in choice_options(question, kvc.set("method", "kmm")))
    assert "KVC" not in next(s for s in flow.FLOW if s.id == "source").intro
    from kmwizard.render import render

    missing = next(f for f in render(kvc).findings if f.code == "kvc-conf-missing")
    assert "make install" not in missing.fix and str(root) in missing.fix


def test_placeholders_say_default_or_example():
    """Item 6: the dim text of an empty field says which it is; kernel mappings show the real default."""
    from kmwizard.flow import FLOW
    from kmwizard.questions import default_hint

    questions = {q.key: q for s in FLOW for q in s.questions}
    answers = Answers({"method": "kmm"})
    assert default_hint(questions["kmm.kernel_mappings"], answers) == "default: [{regexp: ^.+$}]"
    assert default_hint(questions["kmm.image_repo_secret"], answers) == "e.g. my-registry-pull-secret"
    assert default_hint(questions["role"], answers) == "default: worker"

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("mappings")
            await laid_out(pilot)
            assert app.query_one("#" + field_id("kmm.image_repo_secret")).placeholder == \
                "e.g. my-registry-pull-secret"
            image = app.query_one("#" + field_id("kmm.container_image")).placeholder
            assert image.startswith("default:image-registry.")  # one word: the Input shows its start

    run(go())


def test_the_kernel_tester_says_one_true_thing_about_a_regexp_that_does_not_compile():
    """Item 14: not 'KMM stops at it' and then 'nodes are skipped silently'."""
    async def go():
        app = kmm_app(kmm__kernel_mappings=({"regexp": "^(.+$"},))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await app.show_step("mappings")
            app.query_one("#kernel-test").value = "5.14.0-427.13.1.el9_4.x86_64"
            await laid_out(pilot)
            result = str(app.query_one("#kernel-result").content)
            # The answer check rejects the regexp, so no Module is rendered: the tester says only that
            # (kmwizard/kmm/kernel_match.py's own wording is tested in test_kmm_kernel_match.py).
            assert "silently" not in result and "no mapping matches" not in result and "stops at it" not in result
            assert result

    run(go())


def test_search_copy_undo_reset_and_path_completion(tmp_path, monkeypatch):
    """Item 10: / searches the preview, c copies the shown file (OSC 52), ctrl+z undoes a one-line
    field, ctrl+r resets a field to its default, path fields complete from the file system."""
    from kmwizard.screens.fields import complete_path

    (tmp_path / "signing-key.priv").write_text("k")
    (tmp_path / "signing-dir").mkdir()
    assert complete_path("signing-k") == "signing-key.priv"
    assert complete_path(str(tmp_path / "signing-d")) == str(tmp_path / "signing-dir") + "/"
    assert complete_path("https://github.com/x") is None

    async def go():
        app = kmm_app()
        copied = []
        monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.query_one("#preview-scroll").focus()
            await pilot.press("slash", *"kmm_ci")
            await laid_out(pilot)
            status = str(app.query_one("#preview-status").content)
            assert "match 1 of" in status and "'kmm_ci'" in status
            await pilot.press("enter")
            await laid_out(pilot)
            assert "match 2 of" in str(app.query_one("#preview-status").content)
            await pilot.press("escape")
            await pilot.press("c")
            assert copied and "kind: Module" in copied[0]
            await app.show_step("target")
            role = app.query_one("#" + field_id("role"))
            role.focus()
            role.value = "infra"
            await laid_out(pilot)
            role.value = "infra2"
            await laid_out(pilot)
            await pilot.press("ctrl+z")
            await laid_out(pilot)
            assert role.value == "infra" and app.answers.get("role") == "infra"
            await pilot.press("ctrl+r")
            await laid_out(pilot)
            assert not app.answers.is_set("role") and role.value == ""

    run(go())


def test_screenshots_land_in_a_directory_that_exists_and_say_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/Downloads, as on a server
    monkeypatch.chdir(tmp_path)

    async def go():
        app = kmm_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            saved = app.deliver_screenshot()
            await laid_out(pilot)
            assert saved and Path(saved).parent == tmp_path and Path(saved).is_file()
            assert any(saved in str(n.message) for n in app._notifications)

    run(go())


def test_write_shows_what_changes_in_files_it_replaces(tmp_path):
    from kmwizard.output import plan
    from kmwizard.preset_store import load_preset
    from kmwizard.questions import replace_diff
    from kmwizard.render import render

    rendering = render(load_preset("kmm-ci"))
    (tmp_path / "module-kmm-ci.yaml").write_text("kind: Module\nmetadata:\n  name: old-name\n")
    text = replace_diff(plan(rendering, tmp_path))
    assert "-  name: old-name" in text and "+  name: kmm-ci" in text
