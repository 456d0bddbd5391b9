"""Entitlement payloads.  Certificates and keys are generated here by the real openssl binary
(never committed), and openssl is also the judge of what kmwizard reads from them."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kmwizard.findings import Severity
from kmwizard import entitlement
from kmwizard.kvc import instance
from kmwizard.entitlement import ENTITLEMENT_DIR
from tests.kvc_fixtures import DOCKERFILE_RHEL, make_fixture_repos

needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl generates the test certificates")

# What an entitlement certificate file carries after the certificate (Candlepin v3 certificates).
ENTITLEMENT_BLOCKS = ("-----BEGIN ENTITLEMENT DATA-----\neJyrVkrLz1eyUkpKLFKqBQAdegQ0\n-----END ENTITLEMENT DATA-----\n"
                      "-----BEGIN RSA SIGNATURE-----\nAAECAwQFBgcICQ==\n-----END RSA SIGNATURE-----\n")


def openssl(*args: str, cwd: Path) -> str:
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """Certificates and keys in a scratch directory: name -> path."""
    if not shutil.which("openssl"):
        pytest.skip("openssl generates the test certificates")
    d = tmp_path_factory.mktemp("pki")
    req = ("req", "-x509", "-nodes", "-subj", "/CN=kmwizard-test")
    openssl(*req, "-newkey", "rsa:2048", "-keyout", "good-key.pem", "-out", "good.pem", "-days", "365", cwd=d)
    openssl(*req, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", "soon-key.pem",
            "-out", "soon.pem", "-days", "10", cwd=d)
    openssl("genrsa", "-traditional", "-out", "trad-key.pem", "2048", cwd=d)
    openssl("req", "-x509", "-new", "-key", "trad-key.pem", "-subj", "/CN=kmwizard-test", "-out", "trad.pem",
            "-days", "400", cwd=d)
    openssl("genrsa", "-traditional", "-aes128", "-passout", "pass:secret", "-out", "enc-trad-key.pem", "2048", cwd=d)
    openssl("genrsa", "-aes128", "-passout", "pass:secret", "-out", "enc-p8-key.pem", "2048", cwd=d)
    with open(d / "good.pem", "a") as cert:
        cert.write(ENTITLEMENT_BLOCKS)
    return {p.stem: p for p in d.iterdir()}


def certs_dir(tmp_path: Path, material, **pairs: tuple[str, str]) -> Path:
    """A directory with <serial>.pem / <serial>-key.pem made from material (None: leave out)."""
    out = tmp_path / "entitlement"
    out.mkdir(exist_ok=True)
    for serial, (cert, key) in pairs.items():
        if cert:
            shutil.copy(material[cert], out / f"{serial}.pem")
        if key:
            shutil.copy(material[key], out / f"{serial}-key.pem")
    return out


def certs(directory: Path, today=None):
    return entitlement.entitlement_files("certs", certs_dir=str(directory), module_name="simple-kmod", today=today)


def key_fragments(material) -> list[str]:
    """Lines of every key's base64 body: none may appear in any text kmwizard shows."""
    lines = []
    for name, path in material.items():
        if name.endswith("-key"):
            lines += [line for line in path.read_text().splitlines() if line and not line.startswith("-----")
                      and ":" not in line]
    return lines


def assert_no_key_material(payload, material):
    shown = " ".join([repr(payload), *(f.format() for f in payload.findings), *payload.notes])
    assert "-----BEGIN" not in shown
    for fragment in key_fragments(material):
        assert fragment not in shown


def openssl_date(path: Path, which: str) -> datetime:
    text = openssl("x509", "-in", str(path), "-noout", f"-{which}", cwd=path.parent).strip().split("=", 1)[1]
    return datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)


# --- the DER reader against openssl ------------------------------------------------------

@needs_openssl
@pytest.mark.parametrize("name", ["good", "soon", "trad"])
def test_certificate_dates_and_serial_agree_with_openssl(material, name):
    info = entitlement.read_certificate(material[name].read_bytes())
    assert info.not_before == openssl_date(material[name], "startdate")
    assert info.not_after == openssl_date(material[name], "enddate")
    serial = openssl("x509", "-in", str(material[name]), "-noout", "-serial", cwd=material[name].parent)
    assert info.serial == int(serial.strip().split("=", 1)[1], 16)


