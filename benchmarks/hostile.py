"""Hand-made hostile inputs against every command: count tracebacks, hangs, partial output, leaked secrets.

    python benchmarks/hostile.py            # all cases, a summary, and one line per bad case
    python benchmarks/hostile.py -v         # one line per case

Each case runs `python -m kmwizard ...` in a fresh subprocess (a hang must not stop the count) with its own
$XDG_CONFIG_HOME and scratch directory, and is judged on:
- traceback: "Traceback (most recent call last)" on stderr, or an exit code outside 0, 1, 2, 3, 130;
- hang: still running after --timeout seconds (default 10);
- partial: the run failed but left files in an output directory it was given (or a temporary file);
- leak: a marker planted in a credential or key file appears on stdout or stderr;
- accepted: a case that must be refused (expect="fail") exited 0.
The figures for the closing note of issue 8 come from this script (before and after the change).
"""
from __future__ import annotations

import argparse
import gzip
import base64
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# The code under test (default: this checkout); KMWIZARD_ROOT=<an older export> measures "before".
CODE = Path(os.environ.get("KMWIZARD_ROOT", ROOT))

SECRET = "s3cr3tPW"          # planted in URLs
KEY_MARKER = "KEYMATERIALXYZ"  # planted in key-like files
DOCUMENTED_EXITS = {0, 1, 2, 3, 130}


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str = "any"           # "fail": must exit non-zero; "ok": must exit 0
    out: str = ""                 # an output directory the run writes into (checked for partial output)
    stdout_to: str = ""           # a path stdout is redirected to (e.g. /dev/full)
    stdin: bytes = b""
    env: dict = field(default_factory=dict)


