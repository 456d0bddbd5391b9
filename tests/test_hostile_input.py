"""Hostile and odd input (issue 8), one test per item: no hang, no traceback, no credential shown, and
answers that mean what was written.  Commands run in-process through cli.main (fast); stdout tests that
need a real file descriptor (/dev/full, a closed pipe) run a subprocess."""
from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from kmwizard import safe_yaml
from kmwizard.answers import Answers
from kmwizard.cli import main
from kmwizard.findings import Severity
from kmwizard.redact import mask_credentials, printable
from kmwizard.render import dump_yaml, render
from kvc_trees import build_kvc_tree

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3tPW"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and code in (0, 1, 2, 3, 130), (code, err)
    return code, out, err


def billion_laughs(top: str) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + f"\n{top}\n"


@pytest.fixture
def user_presets(tmp_path, monkeypatch):
    folder = tmp_path / "config" / "kmwizard" / "presets"
    folder.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return folder


# --- 1. aliases and nesting ------------------------------------------------------------

@pytest.mark.parametrize("text,words", [
    (billion_laughs("kmm: *a8"), "alias"),                         # billion laughs
    ("format_version: 1\nkmm: &a {node_selector: *a}\n", "alias"),   # refers to itself
    ("[" * 5000 + "]" * 5000, "nested more than 100"),
    ("a: " + "{a: " * 3000 + "1" + "}" * 3000, "nested more than 100"),
], ids=["billion-laughs", "self-reference", "deep-lists", "deep-mappings"])
def test_aliases_and_deep_nesting_in_answers_presets_and_set(tmp_path, capsys, user_presets, text, words):
    answers = tmp_path / "answers.yaml"
    answers.write_text(text)
    code, _, err = run(capsys, "preview", "--answers", str(answers))
    assert code == 2 and str(answers) in err and words in err
    (user_presets / "evil.yaml").write_text(text)
    code, _, err = run(capsys, "preview", "--preset", "evil")
    assert code == 2 and "evil.yaml" in err and words in err and "--answers" not in err
    code, out, _ = run(capsys, "presets", "list")
    assert code == 0 and "evil" in out and "broken" in out  # one bad preset does not break the list


@pytest.mark.parametrize("value", ["&a [x, *a]", "[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], *b]",
                                   "[" * 3000 + "]" * 3000], ids=["self-reference", "aliases", "deep"])
def test_aliases_and_nesting_in_set_values(capsys, value):
    code, _, err = run(capsys, "preview", "--set", "method=kmm", "--set", f"kmm.kernel_mappings={value}")
    assert code == 2 and "kmm.kernel_mappings" in err