@needs_openssl
@pytest.mark.parametrize("cert", ["good", "soon", "trad"])
@pytest.mark.parametrize("key", ["good-key", "soon-key", "trad-key"])
def test_pairing_agrees_with_openssl(material, cert, key):
    d = material[cert].parent
    cert_pub = openssl("x509", "-in", str(material[cert]), "-noout", "-pubkey", cwd=d)
    key_pub = openssl("pkey", "-in", str(material[key]), "-pubout", cwd=d)
    ours = entitlement.read_private_key_public_part(material[key].read_bytes()) == \
        entitlement.read_certificate(material[cert].read_bytes()).public_key
    assert ours == (cert_pub == key_pub)


# --- certs --------------------------------------------------------------------------------

@needs_openssl
def test_valid_pairs_are_delivered_with_key_modes_0600(tmp_path, material):
    directory = certs_dir(tmp_path, material, **{"1234567890": ("good", "good-key"), "987": ("trad", "trad-key")})
    payload = certs(directory)
    assert payload.findings == ()
    assert {path: mode for path, (_, mode) in payload.files.items()} == {
        f"{ENTITLEMENT_DIR}/1234567890.pem": 0o644, f"{ENTITLEMENT_DIR}/1234567890-key.pem": 0o600,
        f"{ENTITLEMENT_DIR}/987.pem": 0o644, f"{ENTITLEMENT_DIR}/987-key.pem": 0o600}
    assert payload.files[f"{ENTITLEMENT_DIR}/1234567890-key.pem"][0] == material["good-key"].read_bytes()
    assert payload.files[f"{ENTITLEMENT_DIR}/1234567890.pem"][0] == material["good"].read_bytes()
    assert payload.secret_paths == {f"{ENTITLEMENT_DIR}/1234567890-key.pem", f"{ENTITLEMENT_DIR}/987-key.pem"}
    assert any("get machineconfigs" in note for note in payload.notes)
    assert payload.conf_overrides == {}
    assert_no_key_material(payload, material)


@needs_openssl
def test_expiry_warnings(tmp_path, material):
    directory = certs_dir(tmp_path, material, **{"11": ("soon", "soon-key"), "22": ("good", "good-key")})
    now = datetime.now(timezone.utc)
    [soon] = certs(directory, today=now).findings
    assert soon.severity is Severity.WARNING and soon.code == "entitlement-expiring"
    assert "11.pem" in soon.message and f"{openssl_date(material['soon'], 'enddate'):%Y-%m-%d}" in soon.message
    [expired] = certs(directory, today=now + timedelta(days=11)).findings
    assert expired.code == "entitlement-expired" and "11.pem" in expired.message
    both = certs(directory, today=now + timedelta(days=340)).findings
    assert {(f.code, Path(f.message.split()[0]).name) for f in both} == {
        ("entitlement-expired", "11.pem"), ("entitlement-expiring", "22.pem")}
    early = certs(directory, today=(now - timedelta(days=2)).date()).findings
    assert {(f.code, Path(f.message.split()[0]).name) for f in early} == {
        ("entitlement-not-yet-valid", "11.pem"), ("entitlement-expiring", "11.pem"),
        ("entitlement-not-yet-valid", "22.pem")}


@needs_openssl
@pytest.mark.parametrize("pairs, culprit, code", [
    ({"55": (None, "good-key")}, "55-key.pem", "entitlement-unpaired"),
    ({"66": ("good", None)}, "66.pem", "entitlement-unpaired"),
    ({"77": ("good", "trad-key")}, "77-key.pem", "entitlement-mismatch"),
    ({"88": ("good", "enc-trad-key")}, "88-key.pem", "entitlement-bad-key"),
    ({"89": ("good", "enc-p8-key")}, "89-key.pem", "entitlement-bad-key"),
    ({"99": ("trad-key", "trad-key")}, "99.pem", "entitlement-bad-cert"),
])
def test_bad_pairs_are_errors_naming_the_file(tmp_path, material, pairs, culprit, code):
    payload = certs(certs_dir(tmp_path, material, **pairs))
    [finding] = [f for f in payload.findings if f.severity is Severity.ERROR]
    assert finding.code == code and finding.where == "entitlement.certs_dir"
    assert culprit in finding.message
    assert payload.files == {} and payload.secret_paths == frozenset()
    assert_no_key_material(payload, material)


