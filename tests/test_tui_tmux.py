"""The real program in a real terminal: tmux runs `python -m kmwizard tui --preset kmm-ci`,
the test types into it and reads the screen back with capture-pane."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
ROOT = Path(__file__).resolve().parents[1]


class Tmux:
    def __init__(self, tmp_path: Path, command: list[str], size=(120, 36)) -> None:
        self.name = f"kmwizard-test-{uuid.uuid4().hex[:8]}"
        self.socket = str(tmp_path / "tmux.sock")
        env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "HOME": str(tmp_path), "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # -u COLUMNS/LINES: the test runner may export them, and Rich would take them over the pane size.
        shell = f"cd {ROOT} && env -u COLUMNS -u LINES {exports} {' '.join(command)}; echo EXIT=$?; sleep 30"
        # Start the program only once the pane has its final size: a program started with the
        # session may read 80x24 before tmux applies -x/-y.
        self.run("new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]), "sleep 60")
        self.run("respawn-pane", "-k", "-t", self.name, shell)

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux(tmp_path):
    sessions = []

    def start(command, size=(120, 36)):
        session = Tmux(tmp_path, command, size)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def test_type_into_the_real_program(tmux):
    term = tmux([sys.executable, "-m", "kmwizard", "tui", "--preset", "kmm-ci"], size=(120, 50))
    screen = term.wait_for("Findings")
    assert "Method" in screen and "KMM (Module)" in screen
    assert "kind: Module" in term.wait_for("kind: Module")
    term.keys("F8")  # the Target step; its first field (role) has focus and its text selected
    term.wait_for("Which pool or node role")
    term.keys("i", "n", "f", "r", "a")
    screen = term.wait_for("node-role.kubernetes.io/infra")
    assert "Target" in screen
    term.keys("F1")
    assert "Answer key: role" in term.wait_for("Answer key")
    term.keys("Escape")
    term.keys("C-q")  # the role was changed and not saved: the first ctrl+q says so and quits nothing
    assert "ctrl+q again quits" in term.wait_for("ctrl+q again")
    term.keys("C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")


def test_small_terminal_shows_every_part(tmux):
    term = tmux([sys.executable, "-m", "kmwizard", "tui", "--preset", "kmm-ci"], size=(80, 24))
    # Below 100 columns: a strip of step numbers, the form at full width, the findings count under it.
    screen = term.wait_for("F9 preview")
    for part in ("Method", "How should the module reach the nodes?", "no errors", "f1", "Help", "f9 Preview"):
        assert part in screen, f"{part!r} missing at 80x24:\n{screen}"
    term.keys("F9")  # the preview and the findings in the form's place
    screen = term.wait_for("kind: Module")
    assert "Findings" in screen and "How should the module" not in screen, screen
    term.keys("C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")


def test_without_a_terminal_tui_refuses_even_inside_tmux(tmux, tmp_path):
    # stdin from /dev/null: the real program under a real terminal still refuses without a TTY.
    out = tmp_path / "out.txt"
    term = tmux(["sh", "-c", f"'{sys.executable} -m kmwizard tui < /dev/null 2> {out}'"])
    term.wait_for("EXIT=")
    assert "needs a terminal" in out.read_text()
    assert os.path.getsize(out) > 0


def test_offline_first_screen_fetches_nothing(tmux, tmp_path):
    # git may use no protocol at all: an offline machine. The first screen must not meet a clone error.
    term = tmux(["env", "GIT_ALLOW_PROTOCOL=none", sys.executable, "-m", "kmwizard"], size=(80, 24))
    screen = term.wait_for("Nothing fetched yet")  # under the form, at 80 columns
    assert "✗" not in screen, screen
    term.keys("F9")  # the preview says why and what to do offline
    screen = term.wait_for("Offline?")
    assert "not rendered yet" in screen and "✗" not in screen, screen
    term.keys("F9")
    assert not (tmp_path / "cache" / "kmwizard" / "kvc").exists()
    term.keys("F8", "F8", "F8")  # past the Module source step: now it fetches, and says it failed
    assert "✗" in term.wait_for("✗", timeout=30)
    term.keys("C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")


def test_a_file_added_to_the_fakeroot_shows_in_the_running_wizard(tmux, tmp_path):
    from kvc_trees import MODULE, build_kvc_tree

    root, _ = build_kvc_tree(tmp_path)
    conf = root / "etc" / "kvc" / f"{MODULE}.conf"
    saved = conf.read_bytes()
    conf.unlink()
    term = tmux([sys.executable, "-m", "kmwizard", "tui", "--set", f"kvc.fakeroot={root}"], size=(120, 40))
    assert "✗ kvc.module_name: /etc/kvc/" in term.wait_for("Findings: 1 error(s)")
    conf.write_bytes(saved)  # nothing typed: the wizard notices the tree changed
    screen = term.wait_for("Findings: 0 error(s)")
    assert "✗ kvc.module_name" not in screen, screen
    term.keys("C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")


def test_at_80x24_the_preset_list_shows_each_preset_on_its_own_line(tmux):
    """Issue 13 item 11, in a real terminal: one line per preset (cut, not wrapped), several at once."""
    from kmwizard.preset_store import list_presets

    builtin = [p.name for p in list_presets() if p.origin == "built-in"]
    term = tmux(["env", "GIT_ALLOW_PROTOCOL=none", sys.executable, "-m", "kmwizard"], size=(80, 24))
    term.wait_for("Nothing fetched yet")
    term.keys("Tab", "Tab")  # from the step list to the method, then to the preset list (nothing loaded)
    screen = term.wait_for(f"{builtin[0]} (built-in)")
    for _ in range(20):  # the list comes in one frame: take the screen once it stops changing
        if (again := term.screen()) == screen:
            break
        screen = again
    # inside the list's box: between its left (▊) and right (▎) edges; the form's scrollbar is further right
    rows = [line[line.index("▊") + 1:line.rindex("▎")].strip() if "▊" in line and "▎" in line else line
            for line in screen.splitlines()]
    at = {name: i for name in builtin for i, row in enumerate(rows) if row.startswith(f"{name} (built-in):")}
    assert len(at) >= 3, screen
    for name, i in at.items():  # alone on its row, its description cut rather than wrapped
        assert [n for n in builtin if f"{n} (built-in)" in rows[i]] == [name] and rows[i].endswith("…"), screen
    lines = sorted(at.values())
    assert lines == list(range(lines[0], lines[0] + len(lines))), screen  # no continuation rows between
    term.keys("Escape")
    term.keys("C-q")
    assert "EXIT=0" in term.wait_for("EXIT=")
