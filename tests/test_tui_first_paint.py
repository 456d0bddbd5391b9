"""What the wizard's first screen costs: guards of issue 13 item 12 (first paint within 1.3x of a bare
Textual app; timed by benchmarks/bench_startup.py, never here).

The first render is requested after the first paint (``call_after_refresh(_request_render)``), so at
that request the process holds exactly what the first screen needed.  A fresh interpreter makes
``sys.modules`` mean something.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

# Loaded on demand (a dialog, a render, a cluster action), never for the first screen.
NOT_FOR_THE_FIRST_SCREEN = (
    "kubernetes", "urllib3", "jsonschema", "cryptography",
    "kmwizard.kmm", "kmwizard.kvc", "kmwizard.cluster", "kmwizard.overlay",
    "kmwizard.screens.apply", "kmwizard.screens.dialogs", "kmwizard.screens.migrate_dialog",
    "kmwizard.screens.import_changes",
    "textual.widgets._text_area", "textual.widgets._progress_bar", "textual.widgets._tabs",
)

CODE = """
import asyncio, json, sys
from pathlib import Path
from kmwizard.preset_store import load_preset
import kmwizard.screens.app
from kmwizard.screens.app import WizardApp

seen = {}

class Probe(WizardApp):
    CSS_PATH = Path(kmwizard.screens.app.__file__).with_name("wizard.tcss")  # else relative to this script

    def _request_render(self):
        if not seen:  # the first request comes after the first paint
            seen["modules"] = sorted(sys.modules)
            seen["mounted"] = [sel for sel in ("#review-summary", "#render-progress", "#step-source .step-title")
                               if self.query(sel)]
        super()._request_render()

async def main():
    app = Probe(load_preset(sys.argv[1]) if sys.argv[1:] else None)
    async with app.run_test(size=(120, 36)) as pilot:
        while not seen:
            await pilot.pause(0.05)
        await app.show_step("review")
        seen["review"] = str(app.query_one("#review-summary").content)
        app.exit()  # as the user quits: a render still being shown stops (run_test alone tears the widgets down under it)

asyncio.run(main())
print(json.dumps(seen))
"""


def first_screen(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_first_screen_loads_no_dialog_render_or_cluster_code_and_mounts_only_what_it_shows():
    seen = first_screen("kmm-ci")
    loaded = [m for m in seen["modules"] if any(m == p or m.startswith(p + ".") for p in NOT_FOR_THE_FIRST_SCREEN)]
    assert loaded == [], f"imported before the first paint: {loaded}"
    # the review, the progress bar and the titles of steps not yet visited are built when first needed
    assert seen["mounted"] == []
    # ... and the review, once visited, shows the state of the answers (built with its texts)
    assert "file(s) to write" in seen["review"]


def test_without_a_preset_the_first_screen_reads_and_writes_no_yaml():
    """PyYAML (~8 ms of imports) loads with the first YAML read or written: a preset or answers file, or
    the first render (after the first paint). Guards the lazy imports of answers.py, render.py,
    rendering.py (_block_dumper) and preset_store.py, and yaml_numbers kept apart from safe_yaml."""
    seen = first_screen()
    loaded = [m for m in seen["modules"] if m.split(".")[0] == "yaml" or m == "kmwizard.safe_yaml"]
    assert loaded == [], f"imported before the first paint: {loaded}"
    assert "file(s) to write" in seen["review"]


GC_CODE = """
import gc, json
import kmwizard.main
from kmwizard.answers import Answers
from kmwizard.screens.app import WizardApp

seen = {"first_paints": 0}
first_paint = WizardApp._after_first_paint

def probe(self):
    seen["first_paints"] += 1
    seen["off_before_first_paint"] = not gc.isenabled()
    first_paint(self)
    # later, while the app still runs: run_tui's own gc.enable() (its finally) has not happened yet
    self.set_timer(0.2, lambda: (seen.setdefault("on_while_running", gc.isenabled()), self.exit(0)))

WizardApp._after_first_paint = probe
seen["code"] = kmwizard.main.run_tui(Answers())
seen["on_after_exit"] = gc.isenabled()

def broken_mount(self):
    raise RuntimeError("a bug before the first paint")

WizardApp.on_mount = broken_mount  # the app dies before its first paint: only run_tui's finally is left
try:
    seen["error_code"] = kmwizard.main.run_tui(Answers())
except RuntimeError:
    seen["error_code"] = "raised"
seen["on_after_error"] = gc.isenabled()
print(json.dumps(seen))
"""


def test_the_cyclic_collector_is_back_on_after_the_first_paint_and_after_an_error(tmp_path):
    """kmwizard.main.run_tui turns the collector off for the start-up and WizardApp._after_first_paint
    turns it back on: a wizard left without it would grow for as long as it runs.  The real run_tui and
    App.run, on Textual's headless driver (no terminal needed), in a fresh interpreter."""
    env = {**os.environ, "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", GC_CODE], capture_output=True, text=True, timeout=60, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["off_before_first_paint"] and seen["first_paints"] == 1 and seen["code"] == 0
    assert seen["on_while_running"] and seen["on_after_exit"]
    assert seen["error_code"] in (1, "raised") and seen["on_after_error"]


def test_the_first_frame_is_the_complete_screen_in_its_final_layout():
    """Issue 13 item 12: what is on screen when the first frame is drawn (on_mount runs before it) is the
    screen the user then works in: the width's breakpoint class (Textual adds it on the first Resize, after
    the first frame: textual/screen.py Screen._on_resize, which then restyled every widget and drew the
    screen again in another layout), the footer's keys (Textual's Footer composes them a frame late:
    textual/widgets/_footer.py Footer.compose waits for Footer.bindings_changed) and the step in the title."""
    from kmwizard.preset_store import load_preset
    from kmwizard.screens.app import WizardApp
    from kmwizard.screens.footer import KeyFooter

    seen = {}

    class Probe(WizardApp):
        CSS_PATH = Path(sys.modules[WizardApp.__module__].__file__).with_name("wizard.tcss")

        def on_mount(self) -> None:
            super().on_mount()
            seen[self.size.width] = (set(self.screen.classes), [key[0] for key in self.screen.query_one(KeyFooter).keys],
                                     self.sub_title)

    async def go(size):
        app = Probe(load_preset("kmm-ci"))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()

    for size, breakpoint in (((120, 36), "-wide"), ((80, 24), "-narrow")):
        asyncio.run(go(size))
        classes, keys, sub_title = seen[size[0]]
        assert breakpoint in classes, classes
        assert keys[:3] == ["f1", "f2", "f3"], keys
        assert sub_title == "Method"
