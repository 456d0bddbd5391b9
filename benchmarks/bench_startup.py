"""Time to the first screen of the Textual wizard in a real terminal (tmux), and proof that
starting it imports no kubernetes.

For each run: a tmux pane of the given size starts `python -m kmwizard tui --preset NAME`;
the pane is read every few milliseconds.  Three moments, from the start of the process:
- first frame: the first screen is on the terminal ("Findings" shows);
- complete screen: its footer keys are drawn too (Textual's own Footer draws its keys a frame
  after the rest of the screen; the wizard's draws them with it);
- first preview: the preset's main object is rendered.
A bare Textual app (header, text, footer) is timed in the same way between the runs: the floor
on this machine.  Goals: first frame within 0.6 s (median); issue 13 item 12: within 1.3x of
the bare app.

Run: ``python benchmarks/bench_startup.py [--runs 10] [--preset kmm-ci | --preset ''] [--size 120x36]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_SCREEN = "Findings"
COMPLETE = {"wizard": "f1 Help", "bare": "palette"}  # the footer's first key
PREVIEW = {"kmm-ci": "kind: Module", "kmm-signed": "kind: Module", "kmm-prebuilt": "kind: Module"}


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-S", socket, *args], capture_output=True, text=True, check=True,
                          timeout=10).stdout


# The floor on this machine: the smallest Textual app with a header, a text and a footer.
BASELINE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Bare(App):
    def compose(self):
        yield Header()
        yield Static("Findings")
        yield Footer()
Bare().run()
"""


def one_run(preset: str, size: tuple[int, int], work: Path, baseline: bool = False
            ) -> tuple[float, float, float | None]:
    """(first frame, complete screen, first preview or None), seconds from the start of the process."""
    socket = str(work / f"tmux-{time.monotonic_ns()}.sock")
    env = (f"env -u COLUMNS -u LINES XDG_CONFIG_HOME={work}/config XDG_CACHE_HOME={work}/cache "
           f"PYTHONPATH={ROOT} TERM=xterm-256color")
    if baseline:
        (work / "bare.py").write_text(BASELINE_APP)
        command = f"cd {ROOT} && {env} {sys.executable} {work / 'bare.py'}"
        preset, complete_mark = "", COMPLETE["bare"]
    else:
        command = f"cd {ROOT} && {env} {sys.executable} -m kmwizard tui" + (f" --preset {preset}" if preset else "")
        complete_mark = COMPLETE["wizard"]
    tmux(socket, "new-session", "-d", "-s", "bench", "-x", str(size[0]), "-y", str(size[1]), "sleep 60")
    try:
        start = time.perf_counter()
        tmux(socket, "respawn-pane", "-k", "-t", "bench", command)
        first = complete = preview = None
        wanted = PREVIEW.get(preset)
        while time.perf_counter() - start < 20:
            screen = tmux(socket, "capture-pane", "-p", "-t", "bench")
            now = time.perf_counter() - start
            if first is None and FIRST_SCREEN in screen:
                first = now
            if first is not None and complete is None and complete_mark in screen:
                complete = now
            if complete is not None and (wanted is None or wanted in screen):
                preview = now if wanted else None
                break
            time.sleep(0.005)
        if first is None or complete is None:
            raise RuntimeError(f"the first screen never appeared:\n{screen}")
        tmux(socket, "send-keys", "-t", "bench", "C-q")
        return first, complete, preview
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=10)


def kubernetes_at_startup() -> list[str]:
    """Modules of kubernetes/urllib3 loaded after the app started and drew its first screen."""
    code = ("import asyncio, sys\n"
            "from kmwizard.preset_store import load_preset\n"
            "from kmwizard.screens.app import WizardApp\n"
            "async def main():\n"
            "    app = WizardApp(load_preset('kmm-ci'))\n"
            "    async with app.run_test(size=(120, 36)) as pilot:\n"
            "        await pilot.pause(0.3)\n"
            "        await app.workers.wait_for_complete()\n"
            "asyncio.run(main())\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout.split()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--preset", default="kmm-ci",
                        help="the preset to start with; '' for plain `kmwizard tui` (no preview to wait for)")
    parser.add_argument("--size", default="120x36")
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        print("tmux is not installed: cannot measure in a real terminal", file=sys.stderr)
        return 2
    size = tuple(int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="kmwizard-startup-"))
    # An installed package has its .pyc files, as Textual has; without them (PYTHONDONTWRITEBYTECODE is set
    # on this machine, and the warm-up run then writes none) every run would compile kmwizard's sources.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kmwizard"), str(ROOT / "screens")],
                   check=True, capture_output=True, timeout=120)
    one_run(args.preset, size, work)  # warm the OS file cache: not counted
    firsts, completes, previews, bare_firsts, bare_completes = [], [], [], [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        first, complete, preview = one_run(args.preset, size, work)
        firsts.append(first)
        completes.append(complete)
        if preview is not None:
            previews.append(preview)
        bare_first, bare_complete, _ = one_run("", size, work, baseline=True)
        bare_firsts.append(bare_first)
        bare_completes.append(bare_complete)
    median = statistics.median
    print(f"kmwizard tui{' --preset ' + args.preset if args.preset else ''} in tmux {args.size}, {args.runs} runs (after one warm-up run)")
    print(f"first frame:     median {median(firsts):.3f} s, max {max(firsts):.3f} s (goal < 0.6 s); "
          f"bare Textual app {median(bare_firsts):.3f} s: {median(firsts) / median(bare_firsts):.2f}x")
    print(f"complete screen: median {median(completes):.3f} s, max {max(completes):.3f} s; "
          f"bare Textual app {median(bare_completes):.3f} s: {median(completes) / median(bare_completes):.2f}x")
    print("(goal of issue 13 item 12: within 1.3x of the bare app)")
    print(f"load average during the runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if previews:
        print(f"first preview rendered: median {median(previews):.3f} s, max {max(previews):.3f} s")
    loaded = kubernetes_at_startup()
    print(f"kubernetes/urllib3 modules imported at start-up: {len(loaded)}" + (f" ({' '.join(loaded)})"
                                                                               if loaded else ""))
    ok = median(firsts) < 0.6 and not loaded
    print("OK" if ok else "OVER GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