@pytest.mark.parametrize("text,words", [
    (billion_laughs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: *a8}"), "alias bomb"),
    ("kind: Module\nspec: &s {x: *s}\n", "contains it"),
    ("[" * 5000 + "]" * 5000, "nested more than 100"),
    ("[" * 200000 + "]" * 200000 + "\n", "nested more than 100"),  # YAML that looks like JSON
    ('{"a":' * 100000 + "1" + "}" * 100000, "nested more than 100"),  # JSON
    ('{"a":' * 101 + "1" + "}" * 101, "nested more than 100"),       # under Python's limit, over ours
    ("a: 1\nb: 2\na: 3\n", "twice"),
], ids=["billion-laughs", "self-reference", "deep-yaml", "deep-flow-yaml", "deep-json", "json-101", "duplicate"])
def test_validated_files_bound_aliases_and_nesting(tmp_path, capsys, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and str(path) in err and words in err


# Scalars PyYAML's resolver takes for a number, date or tagged value but its constructors then fail on
# (yaml/constructor.py SafeConstructor.construct_yaml_int / construct_yaml_timestamp / construct_yaml_bool
# raise ValueError, KeyError or AttributeError, not a YAMLError): found by hand, each once a traceback.
NOT_WHAT_THEY_LOOK_LIKE = ["0x_", "-0b_", "2001-13-45", "2001-02-30", "2001-12-14t21:59:43.10-25:00",
                           "!!int x", "!!float x", "!!bool x", "!!timestamp x"]


@pytest.mark.parametrize("scalar", NOT_WHAT_THEY_LOOK_LIKE)
def test_scalars_that_look_like_numbers_or_dates_but_are_not_are_errors_at_their_line(tmp_path, capsys, scalar):
    path = tmp_path / "module.yaml"
    path.write_text(f"apiVersion: kmm.sigs.x-k8s.io/v1beta1\nkind: Module\nmetadata:\n  name: {scalar}\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and str(path) in err and "line 4" in err and "quote it" in err
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"format_version: 1\nmethod: kmm\nkmm.name: {scalar}\n")
    code, _, err = run(capsys, "preview", "--answers", str(answers))
    assert code == 2 and str(answers) in err and "line 3" in err and "quote it" in err
    code, _, err = run(capsys, "preview", "--set", "method=kmm", "--set", f"kmm.build_args=[{{name: a, value: {scalar}}}]")
    assert code == 2 and "kmm.build_args" in err and "Traceback" not in err


def test_the_error_says_why_a_date_is_not_one():
    with pytest.raises(yaml.YAMLError, match=r"'2001-13-45' is not a valid timestamp \(month must be in 1..12\)"):
        safe_yaml.load_manifests("a: 2001-13-45\n", "x.yaml")


def test_anchors_within_the_budget_still_read():
    """Kubernetes files may use anchors for repeated tolerations: allowed while they add little."""
    docs = safe_yaml.load_manifests("a: &t [{key: x}]\nb: *t\nc: {<<: {d: 1}, e: 2}\n")
    assert docs == [{"a": [{"key": "x"}], "b": [{"key": "x"}], "c": {"d": 1, "e": 2}}]


# --- 3. keys are keys -------------------------------------------------------------------

def _pair(folder: Path, name: str, *, days: int = 200, der: bool = False) -> tuple[Path, Path]:
    """A key pair made by openssl (an independent producer of PEM and DER)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl makes the test key pairs")
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=kmwizard-test", "-newkey", "rsa:2048",
                    "-keyout", str(key), "-out", str(cert), "-days", str(days),
                    *(["-outform", "DER"] if der else [])], check=True, capture_output=True)
    if der:
        der_key = folder / f"{name}.key.der"
        subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", str(key), "-outform", "DER",
                        "-out", str(der_key)], check=True, capture_output=True)
        key = der_key
    return key, cert


def _sign(key, cert) -> list:
    answers = Answers({"method": "kmm", "kmm.sign.enabled": True, "kmm.sign.key_file": str(key),
                       "kmm.sign.cert_file": str(cert)})
    return list(render(answers).findings)


def test_signing_files_must_be_a_private_key_and_a_certificate_that_pair(tmp_path):
    key, cert = _pair(tmp_path, "good")
    der_key, der_cert = _pair(tmp_path, "der", der=True)
    other_key, _ = _pair(tmp_path, "other")
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$KEYMATERIALXYZ:19000:0:99999:7:::\n")  # the /etc/shadow of the issue
    garbage = tmp_path / "garbage.der"
    garbage.write_bytes(b"\x30\x82\x01\x00" + os.urandom(64))
    os.mkfifo(tmp_path / "fifo")
    for good in ((key, cert), (der_key, der_cert)):
        assert not [f for f in _sign(*good) if f.severity is Severity.ERROR], good
    for bad_key, bad_cert, code in ((shadow, cert, "kmm-sign-file"), (key, shadow, "kmm-sign-file"),
                                    (garbage, cert, "kmm-sign-file"), (key, garbage, "kmm-sign-file"),
                                    (cert, key, "kmm-sign-file"), (other_key, cert, "kmm-sign-pair"),
                                    (tmp_path / "fifo", cert, "kmm-sign-file"), ("/dev/zero", cert, "kmm-sign-file"),
                                    ("/proc/self/environ", cert, "kmm-sign-file"), (key, "/dev/urandom", "kmm-sign-file")):
        findings = _sign(bad_key, bad_cert)
        assert code in {f.code for f in findings if f.severity is Severity.ERROR}, (bad_key, bad_cert)
        assert not any("KEYMATERIALXYZ" in f.format() for f in findings)


def test_expired_and_expiring_signing_certificates_warn(tmp_path):
    """Built with cryptography (a test dependency) because openssl req cannot date a certificate in the past."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    now = datetime.now(timezone.utc)
    for name, end, code in (("expired", now - timedelta(days=1), "kmm-sign-expired"),
                            ("soon", now + timedelta(days=10), "kmm-sign-expiring")):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kmwizard-test")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(1).not_valid_before(now - timedelta(days=400)).not_valid_after(end)
                .sign(key, hashes.SHA256()))
        (tmp_path / f"{name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
        findings = _sign(tmp_path / "k.pem", tmp_path / f"{name}.der")
        assert code in {f.code for f in findings if f.severity is Severity.WARNING}
        assert not [f for f in findings if f.severity is Severity.ERROR]


def test_entitlement_certificates_are_never_read_from_fifos(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    os.mkfifo(certs / "12.pem")
    os.mkfifo(certs / "12-key.pem")
    for method in ("kmm", "kvc"):
        extra = {"kvc.fakeroot": str(build_kvc_tree(tmp_path, f"root-{method}")[0])} if method == "kvc" else {}
        findings = render(Answers({"method": method, "entitlement.source": "certs",
                                   "entitlement.certs_dir": str(certs), **extra})).findings
        assert any(f.severity is Severity.ERROR and f.where == "entitlement.certs_dir" for f in findings)


# --- 4. credentials in URLs ----------------------------------------------------------------

@pytest.mark.parametrize("key,value", [
    ("kmm.source_repo", f"https://user:{PASSWORD}@git.example.com/org/repo.git"),
    ("entitlement.yum_repo", f"https://{PASSWORD}@repo.example.com/el9/"),
    ("kmm.build_args", f"[{{name: URL, value: 'https://u:{PASSWORD}@h.example.com/x'}}]"),
])
def test_credentials_in_urls_are_an_error_and_never_shown(capsys, tmp_path, key, value):
    extra = ["--set", "entitlement.source=yum-repo"] if key == "entitlement.yum_repo" else []
    for command in (["preview"], ["preview", "--all-files"], ["generate", "-o", str(tmp_path / "out")]):
        code, out, err = run(capsys, *command, "--preset", "kmm-ci", *extra, "--set", f"{key}={value}")
        assert code == 1 and f"{key}: the URL carries a user name and password" in err
        assert "build secret" in err and PASSWORD not in out + err
    assert not (tmp_path / "out").exists()


def test_credentials_in_a_users_dockerfile(tmp_path, capsys):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM ubi9\nRUN git clone https://u:{PASSWORD}@example.com/x.git\n")
    code, out, err = run(capsys, "preview", "--preset", "kmm-ci", "--set", "kmm.build=dockerfile",
                         "--set", f"kmm.dockerfile={dockerfile}")
    assert code == 1 and "kmm.dockerfile" in err and "build secret" in err and PASSWORD not in out + err


def test_findings_and_errors_mask_credentials_and_escapes_whatever_quotes_them():
    from kmwizard.findings import UsageError, error

    finding = error(f"x\x1b[2J", f"'https://u:{PASSWORD}@h/ x' is bad", f"not https://{PASSWORD}@h")
    assert PASSWORD not in finding.format() and "\x1b" not in finding.format()
    exc = UsageError(f"cannot clone https://u:{PASSWORD}@h/r.git", "")
    assert PASSWORD not in str(exc)


def test_masking_keeps_image_digests_and_ssh_comments():
    assert mask_credentials(f"https://user:{PASSWORD}@h/x and git://{PASSWORD}@h/y") == \
        "https://user:***@h/x and git://***@h/y"
    assert mask_credentials(f"clone u:{PASSWORD}@example.com/r") == "clone u:***@example.com/r"
    for kept in ("quay.io/org/img:v1@sha256:" + "a" * 64, "ssh-ed25519 AAAA user@host", "git@github.com:o/r.git"):
        assert mask_credentials(kept) == kept


def test_local_repository_urls_with_credentials_are_masked_not_refused(capsys):
    """kvc.module_repo is cloned here, never written into a manifest: allowed, but never shown."""
    code, out, err = run(capsys, "preview", "--set", f"kvc.module_repo=https://u:{PASSWORD}@127.0.0.1:1/x.git")
    assert "answer-url-credentials" not in err and PASSWORD not in out + err


# --- 5. answers mean what was written ----------------------------------------------------

@pytest.mark.parametrize("body,key,words", [
    ("kmm: {version: 0123456}", "kmm.version", "'0123456'"),       # YAML 1.1 octal: 42798
    ("kmm: {source_ref: 0x1f}", "kmm.source_ref", "'0x1f'"),       # hex: 31
    ("kmm: {version: 1:20}", "kmm.version", "'1:20'"),              # sexagesimal: 80
    ("kmm: {version: 1.10}", "kmm.version", "'1.10'"),              # float: 1.1
    ("kmm: {source_ref: yes}", "kmm.source_ref", "quotes"),
    ("kmm: {namespace: ''}", "kmm.namespace", "cannot be empty"),
    ("kmm: {name: ''}", "kmm.name", "cannot be empty"),
    ("kmm: {image_rebuild_trigger_generation: 9223372036854775808}", "kmm.image_rebuild_trigger_generation",
     "64-bit"),
    ('kmm: {version: "1\\n2"}', "kmm.version", "line break"),
    ('kmm: {container_image: "quay.io/a\\u001b[2J:b"}', "kmm.container_image", "control character"),
    ("kmm: {node_selector: {'bad key!': x}}", "kmm.node_selector", "label key"),
    ("kmm: {node_selector: {a: 'two words'}}", "kmm.node_selector", "label values"),
    ("kmm: {node_selector: {a: true}}", "kmm.node_selector", "strings"),
    ("kmm: {acm_hub: true, acm_cluster_selector: {'/x': y}}", "kmm.acm_cluster_selector", "prefix"),
    (f"kmm: {{module_name: {'a' * 56}, name: a}}", "kmm.module_name", "at most 55"),
    ("kmm: {in_tree_modules_to_remove: [" + "b" * 56 + "]}", "kmm.in_tree_modules_to_remove", "55"),
    ("kmm: {source_subdir: ../../etc}", "kmm.source_subdir", "leaves the repository"),
    ("kmm: {dir_name: /opt/../etc}", "kmm.dir_name", ".."),
    ("kmm: {firmware_path: /fw, firmware_files: [../../x]}", "kmm.firmware_files", "leaves the repository"),
    ("kmm: {source_repo: 'http://example.com/x.git'}", "kmm.source_repo", "https"),
    ("kmm: {source_repo: 'git@github.com:o/r.git'}", "kmm.source_repo", "https"),
])
def test_answers_mean_what_was_written(tmp_path, capsys, body, key, words):
    path = tmp_path / "a.yaml"
    path.write_text(f"format_version: 1\nmethod: kmm\n{body}\n")
    code, out, err = run(capsys, "preview", "--answers", str(path))
    assert code in (1, 2) and f"{key}:" in err and words in err, err
    assert "FrozenMap" not in err and "\x1b" not in err


@pytest.mark.parametrize("body,words", [
    ("format_version: true", "format_version True"),
    ("format_version: 1.0", "format_version 1.0"),
    ("format_version: 1\nmethod: kmm\nmethod: kvc", "found the key 'method' twice"),
    ("format_version: 1\nkmm: {name: a}\nkmm: {namespace: b}", "found the key 'kmm' twice"),
])
def test_format_version_is_the_integer_1_and_keys_come_once(tmp_path, capsys, body, words):
    path = tmp_path / "a.yaml"
    path.write_text(body + "\n")
    code, _, err = run(capsys, "preview", "--answers", str(path))
    assert code == 2 and words in err


def test_unquoted_numbers_that_mean_what_they_say_stay_accepted():
    """version: 2 is the string "2" (nothing lost); a --set value is text already."""
    doc = safe_yaml.load_answers("kmm: {version: 2}")
    assert Answers.from_document({"method": "kmm", **doc}).get("kmm.version") == "2"
    assert Answers().set("kmm.version", "0123456").get("kmm.version") == "0123456"


def test_kvc_build_file_stays_in_the_module_repository(tmp_path, capsys):
    for value in ("../../etc/passwd", "/etc/kvc/../../etc/passwd", "a/../../b"):
        code, _, err = run(capsys, "preview", "--set", f"kvc.build_file={value}")
        assert code == 1 and "kvc.build_file" in err and "leaves the repository" in err


def test_set_with_thousands_of_digits(capsys):
    code, _, err = run(capsys, "preview", "--preset", "kmm-ci", "--set",
                       "kmm.image_rebuild_trigger_generation=" + "9" * 5000)
    assert code == 2 and "64-bit" in err and len(err) < 2000


# --- 6. inputs are regular files of sane size -------------------------------------------

@pytest.fixture
def odd_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"format_version: 1\n" + b"#" * (17 << 20))
    return {"fifo": tmp_path / "fifo", "/dev/zero": "/dev/zero", "/proc": "/proc/self/environ",
            "directory": tmp_path, "too big": big}


def test_answers_validate_and_dockerfiles_refuse_fifos_devices_proc_and_huge_files(capsys, odd_files):
    for label, path in odd_files.items():
        code, _, err = run(capsys, "preview", "--answers", str(path))
        assert code == 2 and str(path) in err, label
        code, _, err = run(capsys, "validate", str(path))
        assert code == 2 and str(path) in err, label
        code, _, err = run(capsys, "preview", "--preset", "kmm-ci", "--set", "kmm.build=dockerfile",
                           "--set", f"kmm.dockerfile={path}")
        assert code == 1 and "kmm.dockerfile" in err, label


def test_stdin_is_capped(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("a" * (17 << 20)))
    code, _, err = run(capsys, "validate", "-")
    assert code == 2 and "standard input" in err


@pytest.mark.parametrize("kind", ["fifo", "directory", "link to /dev/zero", "binary", "escape name"])
def test_one_bad_preset_breaks_neither_the_list_nor_the_hint(capsys, user_presets, kind):
    name = "\x1b[2J\x1b[31mevil.yaml" if kind == "escape name" else "bad.yaml"
    path = user_presets / name
    {"fifo": lambda: os.mkfifo(path), "directory": lambda: path.mkdir(),
     "link to /dev/zero": lambda: path.symlink_to("/dev/zero"),
     "binary": lambda: path.write_bytes(b"\xff\xfe\0"),
     "escape name": lambda: path.write_text('format_version: 1\ndescription: "\\e]0;pwned\\a"\n')}[kind]()
    code, out, _ = run(capsys, "presets", "list")
    assert code == 0 and "kmm-ci" in out and "\x1b" not in out and "\x07" not in out
    code, _, err = run(capsys, "preview", "--preset", "nope")
    assert code == 2 and "kmm-ci" in err and "\x1b" not in err
    if kind != "escape name":
        code, _, err = run(capsys, "preview", "--preset", "bad")
        assert code == 2 and "bad.yaml" in err and "--answers" not in err


def test_gzip_contents_are_inflated_with_a_cap(tmp_path, capsys):
    bomb = base64.b64encode(gzip.compress(b"\0" * (80 << 20))).decode()  # 80 KiB that inflate to 80 MiB
    mc = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
          "metadata": {"name": "99-worker-x", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
          "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [
              {"path": "/etc/x", "mode": 420, "contents": {"source": "data:;base64," + bomb,
                                                           "compression": "gzip"}}]}}}}
    path = tmp_path / "mc.json"
    path.write_text(json.dumps(mc))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "inflates to more than 64 MiB" in err


