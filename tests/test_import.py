"""`kmwizard import`: generate(import(x)) == x byte for byte for kmwizard's own output (every preset,
hypothesis-made answers, both methods); hand-written objects keep what the answers cannot say in the
overlay; the docs' hand-made KVC MachineConfig comes back as a tree plus answers whose regeneration lands
the same files under the real Ignition files stage (tests/ignition_oracle.py).
"""
from __future__ import annotations

import copy
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from docs_machineconfig import SSH_KEY, docs_machineconfig
from kmwizard import output
from kmwizard.answers import Answers
from kmwizard.cli import main
from kmwizard.importing import import_documents
from kmwizard.importing.kvc import decode_contents
from kmwizard.preset_store import list_presets, load_preset
from kmwizard.render import render
from kvc_fixtures import make_entitlement_certs, private_cache, repos, tree_of  # noqa: F401 - repos, private_cache: fixtures

PRESETS = [p.name for p in list_presets() if p.origin == "built-in"]


def _local(answers: Answers, repos) -> Answers:
    """KVC answers pointed at the fixture repositories instead of GitHub (no network in tests)."""
    if answers.get("method") != "kvc":
        return answers
    return answers.update({"kvc.framework_repo": str(repos.framework), "kvc.module_repo": str(repos.module),
                           "kvc.framework_ref": "HEAD", "kvc.module_ref": "HEAD"})


def _manifest_bytes(rendering) -> dict[str, bytes]:
    return {f.path: f.content for f in rendering.written_files if f.manifest is not None}


def round_trip(answers: Answers, out: Path):
    """(original rendering, plan, regenerated rendering) through the files import writes."""
    original = render(answers)
    assert original.ok, [f.format() for f in original.findings if f.severity.value == "error"]
    pairs = [(f.path, yaml.safe_load(f.content)) for f in original.files if f.manifest is not None]
    plan = import_documents(pairs, out)
    assert plan.ok, [f.format() for f in plan.findings if f.severity.value != "info"]
    output.write(output.plan(plan.rendering(), out), force=True)
    again = render(Answers.load(out / "answers.yaml"))
    return original, plan, again


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_round_trips_byte_identical(preset, repos, tmp_path):
    original, plan, again = round_trip(_local(load_preset(preset), repos), tmp_path / "imported")
    assert plan.overlay == [] and plan.changes == []
    assert _manifest_bytes(again) == _manifest_bytes(original)


# --- hypothesis: answers kmwizard can generate, on both methods ------------------------------

_name = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_image = st.sampled_from(["", "quay.io/acme/${MOD_NAME}:${KERNEL_FULL_VERSION}", "registry.example.com/m:${KERNEL_XYZ}"])
_mapping = st.fixed_dictionaries(
    {"regexp": st.sampled_from([r"^.+$", r"^.+\.el9_\d+\.x86_64$", r"^5\.14\..*$"])},
    optional={"container_image": _image.filter(bool), "build": st.just(False), "sign": st.just(False),
              "files_to_sign": st.just(["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"]),
              "in_tree_modules_to_remove": st.lists(_name, min_size=1, max_size=2),
              "build_args": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["A", "B"]),
                                                            "value": st.sampled_from(["1", "x"])}), max_size=1)})
_literal = st.fixed_dictionaries({"literal": st.sampled_from(["5.14.0-427.13.1.el9_4.x86_64",
                                                              "4.18.0-372.9.1.el8.x86_64"])},
                                 optional={"container_image": _image.filter(bool)})
