"""The Textual wizard driven through Pilot: whole runs end to end, compared with what
`kmwizard generate` writes for the answers the wizard saved."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kmwizard.answers import Answers
from kmwizard.findings import Severity
from kvc_fixtures import make_fixture_repos
from test_tui_support import generate, settle, tree

from kmwizard.preset_store import preset_path
from kmwizard.screens.app import WizardApp
from kmwizard.screens.dialogs import SavePresetScreen
from kmwizard.screens.fields import field_id
from kmwizard.screens.preview import PreviewPane

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


async def type_into(pilot, key: str, text: str, typed: int = 5) -> None:
    """Focus the field of an answer key, put in all but the last `typed` characters and type
    those key by key (each key press costs the test ~0.1 s, so long values are not typed whole)."""
    widget = pilot.app.query_one("#" + field_id(key))
    widget.focus()
    await pilot.pause()  # focusing selects the whole text: let it happen before putting text in
    head, tail = text[:-typed] if len(text) > typed else "", text[-typed:]
    widget.value = head
    widget.cursor_position = len(head)
    await pilot.press(*tail)


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
        shown = " ".join(str(app.query_one("#preview-text").content).split())  # long lines are folded
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


def test_kmm_wizard_with_dockerfile_edit_and_kernel_tester(tmp_path):
    asyncio.run(_kmm(tmp_path))


async def _kmm(tmp_path):
    app = WizardApp(Answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Choose KMM with the keyboard in the method Select.
        app.query_one("#" + field_id("method")).focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert app.answers.get("method") == "kmm"
        assert app._steps[:3] == ["method", "target", "source"] and "mappings" in app._steps
        await pilot.press("f8", "f8")
        assert app.current_step == "source"
        await type_into(pilot, "kmm.name", "my-driver")
        await type_into(pilot, "kmm.module_name", "my_driver")
        await settle(pilot)
        preview = app.query_one(PreviewPane)
        assert "module-my-driver.yaml" in [f.path for f in preview.files]
        # View the generated Dockerfile, change it, save it: kmm.dockerfile now points at it.
        await pilot.press("f5")
        await pilot.pause()
        area = app.screen.query_one("#dockerfile-text")
        assert "depmod" in area.text
        area.text = area.text + "# edited in the wizard\n"
        app.screen.query_one("#dockerfile-path").value = str(tmp_path / "Dockerfile.mine")
        await pilot.click("#save")
        await settle(pilot)
        assert app.answers.get("kmm.dockerfile") == str(tmp_path / "Dockerfile.mine")
        configmap = next(f for f in app.rendering.files if f.manifest and f.manifest["kind"] == "ConfigMap")
        assert "# edited in the wizard" in configmap.manifest["data"]["dockerfile"]
        # The kernel-mapping tester on the mappings step.
        await app.show_step("mappings")
        tester = app.query_one("#kernel-test")
        tester.focus()
        await pilot.pause()
        tester.value = "5.14.0-427.13.1.el9_4.x86_"
        tester.cursor_position = len(tester.value)
        await pilot.press("6", "4")
        await pilot.pause()
        result = str(app.query_one("#kernel-result").content)
        assert "mapping [0]" in result and "5.14.0-427.13.1.el9_4.x86_64" in result
        await write_files(pilot, tmp_path / "tui-out")
        preset = await save_preset(pilot, "pilot-kmm")
    written = tree(tmp_path / "tui-out")
    assert "module-my-driver.yaml" in written
    assert generate(["--preset", "pilot-kmm", "--output-dir", str(tmp_path / "gen-out")]) == 0
    assert tree(tmp_path / "gen-out") == written
    assert yaml.safe_load(preset.read_text())["kmm"]["name"] == "my-driver"


def test_selecting_a_finding_focuses_the_field_at_fault():
    asyncio.run(_finding_focus())


async def _finding_focus():
    app = WizardApp(Answers({"method": "kmm"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.show_step("target")
        await type_into(pilot, "role", "Bad_Role")
        await settle(pilot)
        panel = app.query_one("#findings")
        assert any(f.where == "role" and f.severity is Severity.ERROR for f in panel.findings)
        assert "not rendered" in str(app.query_one("#preview-status").content)
        await app.show_step("review")
        panel.focus()
        panel.highlighted = next(i for i, f in enumerate(panel.findings) if f.where == "role")
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_step == "target"
        assert app.focused is app.query_one("#" + field_id("role"))
        # Writing is refused while errors remain.
        await pilot.press("f2")
        await pilot.pause()
        assert not app.screen_stack[-1].is_modal


def test_typed_text_that_is_not_a_value_is_a_finding_on_its_field():
    asyncio.run(_typed_error())


async def _typed_error():
    app = WizardApp(Answers({"method": "kmm"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.show_step("mappings")
        area = app.query_one("#" + field_id("kmm.kernel_mappings"))
        area.text = "- regexp: ^.+$\n  containerImage: [unclosed"
        await pilot.pause()
        assert "kmm.kernel_mappings" in app.input_errors
        assert app.query_one("#row-kmm--kernel_mappings").has_class("-invalid")
        area.text = "- regexp: '^5\\.14.+$'\n"
        await settle(pilot)
        assert "kmm.kernel_mappings" not in app.input_errors
        assert app.answers.get("kmm.kernel_mappings")[0]["regexp"] == "^5\\.14.+$"


def test_presets_load_and_user_presets_appear(tmp_path):
    asyncio.run(_presets(tmp_path))


async def _presets(tmp_path):
    from kmwizard.preset_store import save_user_preset

    save_user_preset("mine", Answers({"method": "kmm", "kmm.name": "from-preset"}), "my own")
    app = WizardApp(Answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        presets = app.query_one("#start-preset")
        names = [option.id for option in presets.options]
        assert "mine" in names and "simple-kmod" in names
        presets.focus()
        presets.highlighted = names.index("mine")
        await pilot.press("enter")  # moving over a preset loads nothing; Enter loads the highlighted one
        await settle(pilot)
        assert app.answers.get("kmm.name") == "from-preset"
        assert app.query_one("#" + field_id("method")).value == "kmm"
        await app.show_step("source")  # built on first visit, from the loaded answers
        assert app.query_one("#" + field_id("kmm.name")).value == "from-preset"


def test_no_kubernetes_import_until_a_cluster_action():
    code = ("import sys, asyncio\n"
            "from kmwizard.answers import Answers\n"
            "from kmwizard.screens.app import WizardApp\n"
            "async def main():\n"
            "    app = WizardApp(Answers({'method': 'kmm'}))\n"
            "    async with app.run_test(size=(100, 30)) as pilot:\n"
            "        await pilot.pause(0.2)\n"
            "        await app.workers.wait_for_complete()\n"
            "        await pilot.press('f8', 'f8', 'f1', 'escape')\n"
            "        await pilot.pause()\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_keymap_file_remaps_a_binding_by_id(tmp_path):
    (tmp_path / "config" / "kmwizard").mkdir(parents=True)
    (tmp_path / "config" / "kmwizard" / "keymap.yaml").write_text("kmwizard.write: ctrl+s\n")
    asyncio.run(_remapped())


async def _remapped():
    from kmwizard.screens.dialogs import WriteScreen

    app = WizardApp(Answers({"method": "kmm"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")  # no longer bound
        await pilot.pause()
        assert not isinstance(app.screen, WriteScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, WriteScreen)


def test_day1_writes_into_the_openshift_install_directory(tmp_path):
    from kvc_trees import build_kvc_tree

    build_kvc_tree(tmp_path, "fakeroot")
    install = tmp_path / "install"
    (install / "manifests").mkdir(parents=True)
    (install / "openshift").mkdir()
    answers = Answers({"method": "kvc", "day": 1, "role": "master", "kvc.fakeroot": str(tmp_path / "fakeroot"),
                       "output.install_dir": str(install)})
    asyncio.run(_day1(tmp_path, answers, install))


async def _day1(tmp_path, answers, install):
    app = WizardApp(answers)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        dialog = app.screen
        assert dialog.query_one("#write-dir").value == str(install)  # generate's default on day 1
        assert f"Into {install / 'openshift'}" in str(dialog.query_one("#write-plan").content)
        dialog.query_one("#write-dir").value = str(tmp_path)  # not an openshift-install directory
        await pilot.pause()
        assert "is not an openshift-install manifests directory" in str(dialog.query_one("#write-plan").content)
        assert dialog.query_one("#write").disabled
        dialog.query_one("#write-dir").value = str(install)
        await pilot.pause()
        await pilot.click("#write")
        await pilot.pause()
    assert (install / "openshift" / "99-master-kvc-simple-kmod.yaml").is_file()
    # generate into another install directory writes the same openshift/ folder.
    other = tmp_path / "install2"
    (other / "manifests").mkdir(parents=True)
    (other / "openshift").mkdir()
    (tmp_path / "answers.yaml").write_text(answers.to_yaml())
    assert generate(["--answers", str(tmp_path / "answers.yaml"), "--output-dir", str(other)]) == 0
    assert tree(other / "openshift") == tree(install / "openshift")