def test_fakeroot_walk_refuses_proc_and_caps_link_fan_out(tmp_path, capsys):
    for root in ("/proc/self/cwd", "/proc/1/root", "/sys"):
        code, _, err = run(capsys, "preview", "--set", f"kvc.fakeroot={root}")
        assert code == 1 and "/proc" in err or "/sys" in err
    fan = tmp_path / "fan"
    (fan / "d").mkdir(parents=True)
    (fan / "d" / "f").write_bytes(b"x")
    for level in range(6):  # ten links per level to the level below: 10^6 paths to one file
        (fan / f"l{level}").mkdir()
        for i in range(10):
            (fan / f"l{level}" / f"x{i}").symlink_to(f"../l{level - 1}" if level else "../d")
    code, _, err = run(capsys, "preview", "--set", f"kvc.fakeroot={fan}")
    assert code == 1 and "kvc-fakeroot-too-big" not in err and "more than 20000 files" in err


def test_hostile_kubeconfigs_are_refused_before_the_client_reads_them(tmp_path, capsys):
    """The kubernetes client's loader blocks on a FIFO and expands aliases without limit."""
    bomb = tmp_path / "bomb"
    bomb.write_text(billion_laughs("contexts: *a8"))
    os.mkfifo(tmp_path / "fifo")
    token = tmp_path / "token"
    token.write_text(f"users: [{{name: u, user: {{token: {PASSWORD}}}}}]\ncontexts: [{{context: 5}}]\n")
    for path, words in ((bomb, "alias bomb"), ("/proc/self/environ", "/proc"), (tmp_path / "fifo", ""),
                        (token, "")):
        code, out, err = run(capsys, "diff", "--preset", "kmm-ci", "--kubeconfig", str(path))
        assert code == 2 and str(path) in err and words in err and PASSWORD not in out + err