kmm_answers = st.fixed_dictionaries({
    "method": st.just("kmm"),
    "openshift_version": st.sampled_from(["4.12", "4.14", "4.16", "4.20"]),
    "role": st.sampled_from(["worker", "master", "infra"]),
    "kmm.module_name": st.sampled_from(["kmm_ci_a", "foo", "my-drv"]),
    "kmm.namespace": st.sampled_from(["openshift-kmm", "drivers"]),
}, optional={
    "kmm.kmm_version": st.sampled_from(["2.0", "2.2", "2.4", "2.6"]),
    "kmm.kernel_mappings": st.lists(st.one_of(_mapping, _literal), min_size=1, max_size=3),
    "kmm.in_tree_modules_to_remove": st.lists(_name, min_size=1, max_size=2),
    "kmm.modules_loading_order": st.just(["kmm_ci_a", "kmm_ci_b"]),
    "kmm.firmware_files": st.just(["fw/a.bin"]),
    "kmm.dir_name": st.sampled_from(["/opt", "/srv/mods"]),
    "kmm.sign.unsigned_image": st.just("quay.io/acme/u:${KERNEL_FULL_VERSION}"),
    "kmm.sign.key_secret": st.just("key-s"),
    "kmm.image_rebuild_trigger_generation": st.integers(0, 2),
    "kmm.preflight_dtk_image": st.just("quay.io/openshift/dtk:x"),
    "kmm.preflight_push": st.booleans(),
    "kmm.acm_cluster_selector": st.just({"env": "prod"}),
    "kmm.container_image": _image,
    "kmm.build": st.sampled_from(["generate", "none"]),
    "kmm.image_pull_policy": st.sampled_from(["IfNotPresent", "Always"]),
    "kmm.parameters": st.lists(st.sampled_from(["a=1", "b=x"]), max_size=2, unique=True),
    "kmm.firmware_path": st.just("/firmware"),
    "kmm.ko_files": st.lists(st.sampled_from(["a.ko", "sub/b.ko"]), min_size=1, max_size=2, unique=True),
    "kmm.build_args": st.lists(st.fixed_dictionaries({"name": st.just("FLAG"), "value": st.just("1")}), max_size=1),
    "kmm.build_secrets": st.lists(st.sampled_from(["tok", "ca"]), max_size=2, unique=True),
    "kmm.source_subdir": st.sampled_from(["", "ci/kmm-kmod", "src"]),
    "kmm.make_target": st.sampled_from(["all", "modules"]),
    "kmm.registry_tls": st.sampled_from(["verify", "skip-verify", "plain-http"]),
    "kmm.base_image_registry_tls": st.sampled_from(["verify", "plain-http"]),
    "kmm.sign.enabled": st.booleans(),
    "kmm.version": st.sampled_from(["", "1.0.1"]),
    "kmm.image_repo_secret": st.sampled_from(["", "pull"]),
    "kmm.service_account": st.sampled_from(["", "loader"]),
    "kmm.node_selector": st.sampled_from([{}, {"feature.example.com/gpu": "true"}]),
    "kmm.create_namespace": st.booleans(),
    "kmm.acm_hub": st.booleans(),
    "kmm.preflight_kernel": st.sampled_from(["", "5.14.0-427.13.1.el9_4.x86_64"]),
    "entitlement.source": st.sampled_from(["node", "yum-repo"]),
    "entitlement.yum_repo": st.just("https://repo.example.com/rhel9/"),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(values=kmm_answers)
def test_generated_kmm_answers_round_trip(values, tmp_path_factory):
    answers = Answers(values)
    assume(not answers.check() or all(f.severity.value != "error" for f in answers.check()))
    assume(render(answers).ok)
    original, plan, again = round_trip(answers, tmp_path_factory.mktemp("kmm"))
    assert plan.overlay == [], plan.overlay
    assert _manifest_bytes(again) == _manifest_bytes(original)


kvc_answers = st.fixed_dictionaries({"method": st.just("kvc")}, optional={
    "openshift_version": st.sampled_from(["4.6", "4.9", "4.10", "4.12", "4.13", "4.16", "4.20"]),
    "role": st.sampled_from(["worker", "master", "infra"]),
    "day": st.sampled_from([1, 2]),
    "ssh_key": st.just("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host"),
    "kvc.enable_style": st.sampled_from(["auto", "require-unit", "template-instance"]),
    "kvc.software_version": st.sampled_from(["", "1.2.3"]),
    "kvc.build_file": st.sampled_from(["Dockerfile.rhel", "Dockerfile.fedora"]),
    "machineconfig.name": st.sampled_from(["99-custom-kvc", "50-simple"]),
    "entitlement.source": st.sampled_from(["node", "yum-repo"]),
    "entitlement.yum_repo": st.just("https://repo.example.com/rhel9/"),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(values=kvc_answers)
def test_generated_kvc_answers_round_trip(values, repos, tmp_path_factory):
    answers = _local(Answers(values), repos)
    assume(render(answers).ok)
    original, plan, again = round_trip(answers, tmp_path_factory.mktemp("kvc"))
    assert plan.overlay == [], plan.overlay
    assert _manifest_bytes(again) == _manifest_bytes(original)


# --- the CLI -------------------------------------------------------------------------------------------

def test_cli_import_then_generate_reproduces_the_files(repos, tmp_path, capsys):
    first, imported, second = tmp_path / "first", tmp_path / "imported", tmp_path / "second"
    sets = ["--set", f"kvc.framework_repo={repos.framework}", "--set", f"kvc.module_repo={repos.module}"]
    assert main(["generate", "--preset", "simple-kmod", *sets, "-o", str(first)]) == 0
    mc = first / "99-worker-kvc-simple-kmod.yaml"
    assert main(["import", str(mc), "-o", str(imported)]) == 0
    fakeroot = imported / "fakeroot"
    recovered = tree_of(fakeroot)
    # The preset targets a RHEL 9 release, so generate delivered a ubi9 build file beside the conf
    # (the fixture's Dockerfile.rhel is ubi8): the import keeps it as delivered.
    build_file = "/etc/kvc/simple-kmod-build/Dockerfile"
    assert recovered.pop(build_file)[0].startswith(b"FROM registry.access.redhat.com/ubi9")
    assert recovered == {p: (d, m) for p, (d, m) in repos.expected_tree.items()
                         if p != repos.module_conf_path} | {repos.module_conf_path:
                                                            recovered[repos.module_conf_path]}
    assert main(["generate", "--answers", str(imported / "answers.yaml"), "-o", str(second)]) == 0
    assert (second / mc.name).read_bytes() == mc.read_bytes()
    # a second import refuses to overwrite, and --force replaces
    (imported / "answers.yaml").write_text("# edited by hand\n" + (imported / "answers.yaml").read_text())
    capsys.readouterr()
    assert main(["import", str(mc), "-o", str(imported)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["import", str(mc), "-o", str(imported), "--force"]) == 0


def test_import_needs_files_or_a_cluster(tmp_path, capsys):
    assert main(["import", "-o", str(tmp_path)]) == 2
    assert "either files to import or --from-cluster" in capsys.readouterr().err


def test_bad_yaml_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    assert main(["import", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert f"{bad} is not valid YAML" in capsys.readouterr().err


# --- hand-written objects: the overlay -------------------------------------------------------------

def _kmm_pairs(**module_changes):
    rendering = render(load_preset("kmm-ci"))
    pairs = [(f.path, copy.deepcopy(f.manifest)) for f in rendering.files if f.manifest is not None]
    module = next(d for _w, d in pairs if d["kind"] == "Module")
    module["metadata"]["annotations"] = {"team.example.com/owner": "storage"}
    module["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    module["spec"]["moduleLoader"]["container"]["modprobe"]["args"] = {"load": ["-v"]}
    return pairs


def test_fields_answers_cannot_hold_are_kept_in_the_overlay_and_regenerated(tmp_path):
    pairs = _kmm_pairs()
    plan = import_documents(pairs, tmp_path / "o")
    assert plan.ok
    assert {r["path"] for r in plan.overlay} == {'metadata.annotations', 'spec.tolerations',
                                                 'spec.moduleLoader.container.modprobe.args'}
    listed = [f.where for f in plan.findings if f.code == "import-overlay"]
    assert "overlay: Module/openshift-kmm/kmm-ci: spec.tolerations" in listed
    output.write(output.plan(plan.rendering(), tmp_path / "o"))
    again = render(Answers.load(tmp_path / "o" / "answers.yaml"))
    regenerated = {f.manifest["kind"]: f.manifest for f in again.files if f.manifest is not None}
    assert regenerated["Module"] == next(d for _w, d in pairs if d["kind"] == "Module")


def test_cluster_fields_and_kmwizard_label_are_not_imported(tmp_path):
    pairs = _kmm_pairs()
    module = next(d for _w, d in pairs if d["kind"] == "Module")
    module["metadata"].update(uid="1", resourceVersion="5", generation=2, managedFields=[{"manager": "x"}],
                              labels={"app.kubernetes.io/managed-by": "kmwizard"})
    module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": 3}}
    plan = import_documents(pairs, tmp_path)
    assert plan.ok and not any("status" in r["path"] or "uid" in str(r["value"]) for r in plan.overlay)
    assert "metadata.labels" not in {r["path"] for r in plan.overlay}


def test_module_without_its_configmap_names_the_field_and_keeps_the_build(tmp_path):
    pairs = [(w, d) for w, d in _kmm_pairs() if d["kind"] == "Module"]
    plan = import_documents(pairs, tmp_path)
    problem = next(f for f in plan.findings if f.code == "import-configmap-missing")
    assert problem.where.endswith("spec.moduleLoader.container.build.dockerfileConfigMap.name")
    assert "kmm-ci-dockerfile" in problem.message and "overlay" in problem.message


def test_unknown_kinds_and_non_objects_are_named_and_skipped(tmp_path):
    plan = import_documents([("a.yaml", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}),
                             ("b.yaml", ["not", "an", "object"])], tmp_path)
    assert not plan.ok
    by_code = {f.code: f for f in plan.findings}
    assert by_code["import-unknown-kind"].where == "a.yaml:kind" and "Service" in by_code["import-unknown-kind"].message
    assert by_code["import-not-object"].where == "b.yaml"
    assert "import-nothing" in by_code


def test_a_machineconfig_with_two_kvc_instances_is_named(repos, tmp_path):
    answers = _local(load_preset("simple-kmod"), repos)
    mc = copy.deepcopy(render(answers).manifests[0])
    units = mc["spec"]["config"]["systemd"]["units"]
    units.append({"name": "require-kvc-other.service", "enabled": True, "contents": "[Unit]\n"})
    plan = import_documents([("mc.yaml", mc)], tmp_path)
    problem = next(f for f in plan.findings if f.code == "import-several-instances")
    assert problem.where == "mc.yaml:spec.config.systemd.units" and "simple-kmod, other" in problem.message
    assert {"object": "MachineConfig/99-worker-kvc-simple-kmod", "path": "spec.config.systemd.units"
            "[name=require-kvc-other.service]", "value": units[-1]} in plan.overlay


def test_spec_2_configs_are_refused_naming_the_version(tmp_path):
    mc = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
          "metadata": {"name": "x"}, "spec": {"config": {"ignition": {"version": "2.2.0"}}}}
    plan = import_documents([("mc.yaml", mc)], tmp_path)
    assert [f.where for f in plan.findings if f.code == "import-ignition-version"] == \
        ["mc.yaml:spec.config.ignition.version"]


# --- the docs' hand-made MachineConfig -----------------------------------------------------------------

@pytest.fixture
def docs_mc(repos, tmp_path):
    return docs_machineconfig(repos, tmp_path / "docs")


def test_docs_machineconfig_imports_tree_conf_units_role_and_day2_findings(docs_mc, repos, tmp_path):
    """The day-2 refusals mirror machine-config-operator pkg/daemon/update.go reconcilable() and
    verifyUserFields() (core may only carry sshAuthorizedKeys)."""
    plan = import_documents([("99-simple-kmod.yaml", docs_mc)], tmp_path / "o")
    assert plan.ok, [f.format() for f in plan.findings]
    a = plan.answers
    assert (a.get("kvc.module_name"), a.get("role"), a.get("kvc.enable_style"), a.get("machineconfig.name"),
            a.get("day"), a.get("ssh_key")) == ("simple-kmod", "worker", "require-unit", "10-kvc-simple-kmod", 1,
                                                SSH_KEY)
    assert a.get("kvc.build_file") == "Dockerfile.fedora"  # as the docs' conf has it: nothing changes silently
    refused = [f for f in plan.findings if f.code == "import-day2-refused"]
    assert [f.where for f in refused] == ["99-simple-kmod.yaml:spec.config.passwd.users[name=core]"]
    assert "groups" in refused[0].message
    # the tree is recovered byte- and mode-exact (filetranspiler drops the link to a directory)
    output.write(output.plan(plan.rendering(), tmp_path / "o"))
    expected = {p: v for p, v in repos.expected_tree.items() if "/simple-kmod/current/" not in p}
    assert tree_of(tmp_path / "o" / "fakeroot") == expected
    assert {r["path"] for r in plan.overlay} == {
        "spec.config.passwd.users[name=core].groups",
        "spec.config.storage.files[path=/etc/kvc/simple-kmod.conf].contents.source"}
    # generating would fix the conf (git:// -> https://): the original wins in the overlay, and it is said
    assert [f.code for f in plan.findings if f.where.endswith("simple-kmod.conf].contents.source")
            and f.severity.value == "warning"] == ["import-overlay-file"]
    assert any(f.code == "import-unknown-group" for f in plan.findings)


def test_docs_machineconfig_regenerates_to_the_same_files_under_ignition(docs_mc, tmp_path):
    from ignition_oracle import apply_files_stage

    plan = import_documents([("99-simple-kmod.yaml", docs_mc)], tmp_path / "o")
    output.write(output.plan(plan.rendering(), tmp_path / "o"))
    again = render(Answers.load(tmp_path / "o" / "answers.yaml"))
    # the linter holds the kept groups: [sudo] against the MCO's rule, as for any MachineConfig, and the
    # docs' conf still names Dockerfile.fedora, which cannot build for an RHCOS kernel (kept from the original)
    errors = {(f.code, f.where) for f in again.findings if f.severity.value == "error"}
    assert ("mco-passwd", "10-kvc-simple-kmod.yaml:$.spec.config.passwd.users[0]") in errors
    assert {code for code, _ in errors} == {"mco-passwd", "kvc-conf-build-file"}
    regenerated = again.manifests[0]
    # every file the original delivers is delivered again with the same bytes and mode
    want = {f["path"]: (decode_contents(f["contents"]), f["mode"]) for f in docs_mc["spec"]["config"]["storage"]["files"]}
    got = {f["path"]: (decode_contents(f["contents"]), f["mode"])
           for f in regenerated["spec"]["config"]["storage"]["files"]}
    assert got == want
    # The real Ignition lands them. (It refuses the docs' own config: filetranspiler writes the empty file as
    # data:inode/x-empty;..., an invalid media type; the regenerated config encodes it as data:,)
    with pytest.raises(AssertionError, match="invalid media type"):
        apply_files_stage(docs_mc["spec"]["config"])
    # The overlay keeps the docs' groups: [sudo] verbatim, and Ignition fails on it as it would on RHCOS (no
    # sudo group): the import warned. Dropping that overlay record, as the warning says, gives a config
    # Ignition applies: every file lands with the same bytes and mode, and core gets the key.
    with pytest.raises(AssertionError, match=r"usermod.*--groups.*sudo"):
        apply_files_stage(regenerated["spec"]["config"])
    answers = Answers.load(tmp_path / "o" / "answers.yaml")
    kept = [r for r in answers.get("overlay") if not r["path"].endswith(".groups")]
    fixed = render(answers.set("overlay", kept))
    # what is left is the kept conf's Dockerfile.fedora (the node could not build it; Ignition lands it all the same)
    assert {f.code for f in fixed.findings if f.severity.value == "error"} == {"kvc-conf-build-file"}
    regenerated = fixed.manifests[0]
    landed = apply_files_stage(regenerated["spec"]["config"])
    for path, (data, mode) in want.items():
        assert (landed[path].kind, landed[path].data, landed[path].mode) == ("file", data, mode), path
    assert landed["/var/home/core/.ssh/authorized_keys.d/ignition"].data.decode().strip() == SSH_KEY


def test_gzip_and_percent_encodings_decode(tmp_path):
    import base64
    import gzip

    packed = base64.b64encode(gzip.compress(b"hello\n")).decode()
    assert decode_contents({"source": "data:;base64," + packed, "compression": "gzip"}) == b"hello\n"
    assert decode_contents({"source": "data:,a%20b"}) == b"a b"
    with pytest.raises(ValueError, match="not a data URL"):
        decode_contents({"source": "https://example.com/file"})


def test_remote_file_sources_stay_in_the_overlay(repos, tmp_path):
    mc = copy.deepcopy(render(_local(load_preset("simple-kmod"), repos)).manifests[0])
    remote = {"path": "/etc/remote.conf", "mode": 420, "contents": {"source": "https://example.com/remote.conf"}}
    mc["spec"]["config"]["storage"]["files"].append(remote)
    plan = import_documents([("mc.yaml", mc)], tmp_path)
    assert plan.ok
    assert [f.where for f in plan.findings if f.code == "import-file"] == \
        ["mc.yaml:spec.config.storage.files[path=/etc/remote.conf].contents"]
    assert {"object": "MachineConfig/99-worker-kvc-simple-kmod", "path": "spec.config.storage.files"
            "[path=/etc/remote.conf]", "value": remote} in plan.overlay


def test_imported_key_files_are_0600(tmp_path):
    from test_tui_snapshots import _signing_pair  # a real pair: kmwizard parses both and checks they pair up

    key, cert = _signing_pair()
    rendering = render(load_preset("kmm-signed").update({"kmm.sign.key_file": str(_write(tmp_path / "k", key)),
                                                         "kmm.sign.cert_file": str(_write(tmp_path / "c", cert))}))
    pairs = [(f.path, f.manifest) for f in rendering.files if f.manifest is not None]
    out = tmp_path / "o"
    plan = import_documents(pairs, out)
    assert plan.ok, [f.format() for f in plan.findings]
    output.write(output.plan(plan.rendering(), out))
    assert (out / "signing" / "key").read_bytes() == key
    assert stat.S_IMODE(os.stat(out / "signing" / "key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "answers.yaml").st_mode) == 0o600
    again = render(Answers.load(out / "answers.yaml"))
    assert _manifest_bytes(again) == _manifest_bytes(rendering)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_what_generating_changes_is_listed_and_compared(docs_mc, tmp_path):
    from kmwizard.importing import compare

    plan = import_documents([("99-simple-kmod.yaml", docs_mc)], tmp_path / "o")
    # filetranspiler's base64 data URLs become kmwizard's shortest encoding: same bytes, listed as a change
    assert any("encoded differently by generating: the same bytes and modes" in c for c in plan.changes)
    assert any(f.code == "import-build-file" for f in plan.findings)
    output.write(output.plan(plan.rendering(), tmp_path / "o"))
    answers = Answers.load(tmp_path / "o" / "answers.yaml")
    def removed(text):
        return [line for line in text.splitlines() if line.startswith("-") and not line.startswith("---")]

    [(oid, text)] = compare(plan.originals, answers)
    assert oid == "MachineConfig/10-kvc-simple-kmod" and not any("sudo" in line for line in removed(text))
    without_groups = answers.set("overlay", [r for r in answers.get("overlay") if not r["path"].endswith("groups")])
    [(_oid, text)] = compare(plan.originals, without_groups)
    assert any(line[1:].strip() == "- sudo" for line in removed(text))


@pytest.fixture
def entitlement_dir(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl generates the test entitlement certificate")
    return make_entitlement_certs(tmp_path / "entitlement-src")


def test_entitlement_certificates_come_back_as_certs_and_stay_secret(repos, entitlement_dir, tmp_path):
    answers = _local(load_preset("simple-kmod"), repos).update({"entitlement.source": "certs",
                                                                "entitlement.certs_dir": str(entitlement_dir)})
    original, plan, again = round_trip(answers, tmp_path / "o")
    assert plan.overlay == [] and _manifest_bytes(again) == _manifest_bytes(original)
    assert (plan.answers.get("entitlement.source"), plan.answers.get("entitlement.certs_dir")) == \
        ("certs", str((tmp_path / "o" / "entitlement").resolve()))
    assert not (tmp_path / "o" / "fakeroot" / "etc" / "pki").exists()
    for name in ("4242.pem", "4242-key.pem"):
        assert stat.S_IMODE(os.stat(tmp_path / "o" / "entitlement" / name).st_mode) == 0o600
    mc_file = next(f for f in again.files if f.manifest is not None)
    assert mc_file.secret and "redacted" in mc_file.preview_text()  # masked again, 0600 when written


def test_import_of_a_whole_generate_directory_reads_the_objects_only(repos, tmp_path, capsys):
    out, imported = tmp_path / "out", tmp_path / "imported"
    for preset, sets in (("simple-kmod", ["--set", f"kvc.framework_repo={repos.framework}", "--set",
                                          f"kvc.module_repo={repos.module}"]), ("kmm-ci", [])):
        assert main(["generate", "--preset", preset, *sets, "-o", str(out / preset)]) == 0
        capsys.readouterr()
        assert main(["import", *map(str, sorted((out / preset).iterdir())), "-o", str(imported / preset)]) == 0
        err = capsys.readouterr().err
        assert "error" not in err and "skipped" in err


def test_importing_the_regenerated_objects_gives_the_same_answers(docs_mc, tmp_path):
    """import(generate(import(x))) == import(x): the overlay is stable, nothing drifts on a second round."""
    first = import_documents([("mc.yaml", docs_mc)], tmp_path / "a")
    output.write(output.plan(first.rendering(), tmp_path / "a"))
    regenerated = render(Answers.load(tmp_path / "a" / "answers.yaml")).manifests
    second = import_documents([("mc.yaml", m) for m in regenerated], tmp_path / "b")
    assert second.overlay == first.overlay
    output.write(output.plan(second.rendering(), tmp_path / "b"))
    assert render(Answers.load(tmp_path / "b" / "answers.yaml")).manifests == regenerated
    assert tree_of(tmp_path / "b" / "fakeroot") == tree_of(tmp_path / "a" / "fakeroot")


def test_a_machineconfig_without_kvc_is_named_and_nothing_is_imported(tmp_path):
    mc = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
          "metadata": {"name": "99-chrony", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
          "spec": {"config": {"ignition": {"version": "3.4.0"}, "storage": {"files": [
              {"path": "/etc/chrony.conf", "mode": 420, "contents": {"source": "data:,server%20x%0A"}}]}}}}
    plan = import_documents([("chrony.yaml", mc)], tmp_path)
    assert not plan.ok and plan.files == ()
    assert [f.where for f in plan.findings if f.code == "import-not-kvc"] == ["chrony.yaml:spec.config.storage.files"]


@pytest.mark.parametrize("version, style, expected", [
    ("4.12", "require-unit", "4.12"), ("4.13", "template-instance", "4.13"), ("4.9", "require-unit", "4.9"),
    ("4.6", "require-unit", "4.7"), ("4.16", "auto", "4.14"), ("4.20", "auto", "4.19")])
def test_the_release_chosen_emits_the_same_config(repos, tmp_path, version, style, expected):
    """Ignition spec per release as kvc/ignition.py spec_version_for (Butane's openshift variant); gzip from
    4.10 (the MCO before it writes compressed bytes verbatim, BZ 1970218)."""
    answers = _local(Answers({"method": "kvc", "openshift_version": version, "kvc.enable_style": style}), repos)
    original, plan, again = round_trip(answers, tmp_path / "o")
    assert plan.answers.get("openshift_version") == expected
    assert _manifest_bytes(again) == _manifest_bytes(original)


def test_what_the_linter_refuses_in_the_original_is_listed_not_fatal(repos, tmp_path):
    """A setuid file: the MCO rejects modes above 0777 (machine-config-operator ValidateIgnition); the import
    still recovers it byte- and mode-exact and names the problem."""
    mc = copy.deepcopy(render(_local(load_preset("simple-kmod"), repos)).manifests[0])
    mc["spec"]["config"]["storage"]["files"].append({"path": "/usr/local/bin/suid", "mode": 0o4755, "overwrite": True,
                                                     "contents": {"source": "data:,x"}})
    plan = import_documents([("mc.yaml", mc)], tmp_path / "o")
    assert plan.ok and plan.overlay == []
    assert any(f.severity.value == "error" and "/usr/local/bin/suid" in f.message and "0777" in f.message
               for f in plan.findings)
    output.write(output.plan(plan.rendering(), tmp_path / "o"))
    assert stat.S_IMODE(os.stat(tmp_path / "o" / "fakeroot/usr/local/bin/suid").st_mode) == 0o4755


def test_a_users_own_dockerfile_comes_back_as_a_file(tmp_path):
    own = tmp_path / "Dockerfile.mine"
    own.write_text("ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\nARG KERNEL_FULL_VERSION\nRUN make -C /src\n"
                   "FROM registry.redhat.io/ubi9/ubi-minimal\nARG KERNEL_FULL_VERSION\n"
                   "COPY --from=builder /src/kmm_ci_a.ko /opt/lib/modules/${KERNEL_FULL_VERSION}/\n"
                   "RUN depmod -b /opt ${KERNEL_FULL_VERSION}\n")
    answers = load_preset("kmm-ci").update({"kmm.build": "dockerfile", "kmm.dockerfile": str(own)})
    original, plan, again = round_trip(answers, tmp_path / "o")
    assert plan.answers.get("kmm.build") == "dockerfile"
    assert (tmp_path / "o" / "Dockerfile").read_text() == own.read_text()
    assert plan.overlay == [] and _manifest_bytes(again) == _manifest_bytes(original)
