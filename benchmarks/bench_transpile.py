#!/usr/bin/env python3
"""Benchmark: fakeroot -> Ignition -> MachineConfig.

    python benchmarks/bench_transpile.py                 # 200 files / 3.5 MB, plus scaling 20/200/2000
    python benchmarks/bench_transpile.py --no-scaling --runs 9

Builds its trees itself (fixed seed, mixed text and binary), then measures, each in a fresh
subprocess (so peak RSS is the whole process and nothing is cached between runs):
- transpile: import kmwizard's transpiler, transpile the tree, build the MachineConfig, dump it as
  JSON (the hot path of the preview and of generate, without the CLI around it);
- warm: the same twice in one process; the second run shows what the per-file cache saves;
- naive: the "40-line script" baseline: read every file, base64 it, dump JSON;
- generate: the whole `python -m kmwizard generate --set kvc.fakeroot=...` command, when it exists.
Wall times are medians of --runs; memory is the child's ru_maxrss.  Output size is compared with the
sum over files of the shortest of the three encodings, computed here with the standard library
(gzip at level 9, as Butane does).  Results are printed as a table (and as JSON with --json).
"""
from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ("kernel module podman build load unload reload wrapper KVC_CONTAINER_RUNTIME simple kmod "
         "install systemctl modprobe insmod rmmod dracut depmod echo if then fi for do done while case "
         "esac return local export source config Dockerfile rhel kernel-devel yum dnf /usr/local/lib/kvc "
         "$KVER ${KMOD_NAMES} \"$@\" || && ; = == != -eq -ne > < | # 0 1 2 42 100% true false").split()
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'();/?:@&=+$,"


# --- the tree -----------------------------------------------------------------------------------

def _text(rng: random.Random, size: int) -> bytes:
    lines, total = [], 0
    while total < size:
        indent = "    " * rng.randint(0, 3)
        line = indent + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def _structured_binary(rng: random.Random, size: int) -> bytes:
    # like an ELF object: headers, zero padding, repeated tables, some random code bytes
    out = bytearray(b"\x7fELF\x02\x01\x01" + bytes(57))
    while len(out) < size:
        kind = rng.random()
        if kind < 0.3:
            out += bytes(rng.randint(16, 512))
        elif kind < 0.6:
            entry = rng.randbytes(rng.randint(8, 24))
            out += entry * rng.randint(4, 40)
        elif kind < 0.8:
            out += _text(rng, rng.randint(32, 400))
        else:
            out += rng.randbytes(rng.randint(64, 1024))
    return bytes(out[:size])


KVC_FILES = {  # the framework and instance files, so that `kmwizard generate` accepts the tree
    "etc/kvc/kmods-via-containers.conf": b"KVC_CONTAINER_RUNTIME=podman\n",
    "etc/kvc/simple-kmod.conf": b'KMOD_CONTAINER_BUILD_CONTEXT="https://github.com/kmods-via-containers/'
                                b'kvc-simple-kmod.git"\nKMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\n'
                                b'KMOD_SOFTWARE_VERSION=dd1a7d4\nKMOD_NAMES="simple-kmod simple-procfs-kmod"\n',
    "etc/systemd/system/kmods-via-containers@.service":
        b"[Unit]\nDescription=Load kernel modules for %i\n[Service]\nType=oneshot\nRemainAfterExit=true\n"
        b"ExecStart=/usr/local/bin/kmods-via-containers load %i %v\n[Install]\nWantedBy=multi-user.target\n",
}


def make_tree(root: Path, n_files: int, total_bytes: int, seed: int = 2024) -> int:
    """The KVC framework/instance files plus generated ones: 60% text, 20% structured binary, 20%
    random binary by count; sizes log-uniform, scaled so the tree holds ``total_bytes`` in
    ``n_files`` files.  Returns the byte count written."""
    rng = random.Random(seed)
    kinds = ["text"] * 6 + ["elf"] * 2 + ["random"] * 2
    for rel, data in KVC_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    plan = []
    for i in range(n_files - len(KVC_FILES)):
        kind = kinds[i % len(kinds)]
        plan.append((kind, 2 ** rng.uniform(7, 16)))
    scale = (total_bytes - sum(map(len, KVC_FILES.values()))) / sum(size for _, size in plan)
    written = sum(map(len, KVC_FILES.values()))
    for i, (kind, size) in enumerate(plan):
        size = max(0, int(size * scale))
        data = (_text if kind == "text" else _structured_binary if kind == "elf" else
                lambda r, n: r.randbytes(n))(rng, size)
        sub = ("etc/kvc", "usr/local/lib/kvc", "usr/local/bin", "usr/local/share/kvc/data")[i % 4]
        path = root / sub / f"d{i % 7}" / f"{kind}-{i:05d}{'.sh' if kind == 'text' else '.bin'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, 0o755 if i % 5 == 0 else 0o644)
        written += len(data)
    return written