def test_a_bad_answer_for_a_cluster_command_is_a_usage_error(capsys):
    """Found by the property suite: diff re-raised AnswersError with (message, fix), which it does not take."""
    code, _, err = run(capsys, "diff", "--set", "day={}", "--kubeconfig", "/nonexistent")
    assert code == 2 and "day: must be a whole number" in err


def test_the_wizard_reads_key_maps_dockerfiles_and_kubeconfigs_without_hanging(tmp_path):
    """The TUI reads a key map, the Dockerfile it shows and the kubeconfig contexts it offers: a FIFO, an
    alias bomb or a list instead of a mapping is skipped or named, never a hang or a traceback."""
    from kmwizard.screens.app import dockerfile_view
    from kmwizard.screens.apply import kubeconfig_contexts

    os.mkfifo(tmp_path / "fifo")
    bomb = tmp_path / "bomb"
    bomb.write_text(billion_laughs("contexts: *a8"))
    (tmp_path / "list").write_text("- a\n")
    assert kubeconfig_contexts(f"{tmp_path / 'fifo'}:{bomb}:{tmp_path / 'list'}:/dev/zero") == ([], "", {})
    text, _, _, note = dockerfile_view(Answers({"method": "kmm", "kmm.build": "dockerfile",
                                                "kmm.dockerfile": str(tmp_path / "fifo")}), None)
    assert text == "" and "named pipe" in note


