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


def test_no_terminal_hint_first_suggests_a_preset_that_renders_offline(tmp_path):
    """The first command the hint shows must work without the network: its preset fetches nothing."""
    import re

    from kmwizard.cli import NO_TTY_MESSAGE
    from kmwizard.kvc.fetch import remote_fetches
    from kmwizard.preset_store import load_preset

    first = re.search(r"kmwizard preview\s+--preset (\S+)", NO_TTY_MESSAGE).group(1)
    assert remote_fetches(load_preset(first), cache_dir=tmp_path) == []
    proc = run("preview", "--preset", first)
    assert proc.returncode == 0 and "kind: Module" in proc.stdout


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
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr  # a usage error, as for kernel-match and --answers
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [MachineConfig\n")
    proc = run("validate", str(bad))
    assert proc.returncode == 1 and "bad.yaml" in proc.stderr and "YAML" in proc.stderr


def test_keys_lists_every_key_with_help():
    proc = run("keys", "--method", "kvc")
    assert proc.returncode == 0
    assert "kvc.module_repo" in proc.stdout and "entitlement.source" in proc.stdout
    assert "kmm.namespace" not in proc.stdout


def _module(namespace: str) -> dict:
    return {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
            "metadata": {"name": "drv", "namespace": namespace},
            "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                     "moduleLoader": {"container": {
                         "modprobe": {"moduleName": "drv"},
                         "kernelMappings": [{"regexp": "^.+$",
                                             "containerImage": "quay.io/org/drv:${KERNEL_FULL_VERSION}",
                                             "build": {"dockerfileConfigMap": {"name": "drv-dockerfile"}}}]}}}}


def test_validate_checks_modules_and_their_configmap_across_files(tmp_path):
    import yaml

    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "drv-dockerfile", "namespace": "other"},
                 "data": {"dockerfile": "ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\n"}}
    (tmp_path / "module.yaml").write_text(yaml.safe_dump(_module("drivers")))
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump(configmap))
    proc = run("validate", str(tmp_path / "module.yaml"), str(tmp_path / "cm.yaml"))
    assert proc.returncode == 1
    assert "namespace" in proc.stderr and "drv-dockerfile" in proc.stderr


def test_validate_bad_regexp_is_judged_by_re2(tmp_path):
    import yaml

    module = _module("drivers")
    module["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["regexp"] = r"^.+\el9\.x86_64$"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(module))
    proc = run("validate", str(tmp_path / "m.yaml"))
    assert proc.returncode == 1 and "regexp" in proc.stderr


def test_validate_machineconfig_and_unknown_kind(tmp_path):
    import json

    mc = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
          "metadata": {"name": "99-worker-x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
          "spec": {"config": {"ignition": {"version": "3.2.0"},
                              "storage": {"files": [{"path": "/usr/lib/x", "mode": 4095,
                                                     "contents": {"source": "data:,hi"}}]}}}}
    (tmp_path / "mc.json").write_text(json.dumps(mc))
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    proc = run("validate", str(tmp_path / "mc.json"), str(tmp_path / "svc.yaml"))
    assert proc.returncode == 1
    assert "/usr/lib/x" in proc.stderr and "Service is not a kind kmwizard checks" in proc.stderr


@pytest.mark.parametrize("args", [("validate", "{f}"), ("kernel-match", "--kernel", "5.14.0-1.el9.x86_64", "{f}"),
                                  ("preview", "--answers", "{f}")])
def test_binary_or_directory_input_is_a_usage_error_not_a_traceback(tmp_path, args):
    binary = tmp_path / "module.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\xd0\xff\xfe")
    for target in (binary, tmp_path):
        proc = run(*(a.format(f=target) for a in args))
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and str(target) in proc.stderr
    assert "not UTF-8" in run(*(a.format(f=binary) for a in args)).stderr


def test_missing_arguments_are_usage_errors():
    proc = run("generate", "--preset", "kmm-ci")
    assert proc.returncode == 2 and "--output-dir" in proc.stderr
    proc = run("presets", "show")
    assert proc.returncode == 2 and "presets list" in proc.stderr


def test_keys_prints_defaults_as_an_answer_file_writes_them():
    """Each printed default, pasted into an answer file, is the default (no Python reprs like () or False)."""
    import yaml

    from kmwizard.answers import Answers

    proc = run("keys")
    checked = 0
    for line in proc.stdout.splitlines():
        if line.startswith(" ") or "  default: " not in line:
            continue
        key = line.split()[0]
        text = line.split("  default: ", 1)[1].split("  one of: ")[0]
        if text == "derived from other answers":
            continue
        value = yaml.safe_load(text)
        answers = Answers({"method": "kmm"} if key.startswith("kmm.") else {})
        assert answers.set(key, value).get(key) == answers.get(key), (key, text)
        checked += 1
    assert checked > 40


