"""generate writes every file or none (issue 8, item 2): disk full, a name too long, a directory in the
way, and a signal at each step of the write all leave the output directory as it was before the run,
exit with the documented code, and leave no temporary file behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kmwizard.answers import Answers
from kmwizard.cli import main
from kvc_trees import build_kvc_tree

ROOT = Path(__file__).resolve().parents[1]
KMM = ["generate", "--preset", "kmm-ci"]


def snapshot(directory: Path) -> dict:
    """Every entry below directory with its bytes and mode (directories as None)."""
    if not directory.exists():
        return {}
    out = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(directory))] = (None if path.is_dir() else path.read_bytes(), st.st_mode & 0o7777)
    return out


def test_a_directory_where_a_file_goes_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "Dockerfile").mkdir(parents=True)  # the last file kmm-ci writes
    before = snapshot(out)
    assert main([*KMM, "--force", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Dockerfile" in err and "directory" in err and "Traceback" not in err
    assert snapshot(out) == before


def test_a_name_too_long_writes_nothing_and_temporary_names_always_fit(tmp_path, capsys):
    """NAME_MAX is 255 bytes: a MachineConfig name of 246 characters makes <name>.files.txt 256 bytes long.
    245 characters fit: the temporary names (once .<name>.XXXXXXXX.tmp) must fit whenever the final ones do."""
    fakeroot, _ = build_kvc_tree(tmp_path)
    label = "a" * 60
    for length, code in ((246, 2), (245, 0)):
        name = ("99-" + ".".join([label] * 5))[:length]
        out = tmp_path / f"out{length}"
        argv = ["generate", "--set", f"kvc.fakeroot={fakeroot}", "--set", f"machineconfig.name={name}", "-o", str(out)]
        assert main(argv) == code, capsys.readouterr().err
        if code:
            assert "255" in capsys.readouterr().err and not out.exists()  # not even the directory it made
        else:
            assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}{ext}" for ext in
                                                                   (".yaml", ".base.ign", ".files.txt"))


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (needs root and permission to mount; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _leave_free_pages(mount: Path, pages: int) -> None:
    index = 0
    while os.statvfs(mount).f_bavail > pages:
        (mount / f"fill{index}").write_bytes(b"x" * 4096)
        index += 1


def test_disk_full_in_the_middle_writes_nothing(small_tmpfs, capsys):
    """Two free pages: two of the three files fit, the third fails with ENOSPC; the two are taken back."""
    _leave_free_pages(small_tmpfs, 2)
    out = small_tmpfs / "out"
    assert main([*KMM, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was written" in err
    assert not out.exists()
    assert not [p for p in small_tmpfs.iterdir() if p.name.startswith(".kmw-")]


def test_disk_full_when_replacing_keeps_the_old_files(small_tmpfs, capsys):
    out = small_tmpfs / "out"
    assert main([*KMM, "-o", str(out)]) == 0
    for path in out.iterdir():
        path.write_bytes(b"old " + path.name.encode())
    before = snapshot(out)
    _leave_free_pages(small_tmpfs, 1)
    assert main([*KMM, "--force", "-o", str(out)]) == 2
    assert "No space left" in capsys.readouterr().err
    assert snapshot(out) == before


def test_the_prompt_wizard_reports_a_failed_write_and_goes_on(tmp_path, monkeypatch):
    """kmwizard ask writes through kmwizard.output too: a directory in the way is said, nothing is
    written, and the wizard offers its menu again instead of ending."""
    from test_ask import run as ask

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    (out / "Dockerfile").mkdir(parents=True)
    code, _prompter, text = ask({"method": ["kmm"], "action": ["write", "quit"], "output-dir": [str(out)],
                                 "overwrite": [True]}, Answers.load(ROOT / "presets" / "kmm-ci.yaml"))
    assert code == 0 and "a directory of that name is in the way" in text and "Traceback" not in text
    assert sorted(p.name for p in out.iterdir()) == ["Dockerfile"]


def test_unchanged_means_same_bytes_and_same_mode(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*KMM, "-o", str(out)]) == 0
    capsys.readouterr()
    (out / "Dockerfile").chmod(0o600)
    assert main([*KMM, "-o", str(out)]) == 2  # a mode change is a change: it needs --force
    capsys.readouterr()
    assert main([*KMM, "--force", "-o", str(out)]) == 0
    states = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert sorted(states) == ["replaced", "unchanged", "unchanged"]
    assert (out / "Dockerfile").stat().st_mode & 0o777 == 0o644
    assert main([*KMM, "-o", str(out)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["unchanged"] * 3


# kmm-ci writes 3 files: steps 1-3 stage them, steps 4-6 move them into place (with signals held).
@pytest.mark.parametrize("step,sig,existing", [
    (1, signal.SIGINT, False), (2, signal.SIGTERM, False), (3, signal.SIGHUP, False),
    (4, signal.SIGTERM, False), (6, signal.SIGINT, False),
    (2, signal.SIGHUP, True), (5, signal.SIGTERM, True),
])
def test_a_signal_at_any_step_leaves_nothing_half_written(tmp_path, step, sig, existing):
    """Through the test hook KMWIZARD_TEST_PAUSE (kmwizard/output.py _test_pause) the write stops at one
    step; the signal sent there must end the run with exit 130 and the directory as it was."""
    out = tmp_path / "out"
    if existing:
        assert main([*KMM, "-o", str(out)]) == 0
        for path in out.iterdir():
            path.write_bytes(b"old " + path.name.encode())
    before = snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "kmwizard", *KMM, "--force", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "KMWIZARD_TEST_PAUSE": str(step), "PYTHONPATH": str(ROOT)})
    for line in proc.stderr:
        if line.startswith("kmwizard-test-pause:"):
            proc.send_signal(sig)
            break
    else:
        pytest.fail(f"the write never reached step {step}: {proc.communicate()}")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert snapshot(out) == before
    assert not list(tmp_path.rglob(".kmw-*"))


def test_a_signal_before_the_write_exits_130(tmp_path):
    """SIGTERM while rendering (long before the write): the Ctrl-C path, not death by the signal."""
    script = ("import os, signal, kmwizard.render as r\n"
              "real = r.render\n"
              "def render(a):\n    os.kill(os.getpid(), signal.SIGTERM)\n    return real(a)\n"
              "r.render = render\n"
              "from kmwizard.cli import main\nraise SystemExit(main())\n")
    proc = subprocess.run([sys.executable, "-c", script, *KMM, "-o", str(tmp_path / "out")], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 130 and "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