# --- 7. a closed or full stdout ------------------------------------------------------------

def _cli(*argv, **kwargs):
    return subprocess.run([sys.executable, "-m", "kmwizard", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, **kwargs)


@pytest.mark.parametrize("argv", [["preview", "--preset", "kmm-ci"], ["presets", "list"], ["keys"]])
def test_a_full_stdout_is_an_error_not_a_traceback(argv):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "kmwizard", *argv], stdout=full, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 2 and "No space left on device" in proc.stderr and "Traceback" not in proc.stderr


def test_a_closed_stdout_is_reported_with_exit_2():
    """`| true` has closed the pipe before kmwizard writes (it starts in ~0.1 s, true in ~1 ms)."""
    proc = subprocess.run(f"{sys.executable} -m kmwizard keys | true; exit ${{PIPESTATUS[0]}}", shell=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
                          executable="/bin/bash")
    assert proc.returncode == 2 and "closed" in proc.stderr and "Traceback" not in proc.stderr


def test_generate_to_a_full_stdout_says_the_files_were_written(tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "kmwizard", "generate", "--preset", "kmm-ci", "-o",
                               str(tmp_path / "out")], stdout=full, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 2 and "all 3 files were written" in proc.stderr
    assert len(list((tmp_path / "out").iterdir())) == 3


