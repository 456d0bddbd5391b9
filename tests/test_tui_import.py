"""`kmwizard tui --from`: the wizard opens on imported answers and shows what generating changes against the
imported objects (F10), driven through Pilot, plus an SVG snapshot of that dialog."""
from __future__ import annotations

import asyncio
import copy

import pytest
from textual.widgets import Input

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard.answers import Answers
from kmwizard.importing import import_documents
from kmwizard.preset_store import load_preset
from kmwizard.render import render
from test_tui_support import settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.import_changes import ImportChangesScreen
from kmwizard.screens.fields import field_id

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def _imported(tmp_path):
    """A hand-edited kmm-ci Module (an annotation the answers cannot hold) with its ConfigMap, imported."""
    rendering = render(load_preset("kmm-ci"))
    pairs = [(f.path, copy.deepcopy(f.manifest)) for f in rendering.files if f.manifest is not None]
    module = next(d for _w, d in pairs if d["kind"] == "Module")
    module["metadata"]["annotations"] = {"team.example.com/owner": "storage"}
    plan = import_documents(pairs, tmp_path / "imported")
    assert plan.ok
    return plan


def app_for(plan) -> WizardApp:
    return WizardApp(plan.answers, imported=plan, imported_from="module-kmm-ci.yaml")


def test_the_wizard_opens_on_the_import_and_shows_no_change(tmp_path):
    asyncio.run(_the_wizard_opens_on_the_import_and_shows_no_change(tmp_path))


async def _the_wizard_opens_on_the_import_and_shows_no_change(tmp_path):
    plan = _imported(tmp_path)
    async with app_for(plan).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ImportChangesScreen)
        body = str(screen.query_one("#changes-body").content)
        assert "Module/openshift-kmm/kmm-ci: generating gives the original back (no change)" in body
        assert "Module/openshift-kmm/kmm-ci: metadata.annotations" in body  # kept in the overlay
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, ImportChangesScreen)
        assert pilot.app.answers.get("kmm.name") == "kmm-ci"
        assert pilot.app.answers.get("overlay")[0]["path"] == "metadata.annotations"


def test_f10_shows_what_an_edited_answer_changes(tmp_path):
    asyncio.run(_f10_shows_what_an_edited_answer_changes(tmp_path))


async def _f10_shows_what_an_edited_answer_changes(tmp_path):
    plan = _imported(tmp_path)
    async with app_for(plan).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await pilot.app.show_step("target")
        await pilot.pause()
        widget = pilot.app.query_one("#" + field_id("role"), Input)
        widget.focus()
        await pilot.pause()
        widget.value = "infra"
        await pilot.pause()
        await settle(pilot)
        assert pilot.app.answers.get("role") == "infra"
        await pilot.press("f10")
        await pilot.pause()
        body = str(pilot.app.screen.query_one("#changes-body").content)
        lines = body.splitlines()
        assert any(line.startswith("-") and "node-role.kubernetes.io/worker: ''" in line for line in lines)
        assert any(line.startswith("+") and "node-role.kubernetes.io/infra: ''" in line for line in lines)


def test_f10_without_an_import_says_so():
    asyncio.run(_f10_without_an_import_says_so())


async def _f10_without_an_import_says_so():
    async with WizardApp(Answers({"method": "kmm"})).run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, ImportChangesScreen)


def test_changes_dialog_snapshot(snap_compare, tmp_path):
    plan = _imported(tmp_path)

    async def run_before(pilot) -> None:
        for widget in pilot.app.query(Input).results():
            widget.cursor_blink = False
        await settle(pilot)
        await pilot.press("escape")  # the dialog opened on start: reopen it once the form is settled
        await pilot.app.show_step("method")
        await settle(pilot)
        await pilot.press("f10")
        await pilot.pause()

    assert snap_compare(app_for(plan), terminal_size=(150, 34), run_before=run_before)


# --- the migration path in the wizard ------------------------------------------------------------------

def test_migrate_dialog_replaces_the_kvc_answers_with_kmm_ones(tmp_path):
    asyncio.run(_migrate_dialog(tmp_path))


