"""The Apply screen through Pilot against the API-server test double (real kubernetes client
over HTTP): the context shown comes from the kubeconfig, a server dry run with a diff comes
first, then apply reports a result per object and the objects are in the cluster."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard.answers import Answers
from test_tui_support import settle

from kmwizard.screens.app import WizardApp

KMM = "kmm.sigs.x-k8s.io/v1beta1"
ANSWERS = Answers({"method": "kmm", "kmm.namespace": "drivers", "kmm.create_namespace": True,
                   "kmm.name": "demo", "kmm.module_name": "demo"})


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


async def until_idle(pilot, screen, rounds: int = 200) -> None:
    for _ in range(rounds):
        await pilot.pause(0.05)
        if not screen.busy:
            await pilot.pause()
            return
    raise AssertionError("the cluster job did not finish")


@asynccontextmanager
async def apply_dialog(answers, size=(130, 42)):
    """The wizard on these answers, rendered, with the Apply dialog (F3) open: (app, pilot, dialog)."""
    app = WizardApp(answers)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await pilot.pause()
        yield app, pilot, app.screen


def log_text(screen) -> str:
    """The apply log with its wrapped lines joined again (the dialog wraps long lines to its width)."""
    import re

    log = screen.query_one("#apply-log")
    width = log.scrollable_content_region.width
    assert all(len(str(line)) <= width for line in log.lines), "a log line is wider than the log"
    return re.sub(r"\n {2,8}(?=\S)", " ", "\n".join(str(line) for line in log.lines))


def test_dry_run_then_apply(apiserver):  # noqa: F811
    asyncio.run(_dry_run_then_apply(apiserver))


async def _dry_run_then_apply(double):
    async with apply_dialog(ANSWERS) as (app, pilot, screen):
        assert screen.query_one("#apply-context").value == "double"
        assert str(double.kubeconfig_path) in str(screen.query_one("#apply-status").content)
        assert screen.query_one("#apply-apply").disabled  # no apply before a dry run
        await pilot.click("#apply-dry-run")
        await until_idle(pilot, screen)
        text = log_text(screen)
        assert f"cluster: {double.url}" in text and "context: double" in text
        assert "Module drivers/demo: would be created" in text
        assert "Namespace drivers: would be created" in text
        assert "+kind: Module" in text  # the diff against nothing
        assert double.get(KMM, "Module", "demo", "drivers") is None  # the dry run changed nothing
        assert not screen.query_one("#apply-apply").disabled
        await pilot.click("#apply-apply")
        await until_idle(pilot, screen)
        text = log_text(screen)
        assert "Module drivers/demo: created" in text and "Applied 3 of 3 object(s)." in text
        stored = double.get(KMM, "Module", "demo", "drivers")
        assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmwizard"
        # A second dry run reports every object unchanged.
        await pilot.click("#apply-dry-run")
        await until_idle(pilot, screen)
        assert log_text(screen).count(": unchanged") == 3


def test_cluster_errors_are_shown_not_raised(apiserver_factory):  # noqa: F811
    double = apiserver_factory(crds={"machineconfigs", "machineconfigpools"})  # no KMM operator
    asyncio.run(_no_kmm(double))


async def _no_kmm(double):
    async with apply_dialog(ANSWERS) as (app, pilot, screen):
        await pilot.click("#apply-dry-run")
        await until_idle(pilot, screen)
        assert "KMM operator is not installed" in log_text(screen)
        assert screen.query_one("#apply-apply").disabled


def test_day2_machineconfig_needs_the_reboot_tick_and_the_rollout_is_followed(apiserver, tmp_path,  # noqa: F811
                                                                              monkeypatch):
    from kvc_trees import build_kvc_tree
    from test_cluster_apply import seed_pool

    monkeypatch.chdir(tmp_path)
    build_kvc_tree(tmp_path, "fakeroot")
    seed_pool(apiserver, machine_count=3, updated=1, with_mc=False)
    answers = Answers({"method": "kvc", "day": 2, "role": "worker", "kvc.fakeroot": "fakeroot",
                       "machineconfig.name": "99-worker-demo"})
    asyncio.run(_day2(apiserver, answers))


async def _day2(double, answers):
    from test_cluster_apply import seed_pool

    async with apply_dialog(answers) as (app, pilot, screen):
        await pilot.click("#apply-dry-run")
        await until_idle(pilot, screen)
        assert "MachineConfig 99-worker-demo: would be created" in log_text(screen)
        assert "drain and reboot every node of pool worker" in log_text(screen) and "3 node(s)" in log_text(screen)
        box = screen.query_one("#apply-reboot-ok")
        assert box.display and screen.query_one("#apply-apply").disabled  # not before the tick
        box.value = True
        await pilot.pause()
        assert not screen.query_one("#apply-apply").disabled
        await pilot.click("#apply-apply")
        await until_idle(pilot, screen)
        assert "MachineConfig 99-worker-demo: created" in log_text(screen)
        await pilot.click("#apply-watch")
        await pilot.pause(0.3)
        assert screen.busy  # 1 of 3 machines updated: still rolling out
        seed_pool(double, machine_count=3, updated=3, with_mc=True)  # the MCO finishes
        await until_idle(pilot, screen)
        assert "MachineConfigPool worker: done" in log_text(screen)
        assert screen.query_one("#apply-progress").percentage == 1.0
        # "Why not loaded?" runs status --explain (kmwizard/cluster/explain.py) and shows the chain
        await pilot.click("#apply-explain")
        await until_idle(pilot, screen)
        assert "MachineConfig 99-worker-demo:" in log_text(screen)
        assert "[ok] pool worker rendered config" in log_text(screen)
        assert "broken link" in str(screen.query_one("#apply-status").content)


def test_command_palette_offers_the_main_actions():
    asyncio.run(_palette())


async def _palette():
    app = WizardApp(ANSWERS)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Write files", "Apply to the cluster", "Save answers as preset", "Dockerfile",
                      "Go to step: Kernel mappings"):
            assert title in titles
        # The binding ids users remap in keymap.yaml.
        assert {b.id for b in app.BINDINGS} >= {"kmwizard.help", "kmwizard.write", "kmwizard.apply",
                                                "kmwizard.save_preset", "kmwizard.next", "kmwizard.back"}


def test_without_a_kubeconfig_the_dialog_says_so_and_takes_one(apiserver, monkeypatch):  # noqa: F811
    """Item 9 of issue 13: no kubeconfig and no pod: said before any click, in the dialog's words;
    typing a kubeconfig path fills the contexts and allows the dry run."""
    path = apiserver.kubeconfig_path
    monkeypatch.delenv("KUBECONFIG")  # HOME is an empty directory (the fixture): no ~/.kube/config

    async def go():
        async with apply_dialog(ANSWERS) as (app, pilot, screen):
            status = str(screen.query_one("#apply-status").content)
            assert "No kubeconfig found" in status and "not a pod" in status and "in-cluster" not in status
            assert "--" not in status  # no command-line flags in the dialog
            assert screen.query_one("#apply-dry-run").disabled
            screen.query_one("#apply-kubeconfig").value = str(path)
            await pilot.pause()
            assert screen.query_one("#apply-context").value == "double"
            assert not screen.query_one("#apply-dry-run").disabled
            await pilot.click("#apply-dry-run")
            await until_idle(pilot, screen)
            assert "Module drivers/demo: would be created" in log_text(screen)

    asyncio.run(go())


def test_cluster_errors_name_the_dialogs_fields_not_flags():
    from kmwizard.screens.apply import tui_language

    assert tui_language("KUBECONFIG=/x: no such file: fix $KUBECONFIG or pass --kubeconfig") == \
        "KUBECONFIG=/x: no such file: fix $KUBECONFIG or type a kubeconfig path in the kubeconfig field"
    assert tui_language("re-run with --yes to confirm, or --dry-run=server to only check") == \
        "press Apply to confirm, or Dry run + diff to only check"
    assert tui_language("check it with `oc config view`, or pick another --context") == \
        "check it with `oc config view`, or pick another context in the context list"


def test_every_cluster_fix_text_reads_as_a_sentence_in_the_dialog():
    """screens/apply.py _TUI_WORDS over every string of kmwizard/cluster/ that names a flag: none is left,
    and no substitution leaves a garble like "pick another the context list" (the user review's find)."""
    import re
    from pathlib import Path

    import kmwizard.cluster
    from kmwizard.screens.apply import tui_language

    texts = [m.group(1) for f in Path(kmwizard.cluster.__file__).parent.glob("*.py")
             for m in re.finditer(r'"([^"\n]*--(?:kubeconfig|context|namespace|yes|dry-run)[^"\n]*)"', f.read_text())]
    texts = [t for t in texts if " " in t]  # not argparse's own flag names
    assert len(texts) >= 8
    for text in texts:
        words = tui_language(text)
        assert not re.search(r"--(kubeconfig|context|namespace|yes|dry-run)\b", words), words
        assert not re.search(r"\b(a|another|or|pass|use|pick) the (kubeconfig|context|namespace)\b", words), words


@pytest.mark.parametrize("size", [(80, 24), (110, 30), (130, 42)])
def test_every_button_is_on_screen(size):
    """ApplyScreen.buttons_fit / on_resize: at 80x24 the row of buttons was 86 columns in a 68-column
    dialog, so Apply lay off screen; too narrow a row now wraps into a grid.  Stop watching (shown
    during a job) is made visible too, so the row is checked at its widest."""
    async def go():
        async with apply_dialog(ANSWERS, size=size) as (app, pilot, screen):
            screen.query_one("#apply-stop").display = True
            await pilot.pause()
            dialog = screen.query_one("#apply-dialog").region
            buttons = list(screen.query("#apply-dialog Button"))
            assert len(buttons) == 6
            for button in buttons:
                region = button.region
                assert region.width >= len(str(button.label)), f"{button.id} is cut: {region}"
                assert dialog.contains_region(region), f"{button.id} {region} is outside the dialog {dialog}"
                assert screen.region.contains_region(region)

    asyncio.run(go())


DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: someone, user: {token: not-a-real-token}}]
contexts: [{name: dead, context: {cluster: dead, user: someone}}]
current-context: dead
"""


def test_a_failed_dry_run_says_nothing_was_applied(tmp_path, monkeypatch):
    """ApplyScreen._guarded / failed(): the status said only "Failed: connecting: cannot connect to ...";
    it now says first what the failed job left in the cluster, as `kmwizard ask` does."""
    (tmp_path / "dead.yaml").write_text(DEAD_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "dead.yaml"))

    async def go():
        async with apply_dialog(ANSWERS) as (app, pilot, screen):
            await pilot.click("#apply-dry-run")
            await until_idle(pilot, screen)
            status = str(screen.query_one("#apply-status").content)
            assert status.startswith("Dry run failed: nothing was applied: ") and "127.0.0.1:1" in status
            assert "Dry run failed: nothing was applied." in log_text(screen)
            # The same for Apply, with what it had applied when it stopped.
            assert screen.failed(screen._apply) == "Apply failed: nothing was applied"
            screen.applied_now = 2
            assert screen.failed(screen._apply).startswith("Apply failed after 2 object(s) were applied")

    asyncio.run(go())


def test_a_yaml_file_that_is_no_kubeconfig_is_named_at_once(tmp_path, monkeypatch):
    """kmwizard/cluster/connection.py check_kubeconfig_files / not_a_kubeconfig, called by
    ApplyScreen._load_contexts: a YAML list typed as the kubeconfig was taken ("2 object(s) to apply"),
    then the dry run failed with "TypeError: list indices must be integers"; now it is refused in words
    as soon as it is typed, and the command line says the same."""
    from kmwizard.cluster.connection import connect
    from kmwizard.findings import UsageError

    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    monkeypatch.delenv("KUBECONFIG", raising=False)

    async def go():
        async with apply_dialog(ANSWERS) as (app, pilot, screen):
            screen.query_one("#apply-kubeconfig").value = str(tmp_path / "list.yaml")
            await pilot.pause()
            status = str(screen.query_one("#apply-status").content)
            assert "is not a kubeconfig" in status and "clusters, contexts and users" in status, status
            assert "Error" not in status and "object(s) to apply" not in status
            assert screen.query_one("#apply-dry-run").disabled

    asyncio.run(go())
    with pytest.raises(UsageError) as raised:
        connect(str(tmp_path / "list.yaml"))
    assert "is not a kubeconfig" in raised.value.message and "Error" not in raised.value.message


def test_enter_in_the_fields_does_their_main_action(apiserver, monkeypatch):  # noqa: F811
    """ApplyScreen.on_input_submitted: Enter in the kubeconfig field loads it and goes on to its
    contexts (it did nothing); Enter in the namespace field starts the dry run, like the other dialogs."""
    monkeypatch.delenv("KUBECONFIG")

    async def go():
        async with apply_dialog(ANSWERS) as (app, pilot, screen):
            field = screen.query_one("#apply-kubeconfig")
            field.focus()
            field.insert_text_at_cursor(str(apiserver.kubeconfig_path))
            await pilot.press("enter")
            await pilot.pause()
            assert screen.query_one("#apply-context").value == "double"
            assert app.focused is screen.query_one("#apply-context")
            screen.query_one("#apply-namespace").focus()
            await pilot.press("enter")
            await pilot.pause()
            await until_idle(pilot, screen)
            assert "Module drivers/demo: would be created" in log_text(screen)

    asyncio.run(go())


def test_a_kubeconfig_whose_contexts_are_not_mappings_lists_none_instead_of_crashing(tmp_path):
    """kubeconfig_contexts read `contexts: [a, b]` item by item and stopped the app with AttributeError; it
    now skips what connection.not_a_kubeconfig refuses (the dialog says why, from check_kubeconfig_files)."""
    from kmwizard.screens.apply import kubeconfig_contexts

    (tmp_path / "odd.yaml").write_text("contexts: [a, b]\n")
    assert kubeconfig_contexts(str(tmp_path / "odd.yaml")) == ([], "", {})
