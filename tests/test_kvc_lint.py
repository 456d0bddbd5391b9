"""The linter: every rule has a bad input whose finding must name the culprit.  Where Ignition itself
judges a rule, ignition-validate must agree (it rejects what the linter calls an Ignition error, and
accepts the clean config); MCO-only rules are ones ignition-validate cannot see, by design."""
from __future__ import annotations

import copy
import os

import pytest

from kmwizard.findings import Severity, has_errors
from kmwizard.kvc.ignition import base_config, merge_files, spec_version_for, supports_gzip
from kmwizard.kvc.dataurl import decode_data_url
from kmwizard.kvc.lint import CLIENT_APPLY_LIMIT, RENDERED_LIMIT, lint_document, lint_ignition, lint_machineconfig, recognises
from kmwizard.kvc.units import check_unit_name, parse_unit
from kmwizard.kvc.machineconfig import machineconfig
from kmwizard.kvc.transpile import encode_contents, transpile_tree
from tests.ignition_oracle import validate
from tests.kvc_trees import MODULE, build_kvc_tree

DOC = "99-worker-kvc-simple-kmod.yaml"
CONFIG_AT = f"{DOC}:$.spec.config"


@pytest.fixture(scope="module")
def good_config(tmp_path_factory):
    root, _ = build_kvc_tree(tmp_path_factory.mktemp("kvc"))
    files, findings = transpile_tree(root, gzip_allowed=False)    # valid for every release
    assert not findings
    return merge_files(base_config(module_name=MODULE, spec_version="3.2.0"), files)


def mc_of(config: dict, **kwargs) -> dict:
    return machineconfig(name="99-worker-kvc-simple-kmod", role="worker", config=config, **kwargs)


