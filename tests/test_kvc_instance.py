"""The instance conf fixes.  The judge is bash itself: the framework sources the conf with
bash, so every rewritten conf is sourced by a real bash and its variables compared."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmwizard.findings import Severity
from kmwizard.kvc import fetch, instance
from tests.kvc_fixtures import MODULE_CONF, make_fixture_repos

pytestmark = pytest.mark.skipif(not shutil.which("bash"), reason="bash is the judge of the conf files")

KEYS = instance.REQUIRED
CONF = "/etc/kvc/simple-kmod.conf"


def bash_values(text: str, keys=KEYS) -> dict[str, str]:
    """What bash assigns when it sources text (unset variables come back as None)."""
    # "s" + value when set, "u" when unset: no value can pass for the unset mark (the old mark \x01 was a value)
    script = 'source /dev/stdin; for k in "$@"; do if [ "${!k+set}" ]; then printf "s%s\\0" "${!k}"; ' \
             'else printf "u\\0"; fi; done'
    out = subprocess.run(["bash", "-c", script, "bash", *keys], input=text.encode(), capture_output=True,
                         check=True).stdout.decode()
    values = out.split("\0")[:-1]
    return {k: (v[1:] if v.startswith("s") else None) for k, v in zip(keys, values)}


def tree_with_conf(tmp_path: Path, text: str, name: str = "simple-kmod") -> Path:
    conf = tmp_path / "root/etc/kvc" / f"{name}.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    return tmp_path / "root"


def errors_of(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


def test_upstream_conf_from_the_fixture_repositories_is_fixed_for_rhcos(tmp_path):
    repos = make_fixture_repos(tmp_path)
    fakeroot = fetch.obtain_fakeroot(str(repos.framework), "HEAD", str(repos.module), "HEAD",
                                     cache_dir=tmp_path / "cache")
    files, findings = instance.instance_fixes(fakeroot, "simple-kmod")
    assert list(files) == [CONF]
    assert bash_values(files[CONF].decode()) == {
        "KMOD_CONTAINER_BUILD_CONTEXT": "https://github.com/kmods-via-containers/kvc-simple-kmod.git",
        "KMOD_CONTAINER_BUILD_FILE": "Dockerfile.rhel",
        "KMOD_SOFTWARE_VERSION": "dd1a7d4",
        "KMOD_NAMES": "simple-kmod simple-procfs-kmod",
    }
    assert [(f.severity, f.where, f.code) for f in findings] == [
        (Severity.INFO, "kvc.build_file", "kvc-conf-changed"),
        (Severity.INFO, "kvc.module_repo", "kvc-conf-changed")]
    build, context = (f.message for f in findings)
    assert "KMOD_CONTAINER_BUILD_FILE" in build and "'Dockerfile.fedora'" in build and "'Dockerfile.rhel'" in build
    assert "KMOD_CONTAINER_BUILD_CONTEXT" in context
    assert "git://github.com" in context and "https://github.com" in context
    assert (fakeroot / CONF.lstrip("/")).read_text() == MODULE_CONF  # the cached tree is not touched
    assert files[CONF].decode().startswith('KMOD_CONTAINER_BUILD_CONTEXT="https://')  # the quoting style is kept


def test_a_conf_that_already_works_is_left_alone(tmp_path):
    good = ('KMOD_CONTAINER_BUILD_CONTEXT="https://example.com/kvc-foo.git"\n'
            'KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\n'
            'KMOD_SOFTWARE_VERSION=1.0\nKMOD_NAMES="foo"\n')
    assert instance.instance_fixes(tree_with_conf(tmp_path, good, "foo"), "foo") == ({}, [])


def test_software_version_and_overrides(tmp_path):
    root = tree_with_conf(tmp_path, MODULE_CONF)
    files, findings = instance.instance_fixes(
        root, "simple-kmod", software_version="2.0-rc1",
        overrides={"KMOD_CONTAINER_BUILD_FILE": "/etc/kvc/simple-kmod-build/Dockerfile"})
    values = bash_values(files[CONF].decode())
    assert values["KMOD_SOFTWARE_VERSION"] == "2.0-rc1"
    assert values["KMOD_CONTAINER_BUILD_FILE"] == "/etc/kvc/simple-kmod-build/Dockerfile"  # overrides win
    by_where = {f.where: f.message for f in findings}
    assert "'dd1a7d4'" in by_where["kvc.software_version"] and "'2.0-rc1'" in by_where["kvc.software_version"]
    assert "/etc/kvc/simple-kmod-build/Dockerfile" in by_where["entitlement.source"]
    assert not errors_of(findings)


def test_export_comments_and_the_last_assignment(tmp_path):
    text = ("# instance conf\nKMOD_CONTAINER_BUILD_FILE=Dockerfile.centos\n"
            "export KMOD_CONTAINER_BUILD_FILE='Dockerfile.fedora'  # upstream default\n"
            "KMOD_CONTAINER_BUILD_CONTEXT=https://example.com/k.git\nKMOD_SOFTWARE_VERSION=1\nKMOD_NAMES=k\n")
    files, findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")
    new = files[CONF].decode()
    assert bash_values(new)["KMOD_CONTAINER_BUILD_FILE"] == "Dockerfile.rhel"
    assert "export KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel  # upstream default\n" in new
    assert "KMOD_CONTAINER_BUILD_FILE=Dockerfile.centos\n" in new  # earlier lines are not the one bash keeps
    assert "'Dockerfile.fedora'" in findings[0].message


def test_a_missing_build_file_line_is_added(tmp_path):
    text = "KMOD_CONTAINER_BUILD_CONTEXT=https://example.com/k.git\nKMOD_SOFTWARE_VERSION=1\nKMOD_NAMES=k"
    files, findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")
    assert bash_values(files[CONF].decode())["KMOD_CONTAINER_BUILD_FILE"] == "Dockerfile.rhel"
    assert "(not set)" in findings[0].message and not errors_of(findings)


@pytest.mark.parametrize("line", [
    "V=plain", "V='single quoted $HOME'", 'V="double quoted"', 'V="with \\"escapes\\" \\$ and \\\\"',
    "V=a\\ b", 'V="x"  # comment', "export V=exported", "  V=indented", "V=", 'V=""', "V=a'b c'd",
    "V=semi;", 'V="multi word value"',
])
def test_parse_conf_reads_values_as_bash_does(line):
    assert instance.parse_conf(line)["V"].value == bash_values(line, ["V"])["V"]


@settings(max_examples=40, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
                     max_size=25))
def test_any_value_written_is_read_back_by_bash(value):
    text = instance.set_value(MODULE_CONF, "KMOD_SOFTWARE_VERSION", value)
    values = bash_values(text)
    assert values["KMOD_SOFTWARE_VERSION"] == value
    assert values["KMOD_NAMES"] == "simple-kmod simple-procfs-kmod"  # nothing else moved
    if "\n" not in value:
        assert instance.parse_conf(text)["KMOD_SOFTWARE_VERSION"].value == value


def test_a_missing_conf_names_the_instance_and_suggests_the_installed_one(tmp_path):
    root = tree_with_conf(tmp_path, MODULE_CONF)
    files, findings = instance.instance_fixes(root, "my-kmod")
    assert files == {}
    [finding] = findings
    assert finding.severity is Severity.ERROR and finding.where == "kvc.module_name"
    assert "/etc/kvc/my-kmod.conf" in finding.message and "'simple-kmod'" in finding.fix


def test_a_missing_conf_without_any_other(tmp_path):
    (tmp_path / "root").mkdir()
    [finding] = instance.instance_fixes(tmp_path / "root", "simple-kmod")[1]
    assert finding.code == "kvc-conf-missing" and "$(CONFDIR)/kvc/" in finding.fix


@pytest.mark.parametrize("text, culprit, code", [
    (MODULE_CONF.replace('KMOD_NAMES="simple-kmod simple-procfs-kmod"\n', ""), "KMOD_NAMES", "kvc-conf-key"),
    (MODULE_CONF.replace('"simple-kmod simple-procfs-kmod"', '""'), "KMOD_NAMES is empty", "kvc-conf-empty"),
    (MODULE_CONF.replace('"simple-kmod simple-procfs-kmod"', '"simple-kmod simple.ko"'), "simple.ko",
     "kvc-conf-names"),
    (MODULE_CONF.replace("KMOD_SOFTWARE_VERSION=dd1a7d4\n", ""), "KMOD_SOFTWARE_VERSION", "kvc-conf-key"),
    (MODULE_CONF.replace("git://github.com/kmods-via-containers/kvc-simple-kmod.git",
                         "git@github.com:kmods-via-containers/kvc-simple-kmod.git"), "SSH", "kvc-conf-context"),
    (MODULE_CONF.replace('"git://github.com/kmods-via-containers/kvc-simple-kmod.git"', "kvc-simple-kmod"),
     "neither a URL nor an absolute directory", "kvc-conf-context"),
])
def test_broken_confs_are_errors_naming_the_culprit(tmp_path, text, culprit, code):
    findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")[1]
    matching = [f for f in errors_of(findings) if f.code == code]
    assert matching and culprit in matching[0].message and CONF in matching[0].message


@pytest.mark.parametrize("context, words", [
    ("https://github.com/kmods-via-containers/kvc-simple-kmod", "tar archive"),
    ("http://git.example.com/kvc-simple-kmod.git", "without TLS"),
    ("git://git.example.com/kvc-simple-kmod.git", "git://"),
    ("github.com/kmods-via-containers/kvc-simple-kmod", "master branch"),
    ("/var/lib/kvc-simple-kmod", "does not deliver"),
])
def test_build_contexts_podman_would_mishandle_are_warnings(tmp_path, context, words):
    text = MODULE_CONF.replace('"git://github.com/kmods-via-containers/kvc-simple-kmod.git"', f'"{context}"')
    findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")[1]
    warnings = [f for f in findings if f.severity is Severity.WARNING and f.code == "kvc-conf-context"]
    assert len(warnings) == 1 and words in warnings[0].message and context in warnings[0].message


def test_a_delivered_context_directory_must_hold_the_build_file(tmp_path):
    text = MODULE_CONF.replace('"git://github.com/kmods-via-containers/kvc-simple-kmod.git"', "/etc/kvc/ctx")
    root = tree_with_conf(tmp_path, text)
    (root / "etc/kvc/ctx").mkdir()
    [error] = errors_of(instance.instance_fixes(root, "simple-kmod")[1])
    assert "'Dockerfile.rhel'" in error.message and "/etc/kvc/ctx" in error.message
    (root / "etc/kvc/ctx/Dockerfile.rhel").write_text("FROM scratch\n")
    assert not errors_of(instance.instance_fixes(root, "simple-kmod")[1])


def test_computed_values_are_flagged(tmp_path):
    text = MODULE_CONF.replace("KMOD_SOFTWARE_VERSION=dd1a7d4", "KMOD_SOFTWARE_VERSION=$(cat /etc/kvc/version)")
    findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")[1]
    [flag] = [f for f in findings if f.code == "kvc-conf-dynamic"]
    assert flag.severity is Severity.WARNING and "KMOD_SOFTWARE_VERSION" in flag.message


def test_a_conf_that_is_not_utf8(tmp_path):
    root = tree_with_conf(tmp_path, "")
    (root / "etc/kvc/simple-kmod.conf").write_bytes(b"KMOD_NAMES=\xff\xfe\n")
    [finding] = instance.instance_fixes(root, "simple-kmod")[1]
    assert finding.severity is Severity.ERROR and CONF in finding.message and "UTF-8" in finding.message


@pytest.mark.parametrize("computed", ["$(git describe --tags)", "${VERSION:-1 2}", "`cat /etc/kvc/v x`",
                                      "$(echo $(date +%s) x) # why"])
def test_overriding_a_computed_value_with_spaces_leaves_valid_bash(tmp_path, computed):
    """A value computed by the shell may hold spaces: replacing it must replace all of it, or the node
    gets a conf bash cannot source (`KMOD_SOFTWARE_VERSION=1.0 --tags)`) and the service fails at boot."""
    text = MODULE_CONF.replace("KMOD_SOFTWARE_VERSION=dd1a7d4", f"KMOD_SOFTWARE_VERSION={computed}")
    findings = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod")[1]
    [flag] = [f for f in findings if f.code == "kvc-conf-dynamic"]
    assert computed.split(" #")[0] in flag.message  # the whole expression is named
    files, _ = instance.instance_fixes(tree_with_conf(tmp_path, text), "simple-kmod", software_version="1.0")
    values = bash_values(files[CONF].decode())  # check=True: bash sources it without error
    assert values["KMOD_SOFTWARE_VERSION"] == "1.0"
    assert values["KMOD_NAMES"] == "simple-kmod simple-procfs-kmod"