@needs_openssl
@pytest.mark.parametrize("cert_text, key_text, culprit, words", [
    (b"hello, not a certificate\n", None, "12.pem", "no -----BEGIN"),
    (b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n", None, "12.pem", "X.509"),
    (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", None, "12.pem", "base64"),
    (b"\xff\xfe binary", None, "12.pem", "PEM"),
    (None, b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n", "12-key.pem", "private key"),
    (None, b"-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n-----END PUBLIC KEY-----\n", "12-key.pem", "PRIVATE KEY block"),
])
def test_garbage_is_an_error_naming_the_file(tmp_path, material, cert_text, key_text, culprit, words):
    directory = certs_dir(tmp_path, material, **{"12": ("good", "good-key")})
    if cert_text is not None:
        (directory / "12.pem").write_bytes(cert_text)
    if key_text is not None:
        (directory / "12-key.pem").write_bytes(key_text)
    [finding] = certs(directory).findings
    assert finding.severity is Severity.ERROR and culprit in finding.message and words in finding.message


@needs_openssl
def test_one_bad_pair_does_not_hide_a_good_one(tmp_path, material):
    directory = certs_dir(tmp_path, material, **{"1": ("good", "good-key"), "2": (None, "trad-key")})
    (directory / "README").write_text("not a pem\n")
    payload = certs(directory)
    assert set(payload.files) == {f"{ENTITLEMENT_DIR}/1.pem", f"{ENTITLEMENT_DIR}/1-key.pem"}
    assert {f.code for f in payload.findings} == {"entitlement-unpaired", "entitlement-ignored"}
    assert "README" in [f for f in payload.findings if f.code == "entitlement-ignored"][0].message


def test_certs_dir_missing_empty_or_unset(tmp_path):
    for value, words in ((None, "is empty"), (str(tmp_path / "absent"), str(tmp_path / "absent"))):
        [finding] = entitlement.entitlement_files("certs", certs_dir=value, module_name="m").findings
        assert finding.where == "entitlement.certs_dir" and words in finding.message
    [finding] = certs(tmp_path).findings
    assert finding.code == "entitlement-empty" and str(tmp_path) in finding.message


def test_a_badly_named_pem(tmp_path):
    (tmp_path / "my cert.pem").write_text("x")
    [finding] = [f for f in certs(tmp_path).findings if f.code == "entitlement-name"]
    assert "'my cert.pem'" in finding.message


# --- node -----------------------------------------------------------------------------------

def test_node_adds_nothing_and_says_what_the_node_needs():
    payload = entitlement.entitlement_files("node", module_name="simple-kmod")
    assert payload.files == {} and payload.findings == () and payload.conf_overrides == {}
    assert ENTITLEMENT_DIR in payload.notes[0] and "kernel-devel" in payload.notes[0]


def test_unknown_source():
    [finding] = entitlement.entitlement_files("magic", module_name="m").findings
    assert finding.where == "entitlement.source" and "'magic'" in finding.message


# --- yum-repo -------------------------------------------------------------------------------

URL = "https://repo.example.com/rhel8/$basearch/kernel/"


@pytest.fixture(scope="module")
def module_repo(tmp_path_factory):
    return make_fixture_repos(tmp_path_factory.mktemp("repos")).module


def run_repo_step(dockerfile: str, tmp_path: Path) -> str:
    """Execute the added RUN line with sh, writing into tmp_path instead of /etc/yum.repos.d."""
    [line] = [line for line in dockerfile.splitlines() if entitlement.REPO_PATH in line]
    command = line[len("RUN "):].replace(entitlement.REPO_PATH, str(tmp_path / "out.repo"))
    subprocess.run(["sh", "-c", command], check=True)
    return (tmp_path / "out.repo").read_text()


def test_yum_repo_delivers_the_module_dockerfile_with_the_repository(tmp_path, module_repo):
    payload = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="simple-kmod",
                                            module_dir=module_repo)
    target = "/etc/kvc/simple-kmod-build/Dockerfile"
    assert list(payload.files) == [target] and payload.files[target][1] == 0o644
    assert payload.secret_paths == frozenset()
    assert payload.conf_overrides == {"KMOD_CONTAINER_BUILD_FILE": target}
    derived = payload.files[target][0].decode()
    lines, original = derived.split("\n"), DOCKERFILE_RHEL.split("\n")
    assert lines[0] == original[0] and lines[3:] == original[1:]  # two lines added right after FROM
    repo = configparser.ConfigParser(interpolation=None)
    repo.read_string(run_repo_step(derived, tmp_path))
    assert repo.sections() == ["kmwizard-kernel"]
    assert repo["kmwizard-kernel"]["baseurl"] == URL and repo["kmwizard-kernel"]["gpgcheck"] == "1"
    assert repo["kmwizard-kernel"]["enabled"] == "1"
    assert not [f for f in payload.findings if f.severity is not Severity.INFO]
    assert any("every kernel a cluster upgrade" in note for note in payload.notes)


def test_yum_repo_and_the_instance_conf_point_at_the_same_file(tmp_path, module_repo):
    payload = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="simple-kmod",
                                            module_dir=module_repo)
    root = tmp_path / "root"
    (root / "etc/kvc").mkdir(parents=True)
    shutil.copy(module_repo / "simple-kmod.conf", root / "etc/kvc/simple-kmod.conf")
    files, _ = instance.instance_fixes(root, "simple-kmod", overrides=payload.conf_overrides)
    sourced = subprocess.run(["bash", "-c", 'source /dev/stdin; printf %s "$KMOD_CONTAINER_BUILD_FILE"'],
                             input=files["/etc/kvc/simple-kmod.conf"], capture_output=True, check=True).stdout
    assert sourced.decode() in payload.files


@pytest.mark.parametrize("dockerfile, after_lines", [
    ("FROM golang AS build\nRUN make\nFROM scratch\nCOPY --from=build /x /x\n", [1]),
    ("ARG BASE=ubi8\nFROM ${BASE}\nRUN yum -y install kernel-devel\nFROM ${BASE}\nRUN true\n", [2, 4]),
    ("FROM \\\n    registry.access.redhat.com/ubi8 \\\n    AS base\nRUN yum -y install x\n", [3]),
    ("# escape=`\nFROM ubi8 `\n  AS base\nRUN dir c:\\\n", [3]),
    ("from ubi8\n\n# comment\nrun make buildprep\n", [1]),
])
def test_the_repository_step_follows_each_stage_start_that_runs_commands(dockerfile, after_lines, tmp_path):
    derived, stages = entitlement.add_repo_to_dockerfile(dockerfile, entitlement.repo_file(URL))
    assert len(stages) == len(after_lines)
    lines = derived.split("\n")
    added_at = [i for i, line in enumerate(lines) if entitlement.REPO_PATH in line]
    # after the FROM's last line (1-based = the 0-based index of the next line): a comment, then the RUN;
    # each earlier insertion shifts the later ones by its two lines
    assert added_at == [line + 1 + 2 * k for k, line in enumerate(after_lines)]
    kept = [line for line in lines if entitlement.REPO_PATH not in line and not line.startswith("# Added by kmwizard")]
    assert kept == dockerfile.split("\n")


def test_a_dockerfile_without_commands(tmp_path):
    (tmp_path / "Dockerfile.rhel").write_text("FROM scratch\nCOPY simple.ko /\n")
    [finding] = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="m", module_dir=tmp_path).findings
    assert finding.severity is Severity.ERROR and finding.where == "kvc.build_file"
    assert str(tmp_path / "Dockerfile.rhel") in finding.message