def reference_size(root: Path, *, gzip_allowed: bool = True) -> int:
    """Sum over files of the shortest encoding (source string, plus the compression field for gzip)."""
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        best = min(len("data:,") + len(urllib.parse.quote_from_bytes(data, safe=SAFE)),
                   len("data:;base64,") + len(base64.b64encode(data)))
        if gzip_allowed:
            best = min(best, len("data:;base64,") + len(base64.b64encode(gzip.compress(data, 9, mtime=0)))
                       + len('"compression": "gzip", '))
        total += best
    return total


# --- what each child process runs -----------------------------------------------------------------

CLI_WITH_LIBYAML = """
import sys, yaml
sys.path.insert(0, {repo!r})
import kmwizard.rendering as render  # where dump_yaml's dumper lives
class _CDumper(yaml.CSafeDumper):   # libyaml's emitter: same output, ~30x faster on long data URLs
    pass
_CDumper.add_representer(str, render._str_representer)
render._block_dumper = lambda: _CDumper
from kmwizard.cli import main
sys.argv[0] = "kmwizard"
sys.exit(main())
"""


def child(mode: str, tree: str) -> None:
    t0 = time.perf_counter()
    if mode == "naive":
        # the baseline: read, encode, dump; no links, no choice of encoding, no checks
        files = []
        for dirpath, _, names in os.walk(tree):
            for name in sorted(names):
                full = os.path.join(dirpath, name)
                with open(full, "rb") as f:
                    data = f.read()
                files.append({"path": "/" + os.path.relpath(full, tree), "mode": os.stat(full).st_mode & 0o777,
                              "contents": {"source": "data:;base64," + base64.b64encode(data).decode()}})
        out = json.dumps({"ignition": {"version": "3.4.0"}, "storage": {"files": files}})
        elapsed, warm = time.perf_counter() - t0, None
    else:
        sys.path.insert(0, str(REPO))
        from kmwizard.kvc import ignition, machineconfig, transpile

        def once() -> str:
            files, findings = transpile.transpile_tree(Path(tree), gzip_allowed=True)
            assert not findings, findings
            config = ignition.merge_files(ignition.base_config(module_name="simple-kmod", spec_version="3.4.0"),
                                          files)
            mc = machineconfig.machineconfig(name="99-worker-kvc-simple-kmod", role="worker", config=config)
            return json.dumps(mc, separators=(",", ":"))

        out = once()
        elapsed = time.perf_counter() - t0
        warm = None
        if mode == "warm":
            t1 = time.perf_counter()
            once()
            warm = time.perf_counter() - t1
    print(json.dumps({"seconds": elapsed, "warm": warm, "out_bytes": len(out.encode()),
                      "entries_bytes": _entries_bytes(out)}))


def _entries_bytes(out: str) -> int:
    """Bytes of the contents sources in the output, plus the compression field where present."""
    doc = json.loads(out)
    config = doc["spec"]["config"] if "spec" in doc else doc
    return sum(len(f["contents"]["source"]) + (len('"compression": "gzip", ') if f["contents"].get("compression")
                                                else 0) for f in config["storage"]["files"])


