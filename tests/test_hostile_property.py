"""Property-based hostile input (issue 8): every command, driven by generated answers, files and fakeroot
trees, ends with an exit code of the documented set (README: 0, 1, 2, 3, 130) and no exception, writes
nothing outside its output directory, leaves no partial output, and never shows a planted secret.

Commands run in-process through cli.main (fast); stdin, stdout and stderr are replaced by buffers.  The
example counts are bounded and there is no deadline, so a loaded CI machine cannot make them flaky.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from kmwizard import output
from kmwizard.cli import main
from kmwizard.findings import UsageError
from kmwizard.keys import KEYS
from kmwizard.render import OutputFile, Rendering
from kvc_trees import build_kvc_tree

DOCUMENTED = {0, 1, 2, 3, 130}
PASSWORD = "pr0pertyPW"
KEY_MARKER = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"  # the start of a real PKCS#8 key: must never be shown
# KMWIZARD_HOSTILE_EXAMPLES=2000 searches longer (and randomly) outside CI.
EXAMPLES = int(os.environ.get("KMWIZARD_HOSTILE_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize="KMWIZARD_HOSTILE_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Shared inputs: a KVC tree, odd files, a user preset directory with one broken preset."""
    base = tmp_path_factory.mktemp("hostile")
    fakeroot, _ = build_kvc_tree(base)
    os.mkfifo(base / "fifo")
    (base / "key.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n")
    (base / "manifest.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "a"}, "data": {"x": "y"}}))
    (base / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefg", "bcdefgh")))
    presets = base / "config" / "kmwizard" / "presets"
    presets.mkdir(parents=True)
    (presets / "broken.yaml").write_text("format_version: 1\nkmm: &a {x: *a}\n")
    with mock.patch.dict(os.environ, {"XDG_CONFIG_HOME": str(base / "config")}):
        yield {"base": base, "fakeroot": fakeroot}


def tree_state(root: Path, skip: Path) -> dict:
    """Names, sizes and modes below root, except below skip (what a run may change)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            if Path(dirpath, name) == skip:
                continue
            st_ = os.lstat(os.path.join(dirpath, name))
            # a directory's mtime changes when the output directory is made in it: not a write
            state[os.path.join(dirpath, name)] = (st_.st_mode,) if name in dirnames else \
                (st_.st_size, st_.st_mode, st_.st_mtime_ns)
    return state


def run_main(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "stdin", io.StringIO(stdin)):
        code = main(argv)  # an exception escaping main is a traceback: the test fails with it
    return code, out.getvalue(), err.getvalue()


def check_run(argv: list[str], scratch: dict, out_dir: Path | None = None, stdin: str = "") -> int:
    base = scratch["base"]
    skip = out_dir or base / "no-output"
    before = tree_state(base, skip)
    code, stdout, stderr = run_main(argv, stdin)
    assert code in DOCUMENTED, (argv, code, stderr)
    assert "Traceback" not in stderr
    assert PASSWORD not in stdout + stderr and KEY_MARKER not in stdout + stderr, argv
    assert "\x1b" not in stdout + stderr
    after = tree_state(base, skip)
    assert after == before, f"written outside the output directory: {set(after) ^ set(before)}"
    if out_dir is not None and argv[0] in ("generate", "import", "migrate"):
        if code == 0:
            assert any(out_dir.rglob("*")) and not list(out_dir.rglob(".kmw-*"))
        else:
            assert not out_dir.exists(), f"partial output after exit {code}: {list(out_dir.rglob('*'))}"
    return code


@contextlib.contextmanager
def example_dir(scratch: dict):
    """A directory for one example, removed afterwards (the scratch tree stays small to compare)."""
    work = Path(tempfile.mkdtemp(dir=scratch["base"]))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- generated values -----------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from([
    "", " ", "\n", "a\nb", "\x1b[2J", "\x00", "\t", "../..", "/etc/shadow", "/dev/zero", "/proc/self/environ",
    "&a [*a]", "*a", "[" * 300, "{" * 300 + "}" * 300, "0123456", "0x1f", "1e3", "1:20", "yes", "~", "null",
    "9" * 30, "-1", "true", f"https://user:{PASSWORD}@git.example.com/r.git", f"u:{PASSWORD}@quay.io/x:y",
    "a" * 300, "kmm_ci_a", "4.14", "quay.io/org/img:${KERNEL_FULL_VERSION}", "[{regexp: '^.+$'}]", "{a: b}",
    "'unterminated", "ä€😀", "FIFO", "KEY",
])
SCALARS = st.one_of(HOSTILE_TEXT, st.text(max_size=20), st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["regexp", "literal", "name", "value", "a", "x"]), inner, max_size=3), max_leaves=8)
KEY_NAMES = st.sampled_from(sorted(KEYS) + ["nope", "kmm", "kvc", "kmm.nope", "format_version", "description"])


def concrete(text: str, scratch: dict) -> str:
    """Placeholders for paths that exist only in the scratch directory."""
    return {"FIFO": str(scratch["base"] / "fifo"), "KEY": str(scratch["base"] / "key.pem")}.get(text, text)


def as_set(key: str, value, scratch: dict) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    return f"{key}={concrete(text, scratch)}"


@st.composite
def answer_sets(draw, scratch_holder: list) -> list[str]:
    scratch = scratch_holder[0]
    pairs = draw(st.lists(st.tuples(KEY_NAMES, VALUES), max_size=4))
    argv = []
    for key, value in pairs:
        argv += ["--set", as_set(key, value, scratch)]
    # KVC without a tree would clone from the network: the shared tree is used unless the answers chose one.
    return argv + ["--set", f"kvc.fakeroot={scratch['fakeroot']}"]


def answer_file_text(draw) -> str:
    doc = draw(st.dictionaries(KEY_NAMES, VALUES, max_size=5))
    text = yaml.safe_dump(doc, allow_unicode=True)
    return draw(st.sampled_from([text, "format_version: 1\n" + text, text + "kmm: &x {a: *x}\n",
                                 "[" * 200 + "]" * 200, text.replace(":", ": &a", 1), "\t" + text, "- " + text]))


# --- the properties ---------------------------------------------------------------------------

holder: list = []


@pytest.fixture(autouse=True)
def _hold(scratch):
    holder[:] = [scratch]


@SETTINGS
@given(data=st.data())
def test_every_command_with_generated_answers(scratch, data):
    command = data.draw(st.sampled_from(["preview", "preview --all-files", "generate", "kernel-match", "ask",
                                         "tui", "apply", "diff", "status", "verify", "delete", "presets list",
                                         "keys", "presets show"]))
    argv = command.split() + data.draw(answer_sets(holder))
    if command in ("presets list", "keys", "presets show"):  # no answers: the generated words are arguments
        argv = command.split() + [data.draw(st.sampled_from(["kmm-ci", "broken", "nope", "\x1b[2J", "--method"]))]
    if command in ("apply", "diff", "status", "verify", "delete"):  # kubeconfigs that never reach a network
        argv += ["--kubeconfig", data.draw(st.sampled_from([str(scratch["base"] / "fifo"), "/dev/zero",
                                                            str(scratch["base"] / "bomb.yaml"), "/nonexistent",
                                                            str(scratch["base"] / "key.pem")]))]
    if data.draw(st.booleans()):
        preset = data.draw(st.sampled_from(["kmm-ci", "simple-kmod", "kmm-signed", "broken", "nope"]))
        argv[len(command.split()):len(command.split())] = ["--preset", preset]
    if command == "kernel-match":
        argv += ["--kernel", data.draw(st.sampled_from(["5.14.0-427.13.1.el9_4.x86_64", "", "\n", "a" * 300]))]
    with example_dir(scratch) as work:
        out_dir = work / "out" if command == "generate" else None
        check_run(argv + (["-o", str(out_dir)] if out_dir else []), scratch, out_dir)


@SETTINGS
@given(data=st.data())
def test_answer_files_and_validated_files(scratch, data):
    text = answer_file_text(data.draw)
    command = data.draw(st.sampled_from(["preview", "generate", "validate", "validate-stdin", "validate-many",
                                         "import", "migrate"]))
    with example_dir(scratch) as work:
        path = work / "input.yaml"
        path.write_text(text)
        _answer_file_command(scratch, data, command, path, text)


def _answer_file_command(scratch, data, command, path, text) -> None:
    if command == "validate":
        check_run(["validate", str(path)], scratch)
    elif command in ("import", "migrate"):  # a file of manifests in, answers and files out
        out_dir = path.parent / "out"
        check_run([command, str(path), "-o", str(out_dir)], scratch, out_dir)
    elif command == "validate-stdin":
        check_run(["validate", "-"], scratch, stdin=text)
    elif command == "validate-many":
        others = data.draw(st.lists(st.sampled_from([str(scratch["base"] / "fifo"), "/dev/zero", str(path),
                                                     str(scratch["base"] / "manifest.yaml"), "/nonexistent",
                                                     str(scratch["base"])]), min_size=1, max_size=3))
        check_run(["validate", *others], scratch)
    else:
        out_dir = path.parent / "out" if command == "generate" else None
        argv = [command, "--answers", str(path), "--set", f"kvc.fakeroot={scratch['fakeroot']}"]
        check_run(argv + (["-o", str(out_dir)] if out_dir else []), scratch, out_dir)


NAME_PARTS = st.sampled_from(["etc", "usr", "a", "b", "..", ".", "x\ny", "\x1b[2J", "n" * 255, "ä", "unit.service"])
LINK_TARGETS = st.sampled_from(["..", "../..", ".", "a", "../a", "/etc/passwd", "/proc/self/cwd", "missing",
                                "../etc", "b/../../..", "x" * 200])


@SETTINGS
@given(entries=st.lists(st.tuples(st.lists(NAME_PARTS, min_size=1, max_size=3),
                                  st.sampled_from(["file", "dir", "link", "fifo", "empty"]), LINK_TARGETS,
                                  st.binary(max_size=64)), max_size=8),
       command=st.sampled_from(["preview", "generate"]))
def test_generated_fakeroot_trees(scratch, entries, command):
    with example_dir(scratch) as work:
        _fakeroot_run(scratch, work, entries, command)


def _inside(root: Path, directory: Path) -> bool:
    """Whether directory (existing or not) lies in root without passing a symlink or '..'."""
    relative = directory.relative_to(root).parts
    if ".." in relative:
        return False
    current = root
    for part in relative:
        current = current / part
        if current.is_symlink():
            return False
    return True


def _fakeroot_run(scratch, work, entries, command) -> None:
    root = work / "tree"
    root.mkdir()
    for parts, kind, target, content in entries:
        path = root.joinpath(*parts)
        if os.path.lexists(path) or not _inside(root, path.parent):
            # Never through a link made by an earlier entry (x -> /proc/self/cwd would lead the builder
            # out of the tree), never into a FIFO (writing would block the builder itself).
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            {"file": lambda: path.write_bytes(content), "dir": lambda: path.mkdir(),
             "link": lambda: path.symlink_to(target), "fifo": lambda: os.mkfifo(path),
             "empty": lambda: path.touch()}[kind]()
        except (OSError, ValueError):
            continue  # a name the file system refuses (.., a file where a directory is) is not a tree
    out_dir = work / "out" if command == "generate" else None
    argv = [command, "--set", f"kvc.fakeroot={root}"] + (["-o", str(out_dir)] if out_dir else [])
    check_run(argv, scratch, out_dir)


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """A 128 KiB tmpfs, so that generated writes also run out of space; a plain directory without root."""
    mount = tmp_path_factory.mktemp("disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
                             capture_output=True).returncode == 0
    yield mount
    if mounted:
        subprocess.run(["umount", str(mount)], check=True)


FILE_NAMES = st.sampled_from(["a.yaml", "b/c.yaml", "b", "d/e/f.txt", "n" * 250 + ".yaml", "m" * 256,
                              ".hidden", "x y.yaml"])


@settings(SETTINGS)
@given(files=st.lists(st.tuples(FILE_NAMES, st.integers(0, 30_000), st.sampled_from([0o644, 0o600])), min_size=1,
                      max_size=5, unique_by=lambda f: f[0]),
       obstacles=st.lists(st.tuples(FILE_NAMES, st.sampled_from(["file", "dir"])), max_size=3),
       force=st.booleans())
def test_output_write_is_all_or_nothing(small_disk, files, obstacles, force):
    """kmwizard.output.write (generate, the TUI's Write dialog, ask): every file with its content and mode,
    or a UsageError and the directory exactly as before, whatever is in the way and however full the disk."""
    target = Path(tempfile.mkdtemp(dir=small_disk))
    for name, kind in obstacles:
        path = target / name
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir() if kind == "dir" else path.write_bytes(b"old")
    out = target / "out-of-obstacles" if not obstacles else target
    rendering = Rendering(files=tuple(OutputFile(name, bytes([65 + i]) * size, mode)
                                      for i, (name, size, mode) in enumerate(files)))
    before = tree_state(target, target / "none")
    contents = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    try:
        written = output.write(output.plan(rendering, out), force=force)
    except UsageError:
        assert tree_state(target, target / "none") == before
        assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == contents
    else:
        assert len(written) == len(files)
        for (name, size, mode), i in zip(files, range(len(files))):
            path = out / name
            assert path.read_bytes() == bytes([65 + i]) * size and path.stat().st_mode & 0o777 == mode
    assert not list(target.rglob(".kmw-*"))
    shutil.rmtree(target)