def billion_laughs(levels: int = 9, width: int = 9, top: str = "kmm") -> str:
    lines = ["format_version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"{top}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def build_cases(tmp: Path) -> list[Case]:
    from kvc_trees import build_kvc_tree

    fix = tmp / "fixtures"
    fix.mkdir()
    fakeroot, _ = build_kvc_tree(fix)
    kvc = ["--set", f"kvc.fakeroot={fakeroot}"]

    def put(name: str, text, mode: int = 0o644) -> str:
        path = fix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            text = text.encode()
        path.write_bytes(text)
        path.chmod(mode)
        return str(path)

    fifo = str(fix / "fifo")
    os.mkfifo(fifo)
    cases: list[Case] = []
    add = cases.append
    n = 0

    def out() -> str:
        nonlocal n
        n += 1
        return str(tmp / f"out{n}")

    # 1. aliases and nesting
    bomb = put("bomb.yaml", billion_laughs())
    bomb_sel = put("bomb-sel.yaml", billion_laughs(top="x").replace("x: *a8", "method: kmm\nkmm: {node_selector: *a8}"))
    selfref = put("selfref.yaml", "format_version: 1\nkmm: &a {node_selector: *a}\n")
    selfref_list = put("selfref-list.yaml", "format_version: 1\nmethod: kmm\nkmm: {kernel_mappings: &a [*a]}\n")
    deep_yaml = put("deep.yaml", "[" * 20000 + "]" * 20000)
    deep_yaml_map = put("deep-map.yaml", "a: " * 0 + "{a: " * 5000 + "1" + "}" * 5000)
    deep_json = put("deep.json", "[" * 200000 + "]" * 200000)
    deep_json_obj = put("deep-obj.json", '{"a":' * 100000 + "1" + "}" * 100000)
    for f in (bomb, bomb_sel, selfref, selfref_list, deep_yaml, deep_yaml_map):
        add(Case(f"answers {Path(f).name}", ["preview", "--answers", f], "fail"))
        add(Case(f"generate {Path(f).name}", ["generate", "--answers", f, "-o", (o := out())], "fail", out=o))
    for f in (bomb, selfref, selfref_list, deep_yaml, deep_yaml_map, deep_json, deep_json_obj):
        add(Case(f"validate {Path(f).name}", ["validate", f], "fail"))
    bomb_mc = put("bomb-mc.yaml", billion_laughs(top="x").replace(
        "x: *a8", "apiVersion: machineconfiguration.openshift.io/v1\nkind: MachineConfig\nmetadata: {name: 99-a, "
                  "labels: *a8}\nspec: {config: {ignition: {version: 3.2.0}}}").replace("format_version: 1\n", ""))
    add(Case("validate bomb in MachineConfig", ["validate", bomb_mc], "fail"))
    set_bomb = "[" + ", ".join(["&a [x,x,x,x,x,x,x,x,x]"] + ["&b%d [%s]" % (i, ",".join(["*a" if i == 0 else f"*b{i-1}"] * 9)) for i in range(8)]) + "]"
    add(Case("--set bomb node_selector", ["preview", "--set", "method=kmm", "--set", f"kmm.node_selector={set_bomb}"], "fail"))
    add(Case("--set bomb kernel_mappings", ["preview", "--set", "method=kmm", "--set", f"kmm.kernel_mappings={set_bomb}"], "fail"))
    add(Case("--set bomb build_args", ["preview", "--set", "method=kmm", "--set", f"kmm.build_args={set_bomb}"], "fail"))
    add(Case("--set selfref", ["preview", "--set", "method=kmm", "--set", "kmm.kernel_mappings=&a [*a]"], "fail"))
    add(Case("--set deep", ["preview", "--set", "method=kmm", "--set", "kmm.kernel_mappings=" + "[" * 5000 + "]" * 5000], "fail"))
    add(Case("--set deep list", ["preview", "--set", "method=kmm", "--set", "kmm.ko_files=" + "[" * 5000 + "]" * 5000], "fail"))
    for label, text in (("bomb", billion_laughs()), ("selfref", "format_version: 1\nkmm: &a {x: *a}\n"),
                        ("deep", "[" * 20000 + "]" * 20000)):
        cfg = tmp / f"cfg-{label}"
        (cfg / "kmwizard" / "presets").mkdir(parents=True)
        (cfg / "kmwizard" / "presets" / f"evil-{label}.yaml").write_text(text)
        env = {"XDG_CONFIG_HOME": str(cfg)}
        add(Case(f"presets list with {label} preset", ["presets", "list"], "ok", env=env))
        add(Case(f"preset {label}", ["preview", "--preset", f"evil-{label}"], "fail", env=env))
        add(Case(f"presets show {label}", ["presets", "show", f"evil-{label}"], "any", env=env))

    # 2. all-or-nothing output
    blocker = put("blocker-file", "x")
    add(Case("generate into a file", ["generate", "--preset", "kmm-ci", "-o", blocker], "fail"))
    add(Case("generate below a file", ["generate", "--preset", "kmm-ci", "-o", blocker + "/sub"], "fail"))
    long_name = ".".join(["a" * 60] * 4)  # 243 characters: a valid DNS-1123 subdomain, too long with a prefix
    add(Case("generate name too long", ["generate", "--preset", "kmm-ci", "--set", f"kmm.name={long_name}",
                                        "--set", "kmm.kmm_version=2.7", "-o", (o := out())], "fail", out=o))
    o = out()
    os.makedirs(Path(o) / "module-kmm-ci.yaml")
    add(Case("generate: a directory where a file goes", ["generate", "--preset", "kmm-ci", "--force", "-o", o],
             "fail"))
    o = out()
    os.makedirs(o)
    (Path(o) / "Dockerfile").mkdir()
    add(Case("generate: a directory where the last file goes", ["generate", "--preset", "kmm-ci", "--force",
                                                                "-o", o], "fail"))
    mc_name = "99-" + ".".join(["a" * 60] * 4)[:243]  # a valid name; <name>.files.txt is 257 bytes
    add(Case("generate kvc name too long", ["generate", *kvc, "--set", f"machineconfig.name={mc_name}", "-o",
                                            (o := out())], "fail", out=o))
    mc_name = "99-" + ".".join(["a" * 60] * 4)[:239]  # every name fits; a temporary .<name>.XXXXXXXX.tmp did not
    add(Case("generate kvc long name that fits", ["generate", *kvc, "--set", f"machineconfig.name={mc_name}",
                                                  "-o", out()], "ok"))
    small = tmp / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True).returncode == 0:
        index = 0
        while os.statvfs(small).f_bavail > 1:  # one free page: the first staged file fits, the next do not
            (small / f"fill{index}").write_bytes(b"x" * 4096)
            index += 1
        add(Case("generate kvc disk full", ["generate", *kvc, "-o", str(small / "out")], "fail", out=str(small / "out")))
        add(Case("generate kmm disk full", ["generate", "--preset", "kmm-ci", "-o", str(small / "out2")], "fail",
                 out=str(small / "out2")))
    add(Case("generate into /proc", ["generate", "--preset", "kmm-ci", "-o", "/proc/kmwizard-x"], "fail"))
    add(Case("generate into /dev/null", ["generate", "--preset", "kmm-ci", "-o", "/dev/null"], "fail"))
    add(Case("generate kvc into a file", ["generate", *kvc, "-o", blocker], "fail"))

    # 3. keys
    shadow = "/etc/shadow" if os.access("/etc/shadow", os.R_OK) else put("shadow", f"root:{KEY_MARKER}:19000::::::\n")
    fake_key = put("fake.key", f"-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n", 0o600)
    garbage_der = put("garbage.der", bytes(range(256)) * 4 + KEY_MARKER.encode())
    text_key = put("text.key", f"just some text {KEY_MARKER}\n")
    sign = ["--preset", "kmm-ci", "--set", "kmm.sign.enabled=true"]
    for label, key in (("shadow", shadow), ("fake PEM", fake_key), ("garbage DER", garbage_der),
                       ("text", text_key), ("FIFO", fifo), ("/dev/zero", "/dev/zero"),
                       ("/proc/self/environ", "/proc/self/environ"), ("directory", str(fix))):
        add(Case(f"sign key {label}", ["preview", *sign, "--set", f"kmm.sign.key_file={key}"], "fail"))
        add(Case(f"sign cert {label}", ["preview", *sign, "--set", f"kmm.sign.cert_file={key}"], "fail"))
        add(Case(f"generate sign key {label}", ["generate", *sign, "--set", f"kmm.sign.key_file={key}", "-o",
                                                (o := out())], "fail", out=o))
    add(Case("entitlement certs_dir /proc/self", ["preview", "--preset", "kmm-ci", "--set", "entitlement.source=certs",
                                                  "--set", "entitlement.certs_dir=/proc/self"], "fail"))
    certs = fix / "certs"
    certs.mkdir()
    os.mkfifo(certs / "123.pem")
    os.mkfifo(certs / "123-key.pem")
    add(Case("entitlement certs FIFOs", ["preview", "--preset", "kmm-ci", "--set", "entitlement.source=certs",
                                         "--set", f"entitlement.certs_dir={certs}"], "fail"))
    add(Case("kvc entitlement certs FIFOs", ["preview", *kvc, "--set", "entitlement.source=certs",
                                             "--set", f"entitlement.certs_dir={certs}"], "fail"))

    # 4. credentials in URLs
    cred = f"https://user:{SECRET}@git.example.com/org/repo.git"
    add(Case("kmm source_repo creds preview", ["preview", "--preset", "kmm-ci", "--set", f"kmm.source_repo={cred}"], "fail"))
    add(Case("kmm source_repo creds all-files", ["preview", "--all-files", "--preset", "kmm-ci", "--set",
                                                 f"kmm.source_repo={cred}"], "fail"))
    add(Case("kmm source_repo creds generate", ["generate", "--preset", "kmm-ci", "--set", f"kmm.source_repo={cred}",
                                                "-o", (o := out())], "fail", out=o))
    add(Case("kmm yum_repo creds", ["preview", "--preset", "kmm-ci", "--set", "entitlement.source=yum-repo",
                                    "--set", f"entitlement.yum_repo=https://u:{SECRET}@repo.example.com/el9/"], "fail"))
    add(Case("kvc yum_repo creds", ["preview", *kvc, "--set", "entitlement.source=yum-repo",
                                    "--set", f"entitlement.yum_repo=https://u:{SECRET}@repo.example.com/el9/"], "any"))
    add(Case("kvc module_repo creds", ["preview", "--set", f"kvc.module_repo={cred}"], "fail"))
    add(Case("kvc framework_repo creds", ["preview", "--set", f"kvc.framework_repo={cred}"], "fail"))
    add(Case("kmm source_repo creds bad value", ["preview", "--preset", "kmm-ci", "--set",
                                                 f"kmm.source_repo=https://u:{SECRET}@h/ x"], "fail"))
    add(Case("kmm creds in container image", ["preview", "--preset", "kmm-ci", "--set",
                                              f"kmm.container_image=u:{SECRET}@quay.io/x:y z"], "fail"))
    add(Case("kmm creds in build arg", ["preview", "--preset", "kmm-ci", "--set",
                                        f"kmm.build_args=[{{name: URL, value: '{cred}'}}]"], "any"))

    # 5. answers mean what was written
    def answers(name: str, text: str, expect: str = "fail", method: str = "kmm") -> None:
        path = put(f"ans-{name}.yaml", text)
        add(Case(f"answers: {name}", ["preview", "--answers", path], expect))

    answers("octal version", "format_version: 1\nmethod: kmm\nkmm: {version: 0123456}\n")
    answers("hex ref", "format_version: 1\nmethod: kmm\nkmm: {source_ref: 0x1f}\n")
    answers("sexagesimal", "format_version: 1\nmethod: kmm\nkmm: {version: 1:20}\n")
    answers("format_version true", "format_version: true\nmethod: kmm\n")
    answers("format_version 1.0", "format_version: 1.0\nmethod: kmm\n")
    answers("duplicate keys", "format_version: 1\nmethod: kmm\nmethod: kvc\n")
    answers("duplicate nested", "format_version: 1\nmethod: kmm\nkmm: {name: a}\nkmm: {namespace: b}\n")
    answers("empty namespace", "format_version: 1\nmethod: kmm\nkmm: {namespace: ''}\n")
    for scalar in ("0x_", "2001-13-45", "!!int x", "!!bool x"):  # PyYAML's constructors fail on these
        answers(f"not a number or date {scalar}", f"format_version: 1\nmethod: kmm\nkmm: {{name: {scalar}}}\n")
        bad = put(f"mod-{len(cases)}.yaml", f"kind: Module\nmetadata: {{name: {scalar}}}\n")
        add(Case(f"validate: not a number or date {scalar}", ["validate", bad], "fail"))
    answers("empty name", "format_version: 1\nmethod: kmm\nkmm: {name: ''}\n")
    answers("huge int", "format_version: 1\nmethod: kmm\nkmm: {image_rebuild_trigger_generation: 99999999999999999999}\n")
    answers("negative int", "format_version: 1\nmethod: kmm\nkmm: {image_rebuild_trigger_generation: -1}\n")
    answers("newline in name", "format_version: 1\nmethod: kmm\nkmm: {version: \"1\\n2\"}\n")
    answers("newline in image", "format_version: 1\nmethod: kmm\nkmm: {container_image: \"quay.io/a\\nb:c\"}\n")
    answers("bad label key", "format_version: 1\nmethod: kmm\nkmm: {node_selector: {'bad key!': x}}\n")
    answers("bad label value", "format_version: 1\nmethod: kmm\nkmm: {node_selector: {a: 'no spaces'}}\n")
    answers("bad acm label", "format_version: 1\nmethod: kmm\nkmm: {acm_hub: true, acm_cluster_selector: {'/x': y}}\n")
    answers("long module name", f"format_version: 1\nmethod: kmm\nkmm: {{module_name: {'a' * 56}, name: a}}\n")
    answers("dotdot subdir", "format_version: 1\nmethod: kmm\nkmm: {source_subdir: ../../etc}\n")
    answers("dotdot dir_name", "format_version: 1\nmethod: kmm\nkmm: {dir_name: /opt/../etc}\n")
    answers("dotdot firmware", "format_version: 1\nmethod: kmm\nkmm: {firmware_path: /firmware, firmware_files: [../../x]}\n")
    answers("http source repo", "format_version: 1\nmethod: kmm\nkmm: {source_repo: 'http://example.com/x.git'}\n")
    answers("build_file outside", f"format_version: 1\nkvc: {{fakeroot: {fakeroot}, build_file: ../../etc/passwd}}\n")
    answers("build_file absolute climbing", f"format_version: 1\nkvc: {{fakeroot: {fakeroot}, "
                                            "build_file: /etc/kvc/../../etc/passwd}\n")
    answers("ignition version 3", "format_version: 1\nmethod: kmm\nkmm: {kernel_mappings: [{regexp: 1}]}\n")
    answers("string for bool", "format_version: 1\nmethod: kmm\nkmm: {acm_hub: 'yes please'}\n")
    answers("list for str", "format_version: 1\nmethod: kmm\nkmm: {name: [a, b]}\n")
    answers("mapping for section", "format_version: 1\nmethod: kmm\nkmm: [a]\n")
    answers("not a mapping", "- a\n- b\n")
    answers("binary", "\x00\x01\x02")
    answers("tab indent", "format_version: 1\nkmm:\n\tname: a\n")
    answers("NUL in value", "format_version: 1\nmethod: kmm\nkmm: {version: \"a\\0b\"}\n")
    answers("escape in value", "format_version: 1\nmethod: kmm\nkmm: {version: \"\\e[31mred\"}\n")
    add(Case("--set empty namespace", ["preview", "--preset", "kmm-ci", "--set", "kmm.namespace="], "fail"))
    add(Case("--set empty name", ["preview", "--preset", "kmm-ci", "--set", "kmm.name="], "fail"))
    add(Case("--set huge int", ["preview", "--preset", "kmm-ci", "--set",
                                "kmm.image_rebuild_trigger_generation=" + "9" * 5000], "fail"))
    add(Case("--set unknown", ["preview", "--set", "nope=1"], "fail"))
    add(Case("--set no equals", ["preview", "--set", "nope"], "fail"))
    add(Case("--set escape key", ["preview", "--set", "\x1b[31mkey=1"], "fail"))

    # 6. inputs are regular files of sane size
    big = put("big.yaml", "format_version: 1\n" + "# padding\n" * 2_000_000)
    for label, path in (("FIFO", fifo), ("/dev/zero", "/dev/zero"), ("/dev/urandom", "/dev/urandom"),
                        ("/proc/self/environ", "/proc/self/environ"), ("directory", str(fix)), ("big", big),
                        ("/proc/self/mem", "/proc/self/mem"), ("missing", str(fix / "missing"))):
        add(Case(f"answers {label}", ["preview", "--answers", path], "fail"))
        add(Case(f"validate {label}", ["validate", path], "fail"))
        add(Case(f"dockerfile {label}", ["preview", "--preset", "kmm-ci", "--set", "kmm.build=dockerfile",
                                         "--set", f"kmm.dockerfile={path}"], "fail"))
    add(Case("validate from /dev/zero stdin", ["validate", "-"], "fail", stdin=b"\0" * 1000))
    for label, make in (("FIFO", lambda p: os.mkfifo(p)), ("directory", lambda p: os.mkdir(p)),
                        ("link to /dev/zero", lambda p: os.symlink("/dev/zero", p)),
                        ("binary", lambda p: Path(p).write_bytes(b"\xff\xfe\0")),
                        ("escape name", None)):
        cfg = tmp / f"cfg6-{label.replace('/', '_').replace(' ', '_')}"
        presets = cfg / "kmwizard" / "presets"
        presets.mkdir(parents=True)
        if make is None:
            (presets / "\x1b[2J\x1b[31mevil.yaml").write_text("format_version: 1\ndescription: \"\\e[31mred\"\n")
        else:
            make(str(presets / "bad.yaml"))
        env = {"XDG_CONFIG_HOME": str(cfg)}
        add(Case(f"presets list with {label} preset", ["presets", "list"], "ok", env=env))
        add(Case(f"unknown preset with {label} preset", ["preview", "--preset", "nope"], "fail", env=env))
        add(Case(f"preset {label}", ["preview", "--preset", "bad"], "fail", env=env))
    gz = base64.b64encode(gzip.compress(b"\0" * (200 << 20))).decode()
    mc = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
          "metadata": {"name": "99-worker-x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
          "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [
              {"path": "/etc/x", "mode": 420, "contents": {"source": "data:;base64," + gz, "compression": "gzip"}}]}}}}
    add(Case("validate gzip bomb", ["validate", put("gzbomb.json", json.dumps(mc))], "any"))
    add(Case("fakeroot /proc/self/cwd", ["preview", "--set", "kvc.fakeroot=/proc/self/cwd"], "fail"))
    add(Case("fakeroot /proc/1/root", ["preview", "--set", "kvc.fakeroot=/proc/1/root"], "fail"))
    add(Case("fakeroot /dev", ["preview", "--set", "kvc.fakeroot=/dev"], "fail"))
    fan = fix / "fan"
    (fan / "d").mkdir(parents=True)
    (fan / "d" / "f").write_bytes(b"x" * 100)
    for level in range(6):
        sub = fan / f"l{level}"
        sub.mkdir()
        for i in range(10):
            os.symlink(f"../l{level - 1}" if level else "../d", sub / f"x{i}")
    add(Case("fakeroot link fan-out", ["preview", "--set", f"kvc.fakeroot={fan}"], "fail"))
    magic = fix / "magic"
    (magic / "etc").mkdir(parents=True)
    os.symlink("/proc/self/cwd", magic / "etc" / "cwd")
    add(Case("fakeroot magic link", ["preview", "--set", f"kvc.fakeroot={magic}"], "fail"))
    nl = fix / "nlroot"
    shutil_copy(fakeroot, nl)
    (nl / "etc" / "evil\nname").write_text("x")
    add(Case("fakeroot newline name", ["generate", "--set", f"kvc.fakeroot={nl}", "-o", (o := out())], "any", out=o))
    esc = fix / "escroot"
    shutil_copy(fakeroot, esc)
    (esc / "etc" / "\x1b[31mred").write_text("x")
    add(Case("fakeroot escape name", ["preview", "--set", f"kvc.fakeroot={esc}"], "any"))

    # 7. closed or full stdout
    for argv in (["preview", "--preset", "kmm-ci"], ["presets", "list"], ["keys"], ["presets", "show", "kmm-ci"],
                 ["generate", "--preset", "kmm-ci", "-o", "OUT"], ["validate", put("ok.yaml", "a: 1\n")],
                 ["kernel-match", "--preset", "kmm-ci", "--kernel", "5.14.0-1.el9.x86_64"], ["--help"]):
        o = out()
        real = [o if a == "OUT" else a for a in argv]
        writes_stdout = argv[0] != "validate"  # validate reports on stderr only
        add(Case(f"{argv[0]} > /dev/full", real, "fail" if writes_stdout else "any", stdout_to="/dev/full"))
        add(Case(f"{argv[0]} | closed pipe", real, "any", stdout_to="CLOSED"))

    # import and migrate read manifests and write answers: the same inputs as validate
    for command in ("import", "migrate"):
        for label, path in (("bomb", bomb_mc), ("deep", deep_json), ("FIFO", fifo), ("/dev/zero", "/dev/zero"),
                            ("selfref", selfref)):
            add(Case(f"{command} {label}", [command, path, "-o", (o := out())], "fail", out=o))

    # cluster commands: kubeconfigs the client's loader would block on or expand without limit
    kbomb = put("kubeconfig-bomb", billion_laughs(top="x").replace("format_version: 1\n", "").replace("x: *a8",
                                                                                                "contexts: *a8"))
    ktoken = put("kubeconfig-token", f"users: [{{name: u, user: {{token: {SECRET}}}}}]\ncontexts: [{{context: 5}}]\n")
    for command in ("apply", "diff", "status", "verify", "delete"):
        for label, path in (("bomb", kbomb), ("FIFO", fifo), ("/dev/zero", "/dev/zero"),
                            ("/proc/self/environ", "/proc/self/environ"), ("token", ktoken)):
            add(Case(f"{command} kubeconfig {label}", [command, "--preset", "kmm-ci", "--kubeconfig", path], "fail"))
        add(Case(f"{command} KUBECONFIG bomb", [command, "--preset", "kmm-ci"], "fail",
                 env={"KUBECONFIG": kbomb}))

    # 9. messages
    add(Case("validate ignition version 3", ["validate", put("ign3.yaml", "ignition: {version: 3}\n")], "fail"))
    add(Case("validate A B C with unreadable B", ["validate", put("a.yaml", "a: 1\n"), fifo, put("c.yaml", "- x\n")],
             "fail"))
    add(Case("validate missing among others", ["validate", put("a2.yaml", "a: 1\n"), str(fix / "nope"),
                                               put("c2.yaml", "- x\n")], "fail"))
    return cases