def errors(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


def only(findings, code):
    found = [f for f in findings if f.code == code]
    assert found, f"no {code} finding in {[f.format() for f in findings]}"
    return found


def test_generated_config_is_clean(good_config, tmp_path):
    for release in ("4.8", "4.10", "4.14"):
        findings = lint_machineconfig(mc_of(good_config), where=DOC, openshift_version=release, day=2)
        assert not has_errors(findings), [f.format() for f in findings]
    assert validate(good_config, tmp_path) == (0, "")


# --- rules Ignition enforces: the linter and ignition-validate must agree ------------------------------

def _with_file(config, **entry):
    config = copy.deepcopy(config)
    config["storage"]["files"].append({"overwrite": True, "contents": {"source": "data:,x"}, **entry})
    return config


def _with_unit(config, **unit):
    config = copy.deepcopy(config)
    config["systemd"]["units"].append(unit)
    return config


IGNITION_CASES = {
    "relative path": (lambda c: _with_file(c, path="etc/kvc/x.conf"), "etc/kvc/x.conf", "ign-path"),
    "unclean path": (lambda c: _with_file(c, path="/etc/kvc/../x.conf"), "/etc/kvc/../x.conf", "ign-path"),
    "duplicate path": (lambda c: _with_file(c, path="/etc/kvc/kmods-via-containers.conf"),
                       "/etc/kvc/kmods-via-containers.conf", "ign-duplicate"),
    "mode too big": (lambda c: _with_file(c, path="/etc/m", mode=0o17777), "/etc/m", "ign-mode"),
    "mode as string": (lambda c: _with_file(c, path="/etc/m", mode="0644"), "/etc/m", "ign-mode"),
    "space in data URL": (lambda c: _with_file(c, path="/etc/s", contents={"source": "data:,a b"}),
                          "/etc/s", "ign-data-url"),
    "hash in data URL": (lambda c: _with_file(c, path="/etc/s", contents={"source": "data:,a#b"}),
                         "/etc/s", "ign-data-url"),
    "bad percent escape": (lambda c: _with_file(c, path="/etc/s", contents={"source": "data:,100%"}),
                           "/etc/s", "ign-data-url"),
    "unpadded base64": (lambda c: _with_file(c, path="/etc/s", contents={"source": "data:;base64,YWJ"}),
                        "/etc/s", "ign-data-url"),
    "bad compression": (lambda c: _with_file(c, path="/etc/z", contents={"source": "data:,x",
                                                                           "compression": "xz"}),
                        "/etc/z", "ign-compression"),
    "overwrite without source": (lambda c: _with_file(c, path="/etc/o", contents={}), "/etc/o",
                                 "ign-overwrite"),
    "unterminated section": (lambda c: _with_unit(c, name="x.service", contents="[Unit\nA=b\n"),
                             "[Unit", "ign-unit-parse"),
    "key without value": (lambda c: _with_unit(c, name="x.service", contents="[Unit]\nDescription\n"),
                          "Description", "ign-unit-parse"),
    "garbage after header": (lambda c: _with_unit(c, name="x.service", contents="[Service] now\nA=b\n"),
                             "now", "ign-unit-parse"),
    "bad unit suffix": (lambda c: _with_unit(c, name="kvc.servce", contents="[Unit]\n"), "kvc.servce",
                        "ign-unit-name"),
    "bad dropin name": (lambda c: _with_unit(c, name="y.service", dropins=[{"name": "10-x.cfg",
                                                                             "contents": "[Unit]\n"}]),
                        "10-x.cfg", "ign-dropin-name"),
    "duplicate unit": (lambda c: _with_unit(c, name=f"require-kvc-{MODULE}.service", contents="[Unit]\n"),
                       f"require-kvc-{MODULE}.service", "ign-duplicate"),
}


@pytest.mark.parametrize("case", sorted(IGNITION_CASES))
def test_ignition_rules_agree_with_ignition_validate(good_config, tmp_path, case):
    mutate, culprit, code = IGNITION_CASES[case]
    config = mutate(good_config)
    findings = errors(lint_ignition(config, where=CONFIG_AT))
    hit = only(findings, code)
    assert any(culprit in f.message and f.fix and f.where.startswith(CONFIG_AT) for f in hit), \
        [f.format() for f in hit]
    rc, out = validate(config, tmp_path)
    assert rc != 0 and "error" in out, f"ignition-validate accepted what the linter rejects: {out}"


# --- rules the MCO or RHCOS add (ignition-validate accepts all of these) -----------------------------

MCO_CASES = {
    "directory": (lambda c: {**c, "storage": {**c["storage"], "directories": [{"path": "/etc/kvc/d"}]}},
                  "/etc/kvc/d", "mco-directories"),
    "link": (lambda c: {**c, "storage": {**c["storage"], "links": [{"path": "/usr/local/bin/spkut2",
                                                                     "target": "/usr/bin/true"}]}},
             "/usr/local/bin/spkut2", "mco-links"),
    "setuid mode": (lambda c: _with_file(c, path="/usr/local/bin/suid", mode=0o4755), "/usr/local/bin/suid",
                    "mco-mode"),
    "read-only /usr/lib": (lambda c: _with_file(c, path="/usr/lib/kvc/x.sh"), "/usr/lib/kvc/x.sh",
                           "rhcos-readonly-path"),
    "read-only root": (lambda c: _with_file(c, path="/kvc/x.sh"), "/kvc/x.sh", "rhcos-readonly-path"),
    "other user": (lambda c: {**c, "passwd": {"users": [{"name": "admin", "sshAuthorizedKeys": ["ssh-rsa A"]}]}},
                   "admin", "mco-passwd"),
    "core groups": (lambda c: {**c, "passwd": {"users": [{"name": "core", "groups": ["sudo"],
                                                          "sshAuthorizedKeys": ["ssh-rsa A"]}]}},
                    "groups", "mco-passwd"),
    "passwd groups": (lambda c: {**c, "passwd": {"groups": [{"name": "kvc"}]}}, "passwd.groups", "mco-passwd"),
    "append": (lambda c: _with_file(c, path="/etc/a", append=[{"source": "data:,y"}], overwrite=False),
               "/etc/a", "mco-append"),
    "remote source": (lambda c: _with_file(c, path="/etc/r", contents={"source": "https://example.com/r"}),
                      "https", "mco-remote-source"),
    "ignition kargs": (lambda c: {**c, "ignition": {"version": "3.3.0"}, "kernelArguments":
                                  {"shouldExist": ["nosmt"]}}, "kernelArguments", "mco-kargs"),
    "disks": (lambda c: {**c, "storage": {**c["storage"], "disks": [{"device": "/dev/sdb"}]}},
              "storage.disks", "mco-disks"),
    "fake gzip": (lambda c: _with_file(c, path="/etc/g", contents={"source": "data:,not-gzip",
                                                                    "compression": "gzip"}),
                  "/etc/g", "ign-gzip-data"),
}


@pytest.mark.parametrize("case", sorted(MCO_CASES))
def test_mco_rules(good_config, tmp_path, case):
    mutate, culprit, code = MCO_CASES[case]
    config = mutate(good_config)
    if case == "append":
        config["storage"]["files"][-1].pop("contents")
    hit = only(errors(lint_ignition(config, where=CONFIG_AT, day=2)), code)
    assert any(culprit in f.message and f.fix for f in hit), [f.format() for f in hit]
    rc, out = validate(config, tmp_path)
    assert rc == 0, f"{case}: expected only the MCO to object, ignition-validate said {out}"


def test_volatile_path_is_a_warning(good_config):
    found = only(lint_ignition(_with_file(good_config, path="/run/kvc/x"), where=CONFIG_AT), "rhcos-volatile-path")
    assert found[0].severity is Severity.WARNING and "/run/kvc/x" in found[0].message


def test_disks_on_day_one_is_a_warning(good_config):
    config = {**good_config, "storage": {**good_config["storage"], "disks": [{"device": "/dev/sdb"}]}}
    assert only(lint_ignition(config, where=CONFIG_AT, day=1), "mco-disks")[0].severity is Severity.WARNING


def test_password_hash_is_a_warning(good_config):
    config = {**good_config, "passwd": {"users": [{"name": "core", "passwordHash": "$6$x"}]}}
    found = only(lint_ignition(config, where=CONFIG_AT), "mco-passwd-hash")
    assert found[0].severity is Severity.WARNING and not has_errors(found)


def test_gzip_before_4_10(tmp_path):
    files = [{"path": "/etc/kvc/big.txt", "mode": 420, "overwrite": True,
              "contents": encode_contents(b"x = 1\n" * 500, gzip_allowed=True)}]
    config = {"ignition": {"version": "3.2.0"}, "storage": {"files": files}}
    assert files[0]["contents"]["compression"] == "gzip"
    found = only(errors(lint_ignition(config, where=CONFIG_AT, openshift_version="4.9")), "mco-gzip-old")
    assert "/etc/kvc/big.txt" in found[0].message and "4.10" in found[0].message
    assert not has_errors(lint_ignition(config, where=CONFIG_AT, openshift_version="4.10"))


@pytest.mark.parametrize("release, version", [("4.6", "3.2.0"), ("4.12", "3.4.0"), ("4.19", "3.6.0")])
def test_spec_version_not_accepted(good_config, release, version):
    config = {**good_config, "ignition": {"version": version}}
    found = only(errors(lint_ignition(config, where=CONFIG_AT, openshift_version=release)), "ign-version")
    assert version in found[0].message and found[0].where == f"{CONFIG_AT}.ignition.version"


@pytest.mark.parametrize("release", ["4.6", "4.9", "4.13", "4.16", "4.20"])
def test_generated_spec_version_is_accepted(good_config, release):
    config = {**good_config, "ignition": {"version": spec_version_for(release)}}
    if not supports_gzip(release):
        config = {**config, "storage": {"files": [f for f in config["storage"]["files"]
                                                  if "compression" not in f["contents"]]}}
    assert not has_errors(lint_ignition(config, where=CONFIG_AT, openshift_version=release))


# --- units --------------------------------------------------------------------------------------------

def test_enabled_unit_without_install_section(good_config, tmp_path):
    config = _with_unit(good_config, name="x.service", enabled=True, contents="[Service]\nExecStart=/bin/true\n")
    found = only(lint_ignition(config, where=CONFIG_AT), "ign-no-install")
    assert found[0].severity is Severity.WARNING and "x.service" in found[0].message
    rc, out = validate(config, tmp_path)
    assert rc == 0 and "no install section" in out      # Ignition warns about the same thing


def test_unknown_section_and_key_before_section():
    problems, _ = parse_unit("Description=early\n[Unit]\nA=b\n[Servce]\nExecStart=/bin/true\n")
    assert [(sev, line) for sev, line, _ in problems] == [("error", 1), ("warning", 4)]
    assert "Description=early" in problems[0][2] and "Servce" in problems[1][2]


def test_unit_parser_accepts_real_units():
    from tests.kvc_trees import TEMPLATE_UNIT
    for text in (TEMPLATE_UNIT.decode(), "# c\n; c\n[Unit]\nA=b \\\n  c\n[X-Custom]\nK=v\n", ""):
        assert parse_unit(text)[0] == [], text


@pytest.mark.parametrize("name, ok", [("kmods-via-containers@simple-kmod.service", True), ("a.timer", True),
                                      ("a.conf", False), ("a", False), ("a b.service", False),
                                      ("dir/a.service", False), ("", False)])
def test_unit_names(name, ok):
    assert (check_unit_name(name) is None) == ok


def test_enabled_template_without_instance_and_old_release(good_config):
    config = _with_unit(good_config, name="kmods-via-containers@.service", enabled=True)
    assert only(lint_ignition(config, where=CONFIG_AT), "ign-template-enabled")
    config = _with_unit(good_config, name=f"kmods-via-containers@{MODULE}.service", enabled=True)
    found = only(lint_ignition(config, where=CONFIG_AT, openshift_version="4.12"), "ign-instance-preset")
    assert f"kmods-via-containers@{MODULE}.service" in found[0].message
    assert not [f for f in lint_ignition(config, where=CONFIG_AT, openshift_version="4.14")
                if f.code in ("ign-instance-preset", "ign-unit-missing")]   # template is in the tree


# --- MachineConfig ------------------------------------------------------------------------------------

def test_machineconfig_metadata_rules(good_config):
    mc = mc_of(good_config)
    del mc["metadata"]["labels"]
    assert "machineconfiguration.openshift.io/role" in only(lint_machineconfig(mc, where=DOC), "mc-role")[0].message
    mc = mc_of(good_config)
    mc["metadata"]["name"] = "99_Worker"
    assert "99_Worker" in only(lint_machineconfig(mc, where=DOC), "mc-name")[0].message
    mc = mc_of(good_config)
    mc["apiVersion"] = "v1"
    assert only(lint_machineconfig(mc, where=DOC), "mc-api-version")
    mc = mc_of(good_config)
    mc["metadata"]["labels"]["machineconfiguration.openshift.io/role"] = "infra"
    assert only(lint_machineconfig(mc, where=DOC), "mc-custom-role")[0].severity is Severity.INFO


def _mc_with_payload(good_config, size: int) -> dict:
    # random bytes: no encoding shrinks them, so the object size is predictable
    files = [{"path": f"/usr/local/lib/kvc/blob{i}.bin", "mode": 420, "overwrite": True,
              "contents": encode_contents(os.urandom(size // 4), gzip_allowed=True)} for i in range(3)]
    return mc_of(merge_files(good_config, files))


def test_size_limits(good_config):
    findings = lint_machineconfig(_mc_with_payload(good_config, 1_300_000), where=DOC)
    assert only(findings, "mc-large")[0].severity is Severity.WARNING
    assert only(findings, "mc-client-apply")[0].severity is Severity.WARNING
    assert not has_errors(findings)
    findings = lint_machineconfig(_mc_with_payload(good_config, 1_600_000), where=DOC)
    big = only(errors(findings), "mc-too-large")[0]
    assert f"{RENDERED_LIMIT:,}" in big.message and big.where == f"{DOC}:$"
    findings = lint_machineconfig(_mc_with_payload(good_config, 300_000), where=DOC)
    assert only(findings, "mc-client-apply") and f"{CLIENT_APPLY_LIMIT:,}" in findings[-1].message
    assert not [f for f in findings if f.code in ("mc-large", "mc-too-large")]
    assert not [f for f in lint_machineconfig(mc_of(good_config), where=DOC) if f.code.startswith("mc-")]


def test_lint_document_recognises_both_shapes(good_config):
    bad = _with_file(good_config, path="/usr/lib/x")
    mc_findings = lint_document(mc_of(bad), DOC)
    assert only(mc_findings, "rhcos-readonly-path")[0].where.startswith(f"{DOC}:$.spec.config.storage.files[")
    ign_findings = lint_document(bad, "config.ign")
    assert only(ign_findings, "rhcos-readonly-path")[0].where.startswith("config.ign:$.storage.files[")
    module = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module", "metadata": {"name": "m"}}
    assert lint_document(module, "module.yaml") is None and not recognises(module)
    assert recognises(bad) and recognises(mc_of(bad))


def test_data_url_decoder_matches_the_stdlib():
    assert decode_data_url("data:,a%20b?c+d") == b"a b?c+d"
    assert decode_data_url("data:text/plain;charset=utf-8;base64,YQ==") == b"a"
    for bad in ("data:a", "data:text;base64,YQ==", "data:,é", "data:;base64,YQ"):
        with pytest.raises(ValueError):
            decode_data_url(bad)


@pytest.mark.parametrize("gzip", [False, True])
def test_a_unit_delivered_as_a_file_is_parsed_too(gzip, tmp_path):
    """Ignition writes files without reading them, so a broken unit file only shows at boot: the
    framework's template unit reaches the node as /etc/systemd/system/kmods-via-containers@.service."""
    broken = b"[Unit\nDescription=x\n[Service]\nExecStart=/bin/true\n" + b"# padding\n" * 40
    good = broken.replace(b"[Unit\n", b"[Unit]\n")
    files = [{"path": path, "mode": 0o644, "overwrite": True, "contents": encode_contents(data, gzip_allowed=gzip)}
             for path, data in (("/etc/systemd/system/kmods-via-containers@.service", broken),
                                ("/etc/systemd/system/ok.service", good),
                                ("/etc/systemd/system/ok.service.d/10-x.conf", b"[Service\nX=1\n"),
                                ("/etc/kvc/not-a-unit.conf", broken))]
    assert gzip == any("compression" in f["contents"] for f in files)
    config = {"ignition": {"version": "3.2.0"}, "storage": {"files": files}}
    assert validate(config, tmp_path) == (0, ""), "Ignition itself accepts it: only kmwizard can tell"
    found = [f for f in lint_ignition(config, where="c.ign") if f.code == "ign-unit-parse"]
    assert {f.where for f in found} == {"c.ign:$.storage.files[0]", "c.ign:$.storage.files[2]"}
    assert "kmods-via-containers@.service, line 1" in found[0].message
