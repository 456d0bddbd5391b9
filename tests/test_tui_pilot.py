"""The Textual wizard driven through Pilot: whole runs end to end, compared with what
`kmwizard generate` writes for the answers the wizard saved."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kvc_fixtures import make_fixture_repos
from test_tui_support import generate, kvc_answers, settle, tree

from kmwizard.preset_store import preset_path
from kmwizard.screens.app import WizardApp
from kmwizard.screens.dialogs import SavePresetScreen
from kmwizard.screens.fields import field_id
from kmwizard.screens.preview import FindingsPanel, PreviewPane

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """User presets and the KVC cache under tmp_path; never the real home."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


async def type_into(pilot, key: str, text: str) -> None:
    """Focus the field of an answer key, clear it and type the text key by key."""
    widget = pilot.app.query_one("#" + field_id(key))
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def write_files(pilot, directory: Path) -> None:
    await pilot.press("f2")
    await pilot.pause()
    dialog = pilot.app.screen
    dialog.query_one("#write-dir").value = str(directory)
    await pilot.pause()
    assert not dialog.query_one("#write").disabled, dialog.query_one("#write-plan").content
    await pilot.click("#write")
    await pilot.pause()


async def save_preset(pilot, name: str) -> Path:
    await pilot.press("f4")
    await pilot.pause()
    dialog = pilot.app.screen
    dialog.query_one("#preset-name").value = name
    dialog.query_one("#preset-description").value = "saved by the pilot test"
    await pilot.click("#save")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, SavePresetScreen), "the preset dialog did not close"
    return preset_path(name)


def test_kvc_day2_wizard_writes_what_generate_writes(tmp_path):
    # Plain asyncio.run: no async pytest plugin is needed.
    asyncio.run(_kvc_day2(tmp_path))


async def _kvc_day2(tmp_path):
    repos = make_fixture_repos(tmp_path / "repos")
    app = WizardApp(Answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Step 1: method (KVC is the default), then the target: day 2 on an "infra" pool.
        await pilot.press("f8")
        assert app.current_step == "target"
        await type_into(pilot, "role", "infra")
        await settle(pilot)
        # Step 3: the repositories (local git checkouts, so no network).
        await pilot.press("f8")
        assert app.current_step == "source"
        app.query_one("#" + field_id("kvc.framework_repo")).value = str(repos.framework)
        app.query_one("#" + field_id("kvc.module_repo")).value = str(repos.module)
        await settle(pilot)
        assert app.answers.get("role") == "infra"
        assert app.answers.get("day") == 2
        # The preview shows the MachineConfig for the infra pool, and no error.
        preview = app.query_one(PreviewPane)
        assert preview.files and preview.files[0].path == "99-infra-kvc-simple-kmod.yaml"
        shown = str(app.query_one("#preview-text").content)
        assert "machineconfiguration.openshift.io/role: infra" in shown
        assert not [f for f in app.findings() if f.severity is Severity.ERROR]
        # Walk to the review and write.
        for _ in range(5):
            await pilot.press("f8")
        assert app.current_step == "review"
        await write_files(pilot, tmp_path / "tui-out")
        preset = await save_preset(pilot, "pilot-kvc")
    written = tree(tmp_path / "tui-out")
    assert "99-infra-kvc-simple-kmod.yaml" in written
    # The saved answers hold what was typed, and generate on them writes the same bytes and modes.
    saved = yaml.safe_load(preset.read_text())
    assert saved["role"] == "infra" and saved["kvc"]["module_repo"] == str(repos.module)
    assert generate(["--preset", "pilot-kvc", "--output-dir", str(tmp_path / "gen-out")]) == 0
    assert tree(tmp_path / "gen-out") == written