def test_broken_user_presets_are_listed_not_a_traceback(tmp_path):
    folder = tmp_path / "xdg" / "kmwizard" / "presets"
    folder.mkdir(parents=True)
    (folder / "listy.yaml").write_text("- a\n- b\n")
    (folder / "binary.yaml").write_bytes(b"\x7fELF\xd0\xff")
    (folder / "simple-kmod.yaml").write_text("format_version: 1\ndescription: mine\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, "-m", "kmwizard", "presets", "list"], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert "not an answer file" in lines["listy"] and "unreadable" in lines["binary"]
    assert "replaces the built-in one" in lines["simple-kmod"] and "mine" in lines["simple-kmod"]
    proc = subprocess.run([sys.executable, "-m", "kmwizard", "presets", "show", "binary"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 2 and "not UTF-8" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_refuses_a_kmm_version_it_cannot_read(tmp_path):
    proc = run("validate", "--kmm-version", "banana", str(tmp_path / "m.yaml"))
    assert proc.returncode == 2 and "banana" in proc.stderr and "2.4" in proc.stderr


def test_a_preset_saved_with_relative_paths_works_from_any_directory(tmp_path, monkeypatch):
    """Item 8 of issue 13: 'signing.priv' typed in the wizard names the file in the directory it was
    typed in; the saved preset stores it absolute, so it renders the same from elsewhere."""
    from kmwizard.answers import Answers
    from kmwizard.preset_store import load_preset, save_user_preset
    from kmwizard.render import render

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "signing.priv").write_text("key\n")
    (work / "signing.x509").write_text("cert\n")
    monkeypatch.chdir(work)
    answers = Answers({"method": "kmm", "kmm.sign.enabled": True, "kmm.sign.key_file": "signing.priv",
                       "kmm.sign.cert_file": "./signing.x509", "kvc.module_repo": "https://example.com/r.git"})
    path = save_user_preset("signed", answers)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_preset("signed")
    assert loaded.get("kmm.sign.key_file") == str(work / "signing.priv")
    assert loaded.get("kmm.sign.cert_file") == str(work / "signing.x509")
    assert loaded.get("kvc.module_repo") == "https://example.com/r.git"  # URLs stay as they are
    assert not [f for f in render(loaded).findings if f.where.startswith("kmm.sign") and f.severity.value == "error"]
    assert "signing.priv" in path.read_text()


@pytest.mark.parametrize("front_end", ["tui", "ask"])
def test_the_program_hands_the_cli_its_front_ends(front_end, monkeypatch, capsys):
    # kmwizard.main joins the front ends (the CLI imports neither): `kmwizard tui|ask` reaches the
    # one named, with the answers of --preset/--set; the CLI alone refuses with a fix, no traceback.
    import kmwizard.cli
    import kmwizard.main

    started = []
    monkeypatch.setattr(kmwizard.cli, "_is_tty", lambda: True)
    monkeypatch.setattr(kmwizard.main, f"run_{front_end}", lambda answers: started.append(answers) or 0)
    assert kmwizard.main.main([front_end, "--preset", "kmm-ci", "--set", "role=infra"]) == 0
    assert [(a.get("method"), a.get("role")) for a in started] == [("kmm", "infra")]
    assert main([front_end]) == 2
    assert f"cannot start `kmwizard {front_end}`" in capsys.readouterr().err


def test_a_command_builds_only_its_parser_and_help_lists_them_all(capsys):
    from kmwizard.cli import build_parser

    full = build_parser()
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    for command in ("generate", "validate", "kernel-match", "apply", "diff", "delete"):
        assert command in listing
    # The parser a generate run builds parses generate exactly as the whole one does.
    argv = ["generate", "--set", "role=infra", "-o", "out", "--force"]
    assert vars(build_parser("generate").parse_args(argv)) == vars(full.parse_args(argv))
    assert main(["generat"]) == 2 and "invalid choice: 'generat'" in capsys.readouterr().err


def test_answer_options_without_a_command_start_the_wizard(monkeypatch):
    """Issue 13: `kmwizard --preset X` behaves like `kmwizard tui --preset X` (the README's table says so)."""
    import kmwizard.cli
    import kmwizard.main

    started = []
    monkeypatch.setattr(kmwizard.cli, "_is_tty", lambda: True)
    monkeypatch.setattr(kmwizard.main, "run_tui", lambda answers: started.append(answers) or 0)
    assert kmwizard.main.main(["--preset", "kmm-ci", "--set", "role=infra"]) == 0
    assert kmwizard.main.main(["--set=role=master"]) == 0
    assert [(a.get("method"), a.get("role")) for a in started] == [("kmm", "infra"), ("kvc", "master")]