async def _migrate_dialog(tmp_path):
    from kvc_fixtures import make_fixture_repos
    from kmwizard.screens.migrate_dialog import MigrateScreen

    repos = make_fixture_repos(tmp_path / "repos")
    app = WizardApp(Answers({"method": "kvc", "kvc.framework_repo": str(repos.framework),
                             "kvc.module_repo": str(repos.module)}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_migrate()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, MigrateScreen)
        text = str(dialog.query_one("#migrate-result").content)
        assert "1. Apply the KMM objects" in text and "3. Delete the KVC MachineConfig" in text
        dialog.query_one("#migrate-kernels").value = "4.18.0-372.9.1.el8.x86_64, 5.14.0-427.13.1.el9_4.x86_64"
        await pilot.click("#check")
        await pilot.pause()
        assert not dialog.query_one("#use").disabled
        await pilot.click("#use")
        await settle(pilot)
        assert app.answers.get("method") == "kmm"
        assert app.answers.get("kmm.module_name") == "simple-kmod"
        assert [m["literal"] for m in app.answers.get("kmm.kernel_mappings")] == [
            "4.18.0-372.9.1.el8.x86_64", "5.14.0-427.13.1.el9_4.x86_64"]
        assert any(m["kind"] == "Module" for m in app.rendering.manifests)


def test_migrate_dialog_names_a_bad_kmm_version_and_keeps_the_answers(tmp_path):
    from kmwizard.screens.migrate_dialog import migration_for

    result, text = migration_for(Answers({"method": "kmm"}), "", "two", "")
    assert result is None and "KMM version 'two' is not X.Y" in text
    result, text = migration_for(Answers({"method": "kmm"}), "", "", "")
    assert result is None and "method: migrate reads KVC answers" in text


# --- `kmwizard tui --from` wiring (the terminal part is the app above) ------------------------------------

@pytest.fixture
def captured_app(monkeypatch):
    """kmwizard.main's TUI starter replaced by a recorder; the CLI believes it has a terminal."""
    import kmwizard.cli as cli
    import kmwizard.main as program

    seen = {}

    def fake_run_tui(answers, *, imported=None, imported_from=""):
        seen.update(answers=answers, imported=imported, imported_from=imported_from)
        return 0

    monkeypatch.setattr(cli, "_is_tty", lambda: True)
    monkeypatch.setattr(program, "run_tui", fake_run_tui)
    return seen


def test_tui_from_files_imports_into_the_cache_and_opens_the_wizard(captured_app, tmp_path):
    from kmwizard.main import main

    rendering = render(load_preset("kmm-ci"))
    names = []
    for f in rendering.files:
        if f.manifest is not None:
            (tmp_path / f.path).write_bytes(f.content)
            names += ["--from", str(tmp_path / f.path)]
    assert main(["tui", *names, "--set", "kmm.kmm_version=2.4"]) == 0
    assert captured_app["answers"].get("kmm.name") == "kmm-ci"
    assert captured_app["answers"].get("kmm.kmm_version") == "2.4"
    assert captured_app["imported"].overlay == []
    assert (tmp_path / "cache" / "kmwizard" / "imports").is_dir()


def test_tui_from_with_a_preset_is_a_usage_error(captured_app, tmp_path, capsys):
    from kmwizard.main import main

    assert main(["tui", "--from", "x.yaml", "--preset", "kmm-ci"]) == 2
    assert "--preset and --answers cannot be given too" in capsys.readouterr().err


def test_tui_from_cluster_reads_the_module_and_opens_the_wizard(captured_app, apiserver, tmp_path):
    from kmwizard.cluster import engine
    from kmwizard.main import main

    apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "openshift-kmm"}})
    with engine.connect(str(apiserver.kubeconfig_path)) as conn:
        assert engine.apply(conn, render(load_preset("kmm-ci")).manifests).ok
    writes = len([r for r in apiserver.requests if r.method != "GET"])
    assert main(["tui", "--from-cluster", "module/openshift-kmm/kmm-ci", "--kubeconfig",
                 str(apiserver.kubeconfig_path), "--import-dir", str(tmp_path / "imp")]) == 0
    assert len([r for r in apiserver.requests if r.method != "GET"]) == writes
    assert captured_app["answers"].get("kmm.name") == "kmm-ci"
    assert captured_app["imported_from"] == "the cluster: module/openshift-kmm/kmm-ci"
    assert (tmp_path / "imp" / "answers.yaml").is_file()
