"""The wizard as a newcomer meets it (issue 13), driven through Pilot: an offline first screen that
fetches nothing, a preview that follows the local trees it reads, findings that lead to their field."""
from __future__ import annotations

import asyncio

import pytest

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kvc_trees import MODULE, build_kvc_tree
from test_tui_support import settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import field_id

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def builds(monkeypatch):
    """Every KVC fetch-and-build the app starts, recorded instead of run (no network in tests)."""
    from kmwizard.kvc import fetch

    calls = []

    def record(framework, module, entry, progress, refresh):
        calls.append((framework.repo, module.repo))
        raise fetch.FetchError(framework.key, "offline in this test", "no fix")

    monkeypatch.setattr(fetch, "_build", record)
    return calls


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
    """Item 2: the regexp error found on module-*.yaml names kmm.kernel_mappings (kmwizard.locate);
    its step gets its ✗, the field is marked, and F6 then Enter (no arrow key) focuses the field."""
    from kmwizard.preset_store import load_preset

    answers = load_preset("kmm-ci").set("kmm.kernel_mappings", ({"regexp": "^(.+$"},))

    async def go():
        app = WizardApp(answers)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            wrong = [f for f in app.findings() if f.severity is Severity.ERROR]
            assert [f.where for f in wrong] == ["kmm.kernel_mappings"]
            labels = {o.id: str(o.prompt) for o in app.query_one("#steps").options}
            assert labels["mappings"].startswith("✗") and not labels["method"].startswith("✗")
            await pilot.press("f6")
            await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()
            assert app.current_step == "mappings"
            assert app.focused is app.query_one("#" + field_id("kmm.kernel_mappings"))
            row = app.query_one("#row-" + field_id("kmm.kernel_mappings")[2:])
            assert row.has_class("-error") and "✗" in str(row.query_one("Label").content)

    run(go())