def run_process(argv: list[str]) -> dict:
    """Run argv; wall time, CPU time (user+sys, less sensitive to other load on the machine), peak
    RSS of exactly that process (wait4), exit code, stdout and stderr."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {"wall": wall, "rc": proc.returncode, "stdout": out, "stderr": stderr,
            "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}


def run_child(mode: str, tree: Path) -> dict:
    run = run_process([sys.executable, __file__, "--child", mode, str(tree)])
    if run["rc"]:
        raise SystemExit(f"child {mode} failed with {run['rc']}: {run['stderr']}")
    result = json.loads(run["stdout"])
    result.update(process_wall=run["wall"], cpu_s=run["cpu_s"], maxrss_kb=run["maxrss_kb"])
    return result


def run_cli(command: str, tree: Path, work: Path) -> dict:
    """The whole CLI (`generate` or `preview`) in a subprocess, measured from outside.  A command
    ending in "+libyaml" runs the same CLI with kmwizard.render's YAML dumper on libyaml's emitter
    (what benchmarks/README.md proposes), to show what that one change is worth."""
    out_dir = work / "generated"
    shutil.rmtree(out_dir, ignore_errors=True)
    command, _, variant = command.partition("+")
    launcher = ["-c", CLI_WITH_LIBYAML.format(repo=str(REPO))] if variant else ["-m", "kmwizard"]
    argv = [sys.executable, *launcher, command, "--set", f"kvc.fakeroot={tree}",
            "--set", "openshift_version=4.14"]
    if command == "generate":
        argv += ["--output-dir", str(out_dir), "--force"]
    run = run_process(argv)
    written = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file()) if out_dir.exists() else 0
    return {"process_wall": run["wall"], "rc": run["rc"],
            "cpu_s": run["cpu_s"], "maxrss_kb": run["maxrss_kb"],
            "out_bytes": written if command == "generate" else len(run["stdout"]),
            "stderr_errors": [line for line in run["stderr"].splitlines() if line.startswith("error")]}


# --- driver -------------------------------------------------------------------------------------

def measure(n_files: int, total_bytes: int, runs: int, work: Path, with_generate: bool) -> dict:
    tree = work / f"tree-{n_files}"
    shutil.rmtree(tree, ignore_errors=True)
    size = make_tree(tree, n_files, total_bytes)
    reference = reference_size(tree)
    result: dict = {"files": n_files, "tree_bytes": size, "reference_bytes": reference}
    for mode in ("transpile", "warm", "naive"):
        samples = [run_child(mode, tree) for _ in range(runs)]
        result[mode] = {
            "median_s": statistics.median(s["seconds"] for s in samples),
            "median_process_s": statistics.median(s["process_wall"] for s in samples),
            "median_cpu_s": statistics.median(s["cpu_s"] for s in samples),
            "warm_median_s": statistics.median(s["warm"] for s in samples) if mode == "warm" else None,
            "max_rss_mb": max(s["maxrss_kb"] for s in samples) / 1024,
            "out_bytes": samples[0]["out_bytes"],
            "encoded_vs_reference": samples[0]["entries_bytes"] / reference if reference else None,
            "out_vs_reference": samples[0]["out_bytes"] / reference if reference else None,
        }
    if with_generate:
        probe = subprocess.run([sys.executable, "-m", "kmwizard", "generate", "--help"], cwd=REPO,
                               capture_output=True)
        for command in ("generate", "generate+libyaml", "preview"):
            if probe.returncode:
                result[command] = {"error": "`python -m kmwizard generate` is not available in this checkout"}
                continue
            samples = [run_cli(command, tree, work) for _ in range(runs)]
            result[command] = {
                "median_process_s": statistics.median(s["process_wall"] for s in samples),
                "median_cpu_s": statistics.median(s["cpu_s"] for s in samples),
                "max_rss_mb": max(s["maxrss_kb"] for s in samples) / 1024,
                "out_bytes": samples[0]["out_bytes"], "rc": samples[0]["rc"],
                "errors": samples[0]["stderr_errors"],
                "out_vs_reference": samples[0]["out_bytes"] / reference if reference else None}
    return result


def report(results: list[dict]) -> str:
    lines = [f"{'files':>6} {'tree MB':>8} {'path':<16} {'in-proc s':>9} {'process s':>10} {'cpu s':>6} "
             f"{'peak MB':>8} {'out MB':>7} {'out/ref':>8} {'enc/ref':>8}  notes"]
    for r in results:
        for mode in ("transpile", "warm", "naive", "generate", "generate+libyaml", "preview"):
            m = r.get(mode)
            if not m:
                continue
            if "error" in m:
                lines.append(f"{r['files']:>6} {'':>8} {mode:<16} {m['error']}")
                continue
            inproc = m.get("warm_median_s") if mode == "warm" else m.get("median_s")
            enc = m.get("encoded_vs_reference")
            note = ""
            if m.get("rc"):
                note = f"exit {m['rc']}: " + "; ".join(e[:110] for e in m.get("errors", []))
            lines.append(
                f"{r['files']:>6} {r['tree_bytes'] / 1e6:>8.2f} {mode:<16} "
                f"{(f'{inproc:.3f}' if inproc is not None else '-'):>9} {m['median_process_s']:>10.3f} "
                f"{m['median_cpu_s']:>6.3f} {m['max_rss_mb']:>8.1f} {m['out_bytes'] / 1e6:>7.2f} "
                f"{m['out_vs_reference']:>8.4f} {(format(enc, '.4f') if enc else '-'):>8}  {note}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "TREE"), help=argparse.SUPPRESS)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--mb", type=float, default=3.5, help="tree size for --files files")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-scaling", action="store_true", help="skip the 20 / 2,000 file trees")
    parser.add_argument("--no-generate", action="store_true", help="skip the whole-CLI measurement")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    per_file = args.mb * 1e6 / args.files
    counts = [args.files] if args.no_scaling else [20, args.files, 2000]
    with tempfile.TemporaryDirectory(prefix="kmwizard-bench-") as tmp:
        results = []
        for n in counts:
            runs = args.runs if n <= args.files else max(3, args.runs // 2)
            results.append(measure(n, int(per_file * n), runs, Path(tmp), not args.no_generate))
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