def shutil_copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, symlinks=True)


@dataclass
class Result:
    case: Case
    code: int | None
    stdout: str
    stderr: str
    problems: list[str]


def run_case(case: Case, tmp: Path, timeout: float) -> Result:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg-default"), "PYTHONPATH": str(CODE), **case.env}
    cmd = [sys.executable, "-m", "kmwizard", *case.argv]
    stdout = subprocess.PIPE
    closed_r = None
    if case.stdout_to == "/dev/full":
        stdout = open("/dev/full", "wb")
    elif case.stdout_to == "CLOSED":
        closed_r, stdout = os.pipe()
    problems = []
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.PIPE, env=env,
                                cwd=tmp, start_new_session=True)
        if closed_r is not None:
            os.close(stdout)
            os.read(closed_r, 1)
            os.close(closed_r)
        try:
            out, err = proc.communicate(case.stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            problems.append("hang")
        code = None if "hang" in problems else proc.returncode
    finally:
        if hasattr(stdout, "close"):
            stdout.close()
    out = (out or b"").decode("utf-8", "replace")
    err = (err or b"").decode("utf-8", "replace")
    if "Traceback (most recent call last)" in err or (code is not None and code not in DOCUMENTED_EXITS):
        problems.append("traceback")
    if SECRET in out + err or KEY_MARKER in out + err or "root:" in out + err and "shadow" in case.name:
        problems.append("leak")
    if case.out and code not in (0, None) and os.path.exists(case.out):
        problems.append("partial")  # it did not exist before the run: a failed run leaves nothing
    if case.expect == "fail" and code == 0:
        problems.append("accepted")
    if case.expect == "ok" and code not in (0, None):
        problems.append("refused")
    if "\x1b" in out + err:
        problems.append("escape")
    return Result(case, code, out, err, problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", action="store_true")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kmw-hostile-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            cases = [c for c in build_cases(tmp) if args.k in c.name]
            with ThreadPoolExecutor(args.jobs) as pool:
                results = list(pool.map(lambda c: run_case(c, tmp, args.timeout), cases))
        finally:
            subprocess.run(["umount", str(tmp / "small")], capture_output=True)
    counts: dict[str, int] = {}
    for r in results:
        for p in r.problems:
            counts[p] = counts.get(p, 0) + 1
        if r.problems or args.v:
            last = (r.stderr.strip().splitlines() or [""])[-1][:150]
            print(f"{r.case.name:45} exit={r.code} {','.join(r.problems) or 'ok':20} {last!r}")
    bad = sum(1 for r in results if r.problems)
    print(f"\n{len(results)} cases, {bad} with a problem: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
