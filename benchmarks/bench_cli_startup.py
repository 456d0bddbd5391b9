#!/usr/bin/env python3
"""Benchmark: CPU time of short kmwizard commands against a bare `python3 -c 'import yaml'`.

    python benchmarks/bench_cli_startup.py                 # 40 rounds
    python benchmarks/bench_cli_startup.py --rounds 100 --json
    python benchmarks/bench_cli_startup.py --also DIR   # and the same commands run from another checkout

For small inputs the cost of a command is the interpreter plus its imports, so it is measured
against the floor every Python YAML tool pays: the same interpreter running `import yaml`.
Cases, each a fresh process:
- yaml: `python -c 'import yaml'` (the floor);
- generate-7: `python -m kmwizard generate --set kvc.fakeroot=<7 files> -o DIR --force`, the size of a
  real KVC module (framework script, conf and unit; the instance's conf, library and wrapper; a README);
- generate-20: the same with 13 more shell scripts (1-4 KiB each);
- validate: `python -m kmwizard validate module.yaml`, one KMM Module (written by `generate --preset kmm-ci`).
The cases run interleaved, round after round, so load from other work on the machine hits them alike;
CPU time is the child's user+sys from wait4.  Reported: min and median per case and their ratios to
the yaml floor (min/min, median/median).  The goal is 1.5x or less.  With --also DIR the kmwizard
cases run a second time from the checkout DIR (e.g. `git archive <commit> | tar -x -C DIR`, compiled
with `python -m compileall -q DIR/kmwizard`), named NAME@DIR, in the same rounds.
The kmwizard package is compiled first (python -m compileall): an installed package has its .pyc files,
and without them every run compiles the sources (more so with PYTHONDONTWRITEBYTECODE set).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from kvc_trees import TEMPLATE_UNIT as UNIT  # noqa: E402 - the framework's unit, as the tests' trees have it

WORDS = ("kernel module podman build load unload wrapper simple kmod install systemctl modprobe depmod echo "
         "if then fi for do done case esac return local export source $KVER \"$@\" || && ; = -eq > | # 0 1").split()

# The files `make install` of kmods-via-containers and kvc-simple-kmod put in a fakeroot: the conf
# files and the unit as they are, the scripts as stand-ins of the same size.
FRAMEWORK_CONF = b'KVC_CONTAINER_RUNTIME=podman\nKVC_SOFTWARE_NAME=kmods-via-containers\n'
INSTANCE_CONF = (b'KMOD_CONTAINER_BUILD_CONTEXT="https://github.com/kmods-via-containers/kvc-simple-kmod.git"\n'
                 b'KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\nKMOD_SOFTWARE_VERSION=dd1a7d4\n'
                 b'KMOD_NAMES="simple-kmod simple-procfs-kmod"\n')
MODULE_FILES = {  # path: (content or KiB of shell text, mode)
    "etc/kvc/kmods-via-containers.conf": (FRAMEWORK_CONF, 0o644),
    "etc/systemd/system/kmods-via-containers@.service": (UNIT, 0o644),
    "usr/local/bin/kmods-via-containers": (5, 0o755),
    "etc/kvc/simple-kmod.conf": (INSTANCE_CONF, 0o644),
    "usr/local/lib/kvc/simple-kmod-lib.sh": (3, 0o644),
    "usr/local/bin/spkut": (1, 0o755),
    "usr/local/share/doc/kvc-simple-kmod/README.md": (2, 0o644),
}


def _text(rng: random.Random, kib: float) -> bytes:
    lines, size = [], 0
    while size < kib * 1024:
        line = "    " * rng.randint(0, 2) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()


def make_fakeroot(root: Path, n_files: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    files = dict(MODULE_FILES)
    for i in range(n_files - len(files)):
        files[f"usr/local/lib/kvc/extra/script-{i:02d}.sh"] = (rng.uniform(1, 4), 0o755 if i % 3 == 0 else 0o644)
    for rel, (content, mode) in files.items():
        if not isinstance(content, bytes):
            content = (b"#!/bin/bash\n" if mode == 0o755 else b"") + _text(rng, content)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)


def cpu_of(argv: list[str], cwd: Path) -> float:
    """The child's user+sys CPU seconds; the command must succeed."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err.decode(errors='replace')}")
    return usage.ru_utime + usage.ru_stime


def cases(work: Path) -> dict[str, list[str]]:
    """name -> argv; run in a kmwizard checkout (`python -m kmwizard` imports the one in its cwd)."""
    py, kmwizard = sys.executable, [sys.executable, "-m", "kmwizard"]
    for n in (7, 20):
        make_fakeroot(work / f"fakeroot-{n}", n)
    subprocess.run([*kmwizard, "generate", "--preset", "kmm-ci", "-o", str(work / "kmm")], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    (module,) = (work / "kmm").glob("module-*.yaml")
    return {
        "yaml": [py, "-c", "import yaml"],
        "generate-7": [*kmwizard, "generate", "--set", f"kvc.fakeroot={work / 'fakeroot-7'}",
                       "-o", str(work / "out-7"), "--force"],
        "generate-20": [*kmwizard, "generate", "--set", f"kvc.fakeroot={work / 'fakeroot-20'}",
                        "-o", str(work / "out-20"), "--force"],
        "validate": [*kmwizard, "validate", str(module)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--also", metavar="DIR", type=Path, help="also run the kmwizard cases from this checkout")
    args = parser.parse_args()
    roots = [REPO] + ([args.also.resolve()] if args.also else [])
    for root in roots:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "kmwizard")], check=True,
                       stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="kmwizard-bench-") as tmp:
        commands = {}
        for name, argv in cases(Path(tmp)).items():
            commands[name] = (argv, REPO)
            if name != "yaml" and args.also:
                commands[f"{name}@{args.also.name}"] = (argv, args.also.resolve())
        for argv, cwd in commands.values():  # warm the page cache
            cpu_of(argv, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (argv, cwd) in commands.items():
                times[name].append(cpu_of(argv, cwd))
    floor_min, floor_med = min(times["yaml"]), statistics.median(times["yaml"])
    rows = {name: {"min_s": min(t), "median_s": statistics.median(t),
                   "min_ratio": min(t) / floor_min, "median_ratio": statistics.median(t) / floor_med}
            for name, t in times.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"CPU seconds (user+sys), {args.rounds} interleaved rounds, load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':24} {'min s':>7} {'median s':>9} {'min/yaml':>9} {'median/yaml':>12}")
    for name, row in rows.items():
        print(f"{name:24} {row['min_s']:7.3f} {row['median_s']:9.3f} {row['min_ratio']:9.2f} "
              f"{row['median_ratio']:12.2f}")


if __name__ == "__main__":
    main()
