"""Packaging and lazy imports: what an installed kmwizard puts in site-packages, and that the
heavy front-end and cluster libraries load only when used.  Which module may import which is
checked by the import contracts (tests/test_layers.py)."""
from __future__ import annotations

import pkgutil
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("textual", "questionary", "kubernetes")
# The import contracts say only kmwizard.cluster imports kubernetes; this checks it does so only
# inside the functions that talk to a cluster, by importing every module of the core.
FRONT_ENDS = ("kmwizard.screens", "kmwizard.ask")


def _core_modules() -> list[str]:
    import kmwizard

    names = []
    for info in pkgutil.walk_packages(kmwizard.__path__, "kmwizard."):
        if info.name.startswith(FRONT_ENDS) or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


def test_importing_core_modules_loads_no_heavy_library():
    modules = _core_modules()
    assert "kmwizard.render" in modules and "kmwizard.cli" in modules and "kmwizard.cluster.engine" in modules
    code = (
        "import importlib, sys, json\n"
        f"mods = {modules!r}\n"
        "bad = {}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        f"    hit = [h for h in {HEAVY!r} if h in sys.modules]\n"
        "    if hit: bad[m] = hit; break\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "{}", f"a core module pulled in a heavy library: {out.stdout}"


def test_help_and_preview_path_do_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from kmwizard.cli import build_parser\n"
        "build_parser()\n"
        "import kmwizard.render, kmwizard.flow, kmwizard.preset_store\n"
        f"print([h for h in {HEAVY!r} if h in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"TEST_COMMAND='([^']+)'", ci).group(1)
    assert command in readme, "README must state the exact test command .ci/run runs"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to copy the tracked tree")
def test_wheel_keeps_every_import_name_under_kmwizard(tmp_path):
    # Build from a copy of the tracked files, so the build leaves nothing in the checkout
    # and files git does not track cannot slip into the wheel.
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheel_dir = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(source)],
                          capture_output=True, text=True)
    if proc.returncode != 0 and "No matching distribution" in proc.stderr:
        pytest.skip("building the wheel needs setuptools from the package registry, which is not reachable")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = wheel_dir.glob("kmwizard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"kmwizard"}, top
    assert "kmwizard/screens/__init__.py" in names
    assert "kmwizard/presets/simple-kmod.yaml" in names
    assert not any(n.startswith(("screens/", "presets/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "kmwizard = kmwizard.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# What a short command must not import: each costs milliseconds of a start-up measured against a
# bare `import yaml` (benchmarks/bench_cli_startup.py).  Data classes in the core use kmwizard.records.
COSTLY = ("dataclasses", "hashlib", "subprocess", *HEAVY)


def test_generate_and_validate_import_only_what_they_use(tmp_path):
    from kmwizard.cli import main
    from kvc_trees import build_kvc_tree

    fakeroot, _ = build_kvc_tree(tmp_path)
    assert main(["generate", "--preset", "kmm-ci", "-o", str(tmp_path / "kmm")]) == 0
    (module,) = (tmp_path / "kmm").glob("module-*.yaml")
    # answers without overlay records need no overlay code; a Module's validate none of the KVC linter
    for argv, costly in ((["generate", "--set", f"kvc.fakeroot={fakeroot}", "-o", str(tmp_path / "kvc")],
                          (*COSTLY, "kmwizard.overlay")),
                         (["validate", str(module)], (*COSTLY, "kmwizard.kvc.lint"))):
        code = ("import contextlib, io, sys\n"
                "from kmwizard.main import main\n"
                "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                f"    code = main({argv!r})\n"
                f"print(code, [m for m in {costly!r} if m in sys.modules])\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        assert out.stdout.split(" ", 1) == ["0", "[]\n"], (argv[0], out.stdout, out.stderr)