# --- 8. output other tools read -----------------------------------------------------------

def test_strings_a_yaml_1_2_reader_takes_for_numbers_are_quoted():
    """YAML 1.2.2 section 10.3.2 (core schema): 1e3 and .5 are floats, 0o17 an int, to a 1.2 reader."""
    for value in ("1e3", "0o17", ".5", "+12", "1E-7", ".inf", "y", "n"):
        text = dump_yaml({"v": value})
        assert text.startswith(("v: '", 'v: "')), text
        assert yaml.safe_load(text) == {"v": value}
    assert dump_yaml({"v": "5.14.0-1.el9.x86_64"}) == "v: 5.14.0-1.el9.x86_64\n"


def test_file_names_with_line_breaks_are_refused(tmp_path, capsys):
    fakeroot, _ = build_kvc_tree(tmp_path)
    (fakeroot / "etc" / "evil\nname").write_text("x")
    (fakeroot / "etc" / "\x1b[31mred").write_text("x")
    code, _, err = run(capsys, "generate", "--set", f"kvc.fakeroot={fakeroot}", "-o", str(tmp_path / "out"))
    assert code == 1 and err.count("kvc-bad-name") == 0 and "line break" in err and "\x1b" not in err
    assert not (tmp_path / "out").exists()


def test_printable_escapes_control_characters_only():
    assert printable("a\tb\nc\x1b[2J\x07\r\x9b") == "a\tb\nc\\x1b[2J\\x07\\x0d\\x9b"