def test_a_missing_dockerfile(tmp_path):
    [finding] = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="m", module_dir=tmp_path,
                                              build_file="Dockerfile.ubi9").findings
    assert finding.where == "kvc.build_file" and "'Dockerfile.ubi9'" in finding.message


def test_yum_repo_without_module_sources():
    [finding] = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="m").findings
    assert finding.where == "entitlement.source" and "kvc.fakeroot" in finding.message


@pytest.mark.parametrize("url", ["", "ftp://mirror.example.com/rhel8/", "repo.example.com/rhel8",
                                 "https://repo.example.com/a b/", "https://repo.example.com/\ngpgcheck=0"])
def test_bad_repository_urls(url, module_repo):
    [finding] = entitlement.entitlement_files("yum-repo", yum_repo=url, module_name="m",
                                              module_dir=module_repo).findings
    assert finding.severity is Severity.ERROR and finding.where == "entitlement.yum_repo"
    assert (repr(url) in finding.message) if url else ("is empty" in finding.message)


def test_plain_http_repository_is_a_warning(module_repo):
    payload = entitlement.entitlement_files("yum-repo", yum_repo="http://repo.example.com/k/", module_name="m",
                                            module_dir=module_repo)
    assert [f.code for f in payload.findings if f.severity is Severity.WARNING] == ["entitlement-yum-repo-http"]
    assert payload.files


def test_the_derived_dockerfile_keeps_dockerfile_variables_for_the_shell(module_repo, tmp_path):
    # `$basearch` must reach the repo file literally (dnf expands it), not be expanded by sh.
    derived = entitlement.entitlement_files("yum-repo", yum_repo=URL, module_name="m",
                                            module_dir=module_repo).files["/etc/kvc/m-build/Dockerfile"][0].decode()
    assert re.search(r"baseurl=https://repo\.example\.com/rhel8/\$basearch/kernel/", run_repo_step(derived, tmp_path))
