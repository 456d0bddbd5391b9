"""The command line as a user meets it: exit codes, where output goes, messages that name the culprit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmwizard.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG="/nonexistent/kubeconfig", XDG_CONFIG_HOME="/nonexistent/xdg")
    return subprocess.run([sys.executable, "-m", "kmwizard", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)


def test_version_and_help():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("kmwizard ")
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("generate", "preview", "validate", "presets", "tui", "ask"):
        assert command in proc.stdout


@pytest.mark.parametrize("args", [(), ("tui",), ("ask",)])
def test_interactive_front_ends_refuse_without_a_terminal(args):
    proc = run(*args)
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr and "kmwizard generate" in proc.stderr
    assert proc.stdout == ""


def test_bad_set_names_the_key_and_the_allowed_values():
    proc = run("preview", "--set", "day=3")
    assert proc.returncode == 2
    assert "day" in proc.stderr and "1, 2" in proc.stderr


def test_set_without_equals_is_a_usage_error():
    proc = run("preview", "--set", "role")
    assert proc.returncode == 2 and "KEY=VALUE" in proc.stderr


def test_unknown_preset_lists_the_known_ones():
    proc = run("presets", "show", "nope")
    assert proc.returncode == 2 and "simple-kmod" in proc.stderr


def test_presets_list_and_show():
    proc = run("presets", "list")
    assert proc.returncode == 0 and "simple-kmod" in proc.stdout and "built-in" in proc.stdout
    proc = run("presets", "show", "simple-kmod")
    assert proc.returncode == 0 and "format_version: 1" in proc.stdout


def test_user_presets_appear_beside_builtin_ones(tmp_path, monkeypatch, capsys):
    from kmwizard.answers import Answers
    from kmwizard.preset_store import save_user_preset

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = save_user_preset("my-nic", Answers({"role": "infra"}), "my NIC driver")
    assert path == tmp_path / "kmwizard/presets/my-nic.yaml"
    assert main(["presets", "list"]) == 0
    out = capsys.readouterr().out
    assert "my-nic" in out and "user" in out and "my NIC driver" in out
    with pytest.raises(Exception) as exc:
        save_user_preset("my-nic", Answers(), "again")
    assert "exists" in str(exc.value)


def test_validate_missing_file_and_bad_syntax(tmp_path):
    proc = run("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and "nope.yaml" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [MachineConfig\n")
    proc = run("validate", str(bad))
    assert proc.returncode == 1 and "bad.yaml" in proc.stderr and "YAML" in proc.stderr


def test_keys_lists_every_key_with_help():
    proc = run("keys", "--method", "kvc")
    assert proc.returncode == 0
    assert "kvc.module_repo" in proc.stdout and "entitlement.source" in proc.stdout
    assert "kmm.namespace" not in proc.stdout