# --- 9. messages name the real culprit ------------------------------------------------------

def test_an_empty_kmm_name_names_kmm_name_only(capsys):
    code, _, err = run(capsys, "preview", "--set", "method=kmm", "--set", "kmm.name=")
    assert code == 1 and "error: kmm.name:" in err and "signing" not in err and "entitlement" not in err


def test_ignition_version_3_is_a_wrong_type(tmp_path, capsys):
    path = tmp_path / "ign.yaml"
    path.write_text("ignition: {version: 3}\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "int 3" in err and "missing" not in err


def test_no_internal_representations_in_messages(capsys):
    code, _, err = run(capsys, "preview", "--set", "method=kmm", "--set",
                       "kmm.kernel_mappings=[{regexp: a, literal: b, build: {x: 1}}]")
    assert code == 1 and "FrozenMap" not in err and "{'regexp': 'a'" in err


def test_one_unreadable_file_does_not_stop_the_others(tmp_path, capsys):
    a, c = tmp_path / "a.yaml", tmp_path / "c.yaml"
    a.write_text("ignition: {version: 3}\n")
    c.write_text("- x\n")
    os.mkfifo(tmp_path / "b")
    code, _, err = run(capsys, "validate", str(a), str(tmp_path / "b"), str(c))
    assert code == 2 and "a.yaml" in err and "named pipe" in err and "c.yaml" in err
    assert "3 file(s) checked" in err
