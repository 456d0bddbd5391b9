"""render_kmm: every generated object is judged by the real CRD schema (unknown fields rejected),
secrets are 0600 and masked, the Dockerfile follows the documented module loader layout."""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys

from pathlib import Path

import pytest
import yaml

from crd_schema import require_crds, validate_manifest
from kmwizard.answers import Answers, AnswersError
from kmwizard.findings import Severity
from kmwizard.render import render

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("kmm-ci", "kmm-signed", "kmm-prebuilt")
KIND_ORDER = ["Namespace", "Secret", "ConfigMap", "Module", "ManagedClusterModule", "PreflightValidationOCP"]


def kmm(**values) -> Answers:
    answers = Answers().set("method", "kmm")
    return answers.update(values)


def errors(rendering) -> list[str]:
    return [f.format() for f in rendering.findings if f.severity is Severity.ERROR]


def _openssl_pair(key: Path, cert: Path, *extra: str) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl makes the test key pairs (kmwizard checks that keys and certificates parse and match)")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=kmwizard-test", "-newkey", "rsa:2048",
                    "-keyout", str(key), "-out", str(cert), "-days", "200", *extra], check=True, capture_output=True)


@pytest.fixture(scope="module")
def signing_files(tmp_path_factory):
    """The kernel's own naming: signing_key.priv (PEM) and signing_key.x509 (DER, which KMM takes as it is)."""
    folder = tmp_path_factory.mktemp("signing")
    key, cert = folder / "signing_key.priv", folder / "signing_key.x509"
    _openssl_pair(key, cert, "-outform", "DER")
    return key, cert


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("entitlement")
    _openssl_pair(directory / "1234-key.pem", directory / "1234.pem")
    return directory


def variants(signing_files, certs_dir, tmp_path) -> dict[str, Answers]:
    key, cert = signing_files
    own = tmp_path / "Dockerfile.kmm"
    own.write_text("ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\nARG KERNEL_FULL_VERSION\nRUN make\n"
                   "FROM registry.redhat.io/ubi9/ubi-minimal\nARG KERNEL_FULL_VERSION\nRUN microdnf install -y kmod\n"
                   "COPY --from=builder /build/my.ko /opt/lib/modules/${KERNEL_FULL_VERSION}/\n"
                   "RUN depmod -b /opt ${KERNEL_FULL_VERSION}\n")
    return {
        "defaults": kmm(),
        **{name: Answers.load(ROOT / "presets" / f"{name}.yaml") for name in PRESETS},
        "master": kmm(**{"role": "master", "kmm.kmm_version": "2.4"}),
        "custom-selector": kmm(**{"kmm.node_selector": {"feature.node.kubernetes.io/pci-10de.present": "true"}}),
        "signed-local-files": kmm(**{"kmm.sign.enabled": True, "kmm.sign.key_file": str(key),
                                     "kmm.sign.cert_file": str(cert), "kmm.namespace": "kmm-test"}),
        "entitled-certs": kmm(**{"entitlement.source": "certs", "entitlement.certs_dir": str(certs_dir),
                                 "openshift_version": "4.12"}),
        "yum-repo": kmm(**{"entitlement.source": "yum-repo",
                           "entitlement.yum_repo": "https://repo.example.com/rhel9/kernels/"}),
        "own-dockerfile": kmm(**{"kmm.build": "dockerfile", "kmm.dockerfile": str(own), "kmm.ko_files": ["my.ko"],
                                 "kmm.module_name": "my"}),
        "acm-and-preflight": kmm(**{"kmm.acm_hub": True, "kmm.preflight_kernel": "5.14.0-503.15.1.el9_5.x86_64",
                                    "kmm.preflight_dtk_image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:"
                                                               + "b" * 64, "kmm.preflight_push": True}),
        "per-mapping": kmm(**{
            "kmm.kernel_mappings": [
                {"literal": "5.14.0-427.13.1.el9_4.x86_64", "container_image": "quay.io/org/prebuilt:fixed",
                 "build": False, "sign": False},
                {"regexp": r"^.+\.el9_\d+\.x86_64$", "build_args": [{"name": "FLAVOR", "value": "x86"}],
                 "files_to_sign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmm_ci_a.ko"],
                 "in_tree_modules_to_remove": ["dummy"]},
                {"regexp": r"^.+\.el9_\d+\.aarch64$"}],
            "kmm.build_args": [{"name": "FLAVOR", "value": "generic"}],
            "kmm.sign.enabled": True, "kmm.kmm_version": "2.6", "kmm.image_rebuild_trigger_generation": 2}),
        "everything": kmm(**{
            "kmm.parameters": ["debug=1"], "kmm.firmware_path": "/firmware", "kmm.firmware_files": ["fw/a.bin"],
            "kmm.modules_loading_order": ["kmm_ci_a", "kmm_ci_b"], "kmm.ko_files": ["kmm_ci_a.ko", "kmm_ci_b.ko"],
            "kmm.in_tree_modules_to_remove": ["kmm_ci_b"], "kmm.image_pull_policy": "Always",
            "kmm.build_secrets": ["my-build-secret"], "kmm.image_repo_secret": "pull-secret",
            "kmm.registry_tls": "skip-verify", "kmm.base_image_registry_tls": "plain-http",
            "kmm.version": "1.0.0", "kmm.service_account": "kmm-loader", "kmm.namespace": "kmm-everything",
            "kmm.container_image": "registry.example.com:5000/org/${MOD_NAME}:${KERNEL_FULL_VERSION}"}),
        "old-kmm": kmm(**{"kmm.kmm_version": "2.0", "kmm.in_tree_modules_to_remove": ["dummy"],
                          "openshift_version": "4.12"}),
    }


@pytest.fixture()
def all_variants(signing_files, certs_dir, tmp_path):
    return variants(signing_files, certs_dir, tmp_path)


def test_every_object_passes_the_real_crd_schema(all_variants):
    require_crds()
    for name, answers in all_variants.items():
        rendering = render(answers)
        assert errors(rendering) == [], name
        assert rendering.manifests, name
        for obj in rendering.manifests:
            # The file content (what kubectl/oc would send) is what the schema judges.
            assert validate_manifest(obj) == [], (name, obj["kind"])
        for file in rendering.files:
            if file.manifest is not None:
                assert yaml.safe_load(file.content) == file.manifest


def test_the_schema_judge_is_strict():
    require_crds()
    module = render(kmm()).manifests[-1]
    module["spec"]["moduleLoader"]["container"]["kernelMapings"] = []
    assert validate_manifest(module)


def test_apply_order_and_file_names(all_variants):
    rendering = render(all_variants["signed-local-files"])
    kinds = [m["kind"] for m in rendering.manifests]
    assert kinds == ["Namespace", "Secret", "Secret", "ConfigMap", "Module"]
    paths = [f.path for f in rendering.files]
    assert paths[:5] == ["namespace.yaml", "secret-kmm-ci-a-signing-key.yaml", "secret-kmm-ci-a-signing-cert.yaml",
                         "configmap-kmm-ci-a-dockerfile.yaml", "module-kmm-ci-a.yaml"]
    assert "Dockerfile" in paths
    for name, answers in all_variants.items():
        kinds = [m["kind"] for m in render(answers).manifests]
        assert kinds == sorted(kinds, key=KIND_ORDER.index), name


def test_secrets_are_0600_and_never_shown(all_variants, signing_files, certs_dir):
    key, cert = signing_files
    for name in ("signed-local-files", "entitled-certs"):
        rendering = render(all_variants[name])
        secrets = [f for f in rendering.files if f.manifest and f.manifest["kind"] == "Secret"]
        assert secrets, name
        for file in secrets:
            assert file.mode == 0o600 and file.secret
            shown = file.preview_text()
            for value in file.manifest["data"].values():
                assert value not in shown and base64.b64decode(value).decode("latin-1") not in shown
            assert "redacted" in shown
        for finding in rendering.findings:
            assert "PRIVATE KEY" not in finding.format()
    signed = {f.manifest["metadata"]["name"]: f.manifest for f in render(all_variants["signed-local-files"]).files
              if f.manifest and f.manifest["kind"] == "Secret"}
    assert base64.b64decode(signed["kmm-ci-a-signing-key"]["data"]["key"]) == key.read_bytes()
    assert base64.b64decode(signed["kmm-ci-a-signing-cert"]["data"]["cert"]) == cert.read_bytes()
    entitled = next(f.manifest for f in render(all_variants["entitled-certs"]).files
                    if f.manifest and f.manifest["kind"] == "Secret")
    assert sorted(entitled["data"]) == ["1234-key.pem", "1234.pem"]


def test_configmap_holds_a_readable_dockerfile():
    rendering = render(Answers.load(ROOT / "presets" / "kmm-ci.yaml"))
    cm_file = next(f for f in rendering.files if f.manifest and f.manifest["kind"] == "ConfigMap")
    text = cm_file.content.decode()
    assert "  dockerfile: |\n" in text and "\n    ARG DTK_AUTO\n" in text
    assert list(cm_file.manifest["data"]) == ["dockerfile"]
    module = rendering.manifests[-1]
    assert module["spec"]["moduleLoader"]["container"]["build"]["dockerfileConfigMap"]["name"] == \
        cm_file.manifest["metadata"]["name"]
    assert cm_file.manifest["metadata"]["namespace"] == module["metadata"]["namespace"]


def stages(dockerfile: str) -> list[list[str]]:
    """Independent minimal split: the lines of each stage, the global part first."""
    parts: list[list[str]] = [[]]
    for line in dockerfile.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("FROM "):
            parts.append([])
        parts[-1].append(line)
    return parts


@pytest.mark.parametrize("source", ["node", "certs", "yum-repo"])
def test_dockerfile_follows_the_module_loader_layout(source, certs_dir):
    answers = kmm(**{"entitlement.source": source, "entitlement.certs_dir": str(certs_dir),
                     "entitlement.yum_repo": "https://repo.example.com/el9/",
                     "kmm.ko_files": ["kmm_ci_a.ko", "kmm_ci_b.ko"]})
    text = next(f for f in render(answers).files if f.path == "Dockerfile").content.decode()
    global_part, *stage_lines = stages(text)
    if source == "node":
        assert global_part == ["ARG DTK_AUTO"]
        assert stage_lines[0][0] == "FROM ${DTK_AUTO} as builder"
    else:
        assert "DTK_AUTO" not in text
        assert stage_lines[0][0] == "FROM registry.redhat.io/ubi9/ubi:latest as builder"
    for lines in stage_lines:  # every stage that reads a kernel variable declares it
        body = "\n".join(lines[1:])
        for var in set(re.findall(r"\$\{(KERNEL_FULL_VERSION|KERNEL_VERSION)\}", body)):
            assert f"ARG {var}" in lines, (var, lines[0])
    final = stage_lines[-1]
    assert final[0].startswith("FROM registry.redhat.io/ubi9/ubi-minimal")
    assert any("microdnf install -y kmod" in line for line in final)
    for ko in ("kmm_ci_a.ko", "kmm_ci_b.ko"):
        assert any(line.startswith("COPY --from=builder ") and line.endswith(f"/{ko} /opt/lib/modules/"
                                                                             "${KERNEL_FULL_VERSION}/")
                   for line in final)
    assert final[-1] == "RUN depmod -b /opt ${KERNEL_FULL_VERSION}"
    if source == "certs":
        secret = "kmm-ci-a-entitlement"
        assert f"/run/secrets/{secret}/" in text
        module = render(answers).manifests[-1]
        assert {"name": secret} in module["spec"]["moduleLoader"]["container"]["build"]["secrets"]
    if source == "yum-repo":
        assert "baseurl=%s" in text and "'https://repo.example.com/el9/'" in text


def test_openshift_4_12_uses_rhel8_images():
    text = next(f for f in render(kmm(openshift_version="4.12")).files if f.path == "Dockerfile").content.decode()
    assert "ubi8/ubi-minimal" in text and "ubi9" not in text


def test_master_gets_control_plane_tolerations(all_variants):
    rendering = render(all_variants["master"])
    module = rendering.manifests[-1]
    assert module["spec"]["selector"] == {"node-role.kubernetes.io/master": ""}
    keys = {t["key"] for t in module["spec"]["tolerations"]}
    assert keys == {"node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"}
    assert "kmm-master-toleration" in {f.code for f in rendering.findings}
    old = render(kmm(**{"role": "master", "kmm.kmm_version": "2.2"}))
    assert any(f.code == "kmm-version-field" and "tolerations" in f.where for f in old.findings
               if f.severity is Severity.ERROR)


def test_per_mapping_sections_when_mappings_differ(all_variants):
    mappings = render(all_variants["per-mapping"]).manifests[-1]["spec"]["moduleLoader"]["container"]["kernelMappings"]
    assert "build" not in mappings[0] and "sign" not in mappings[0]
    assert mappings[1]["build"]["buildArgs"] == [{"name": "FLAVOR", "value": "x86"}]
    assert mappings[2]["build"]["buildArgs"] == [{"name": "FLAVOR", "value": "generic"}]
    assert mappings[1]["sign"]["filesToSign"] == ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmm_ci_a.ko"]
    assert mappings[1]["inTreeModulesToRemove"] == ["dummy"]


def test_old_kmm_gets_the_singular_in_tree_field(all_variants):
    container = render(all_variants["old-kmm"]).manifests[-1]["spec"]["moduleLoader"]["container"]
    assert container["inTreeModuleToRemove"] == "dummy" and "inTreeModulesToRemove" not in container
    too_many = render(kmm(**{"kmm.kmm_version": "2.0", "kmm.in_tree_modules_to_remove": ["a", "b"]}))
    assert any(f.code == "kmm-version-field" for f in too_many.findings if f.severity is Severity.ERROR)


def test_insecure_tls_is_allowed_with_the_warning(all_variants):
    rendering = render(all_variants["everything"])
    warnings = [f for f in rendering.findings if f.code == "kmm-tls-insecure"]
    assert len(warnings) == 2 and all("ignore" in f.message for f in warnings)


def test_name_too_long_is_an_error():
    rendering = render(kmm(**{"kmm.name": "a-rather-long-module-name-for-kmm", "kmm.kmm_version": "2.6"}))
    assert any(f.code == "kmm-name-length" for f in rendering.findings if f.severity is Severity.ERROR)


def test_fixed_tag_over_many_kernels_is_caught_in_rendered_output():
    rendering = render(kmm(**{"kmm.container_image": "quay.io/org/kmod:latest"}))
    assert any(f.code == "kmm-image-tag-kernel" for f in rendering.findings if f.severity is Severity.WARNING)


def test_preflight_kernel_without_mapping_is_warned():
    rendering = render(kmm(**{"kmm.kernel_mappings": [{"regexp": r"^.+\.el9_4\.x86_64$"}],
                              "kmm.preflight_kernel": "5.14.0-503.15.1.el9_5.x86_64"}))
    assert "kmm-preflight-no-match" in {f.code for f in rendering.findings}


@pytest.mark.parametrize("values,key", [
    ({"kmm.build": "dockerfile"}, "kmm.dockerfile"),
    ({"kmm.build": "dockerfile", "kmm.dockerfile": "/nonexistent/Dockerfile"}, "kmm.dockerfile"),
    ({"kmm.sign.enabled": True, "kmm.sign.key_file": "/nonexistent/key"}, "kmm.sign.key_file"),
    ({"kmm.source_repo": "https://example.com/x.git; rm -rf /"}, "kmm.source_repo"),
])
def test_bad_inputs_name_the_key(values, key):
    rendering = render(kmm(**values))
    assert not rendering.ok
    assert any(f.where == key for f in rendering.findings if f.severity is Severity.ERROR), \
        [f.format() for f in rendering.findings]


def test_unpaired_entitlement_files(tmp_path):
    (tmp_path / "99.pem").write_text("x")
    rendering = render(kmm(**{"entitlement.source": "certs", "entitlement.certs_dir": str(tmp_path)}))
    found = [f for f in rendering.findings if f.code == "entitlement-unpaired"]
    assert found and "99" in found[0].message and not rendering.files


def test_entitlement_and_signing_files_are_checked_as_for_kvc(tmp_path, certs_dir, signing_files):
    """The certificate directory gets the KVC method's checks; signing files must parse and pair up."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _openssl_pair(tmp_path / "other-key.pem", tmp_path / "other.pem")
    (mixed / "1234.pem").write_bytes((certs_dir / "1234.pem").read_bytes())
    (mixed / "1234-key.pem").write_bytes((tmp_path / "other-key.pem").read_bytes())
    rendering = render(kmm(**{"entitlement.source": "certs", "entitlement.certs_dir": str(mixed)}))
    assert "entitlement-mismatch" in {f.code for f in rendering.findings if f.severity is Severity.ERROR}

    key, der_cert = signing_files
    pem_cert = tmp_path / "signing.pem"
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(der_cert), "-out", str(pem_cert)], check=True)
    sign = {"kmm.sign.enabled": True}
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\x7fELF\x02\x01\x00\xd0\xff")
    for key_file, cert_file, code in [(pem_cert, key, "kmm-sign-file"),            # swapped
                                      (binary, pem_cert, "kmm-sign-file"),
                                      (tmp_path / "other-key.pem", pem_cert, "kmm-sign-pair"),
                                      (key, tmp_path / "other.pem", "kmm-sign-pair")]:
        rendering = render(kmm(**sign, **{"kmm.sign.key_file": str(key_file), "kmm.sign.cert_file": str(cert_file)}))
        assert code in {f.code for f in rendering.findings if f.severity is Severity.ERROR}, (key_file, cert_file)
        if key_file != binary:
            body = Path(key_file).read_bytes().splitlines()[1][:40].decode("latin-1")  # key material, never shown
            assert not any(body in f.format() for f in rendering.findings)
    for cert_file in (pem_cert, der_cert):
        rendering = render(kmm(**sign, **{"kmm.sign.key_file": str(key), "kmm.sign.cert_file": str(cert_file)}))
        assert not errors(rendering), errors(rendering)


@pytest.mark.parametrize("key,value", [
    ("kmm.module_name", "kmm_ci_a.ko"),
    ("kmm.kernel_mappings", [{"regexp": "^.+$", "literal": "5.14.0"}]),
    ("kmm.kernel_mappings", [{"regex": "^.+$"}]),
    ("kmm.kmm_version", "latest"),
    ("kmm.ko_files", ["../escape.ko"]),
    ("kmm.parameters", ["novalue"]),
    ("kmm.build_args", [{"name": "KERNEL_FULL_VERSION", "value": "x"}]),
    ("kmm.namespace", "Bad_Namespace"),
])
def test_answer_validators(key, value):
    problems = [f for f in kmm(**{key: value}).check() if f.where == key]
    assert problems and problems[0].severity is Severity.ERROR


def test_answer_types_are_checked():
    with pytest.raises(AnswersError):
        kmm(**{"kmm.sign.enabled": "perhaps"})


def test_presets_render_without_errors():
    for name in PRESETS:
        rendering = render(Answers.load(ROOT / "presets" / f"{name}.yaml"))
        assert rendering.ok, (name, errors(rendering))
    ci = render(Answers.load(ROOT / "presets" / "kmm-ci.yaml")).manifests[-1]
    container = ci["spec"]["moduleLoader"]["container"]
    assert container["modprobe"]["moduleName"] == "kmm_ci_a"
    assert ci["spec"]["selector"] == {"node-role.kubernetes.io/worker": ""}
    signed = render(Answers.load(ROOT / "presets" / "kmm-signed.yaml")).manifests[-1]["spec"]["moduleLoader"]["container"]
    assert signed["sign"]["keySecret"]["name"] and len(signed["sign"]["filesToSign"]) == 2


def test_generate_writes_secrets_0600(tmp_path, signing_files):
    from kmwizard.cli import main

    key, cert = signing_files
    out = tmp_path / "out"
    code = main(["generate", "--set", "method=kmm", "--set", "kmm.sign.enabled=true",
                 "--set", f"kmm.sign.key_file={key}", "--set", f"kmm.sign.cert_file={cert}", "-o", str(out)])
    assert code == 0
    assert (out / "secret-kmm-ci-a-signing-key.yaml").stat().st_mode & 0o777 == 0o600
    assert (out / "module-kmm-ci-a.yaml").exists() and (out / "Dockerfile").exists()


def test_headless_imports():
    code = ("import sys, kmwizard.kmm.render, kmwizard.kmm.lint, kmwizard.cli.kmm, kmwizard.kmm.kernel_match;"
            "bad = [m for m in ('textual', 'questionary', 'kubernetes') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_given_dockerfile_replaces_the_generated_one(tmp_path):
    own = tmp_path / "Dockerfile"
    own.write_text("FROM registry.redhat.io/ubi9/ubi-minimal\nARG KERNEL_FULL_VERSION\n"
                   "COPY my.ko /opt/lib/modules/${KERNEL_FULL_VERSION}/\nRUN depmod -b /opt ${KERNEL_FULL_VERSION}\n")
    rendering = render(kmm(**{"kmm.dockerfile": str(own)}))
    cm = next(m for m in rendering.manifests if m["kind"] == "ConfigMap")
    assert cm["data"]["dockerfile"] == own.read_text()
    assert rendering.ok


def test_dir_name_cannot_be_empty():
    assert any(f.where == "kmm.dir_name" for f in kmm(**{"kmm.dir_name": ""}).check())
    assert not any(f.where == "kmm.dir_name" for f in kmm(**{"kmm.dir_name": "/srv"}).check())


DOCKERFILE_INSTRUCTIONS = {"FROM", "ARG", "RUN", "COPY", "ADD", "WORKDIR", "ENV", "LABEL", "USER", "CMD",
                           "ENTRYPOINT"}


def logical_lines(dockerfile: str) -> list[str]:
    """Docker's own reading: comments dropped, lines ending in a backslash joined with the next."""
    out, pending = [], ""
    for line in dockerfile.splitlines():
        if line.lstrip().startswith("#") or (not pending and not line.strip()):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        out.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


@pytest.mark.parametrize("source", ["node", "certs", "yum-repo"])
def test_generated_run_commands_are_valid_shell(source, certs_dir):
    """Each logical line is one instruction, and /bin/sh (as `RUN` uses) parses every shell-form RUN."""
    answers = kmm(**{"entitlement.source": source, "entitlement.certs_dir": str(certs_dir),
                     "entitlement.yum_repo": "https://repo.example.com/el9/"})
    text = next(f for f in render(answers).files if f.path == "Dockerfile").content.decode()
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        assert keyword in DOCKERFILE_INSTRUCTIONS, line
        assert not re.search(r"\s(RUN|FROM|COPY|WORKDIR) ", rest), f"two instructions joined: {line}"
        if keyword == "RUN" and not rest.startswith("["):
            check = subprocess.run(["/bin/sh", "-n", "-c", rest], capture_output=True, text=True)
            assert check.returncode == 0, (rest, check.stderr)


@pytest.mark.parametrize("kernel,package", [
    ("5.14.0-427.13.1.el9_4.x86_64", "kernel-devel-5.14.0-427.13.1.el9_4.x86_64"),
    ("5.14.0-427.13.1.el9_4.x86_64+rt", "kernel-rt-devel-5.14.0-427.13.1.el9_4.x86_64"),
    ("5.14.0-284.11.1.rt14.296.el9_2.x86_64", "kernel-rt-devel-5.14.0-284.11.1.rt14.296.el9_2.x86_64"),
    ("5.14.0-427.13.1.el9_4.aarch64+64k", "kernel-64k-devel-5.14.0-427.13.1.el9_4.aarch64"),
    ("4.18.0-372.9.1.el8.x86_64", "kernel-devel-4.18.0-372.9.1.el8.x86_64"),
])
def test_entitled_build_installs_the_node_kernels_devel_package(kernel, package):
    """Run the generated package selection in /bin/sh with the kernel KMM would pass."""
    text = next(f for f in render(kmm(**{"entitlement.source": "yum-repo",
                                         "entitlement.yum_repo": "https://repo.example.com/el9/"})).files
                if f.path == "Dockerfile").content.decode()
    run = next(line for line in logical_lines(text) if "dnf install" in line)
    script = re.sub(r"^RUN ", "", run).replace("dnf install -y", "echo").split("&& dnf clean")[0]
    script = script.replace("printf", ": printf").replace("> /etc/yum.repos.d/kmwizard-kernel.repo", "")
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                            env={"KERNEL_FULL_VERSION": kernel, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == package


@pytest.mark.parametrize("mapping", [
    {"regexp": 5},
    {"regexp": "^.+$", "files_to_sign": "/opt/a.ko"},
    {"regexp": "^.+$", "build_args": [{"name": "A"}]},
    {"regexp": "^.+$", "build": "yes"},
])
def test_mapping_record_shapes(mapping):
    problems = [f for f in kmm(**{"kmm.kernel_mappings": [mapping]}).check() if f.where == "kmm.kernel_mappings"]
    assert problems and "mapping 0" in problems[0].message


def test_yum_repo_build_checks_red_hat_signatures(tmp_path):
    """The .repo the build writes, produced by running the RUN line's printf in /bin/sh and read by
    configparser (as dnf reads it): Red Hat's key checks every package, as for the KVC method."""
    import configparser

    url = "https://repo.example.com/el9/"
    text = next(f for f in render(kmm(**{"entitlement.source": "yum-repo", "entitlement.yum_repo": url})).files
                if f.path == "Dockerfile").content.decode()
    run = next(line for line in logical_lines(text) if "kmwizard-kernel.repo" in line)
    printf = re.sub(r"^RUN ", "", run).split(" && ")[0].replace("/etc/yum.repos.d/", f"{tmp_path}/")
    subprocess.run(["/bin/sh", "-c", printf], check=True)
    repo = configparser.ConfigParser()
    repo.read(tmp_path / "kmwizard-kernel.repo")
    section = repo["kmwizard-kernel"]
    assert section["baseurl"] == url and section["enabled"] == "1"
    assert section["gpgcheck"] == "1" and section["gpgkey"] == "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"


@pytest.mark.parametrize("url", ["ftp://mirror.example.com/el9/", "repo.example.com/el9", "https://x/a b/"])
def test_yum_repo_must_be_an_http_url_for_kmm_too(url):
    rendering = render(kmm(**{"entitlement.source": "yum-repo", "entitlement.yum_repo": url}))
    assert [f.where for f in rendering.findings if f.severity == "error"] == ["entitlement.yum_repo"]
    assert not rendering.files


def test_with_an_acm_hub_the_module_is_sent_by_the_hub_not_applied_too():
    """The ManagedClusterModule makes the hub create the Module on the spokes (local-cluster, the hub itself,
    by default): kmwizard applying the same Module would fight ACM over it."""
    rendering = render(kmm(**{"kmm.acm_hub": True}))
    kinds = [m["kind"] for m in rendering.manifests]
    assert "ManagedClusterModule" in kinds and "Module" not in kinds
    assert not [f for f in rendering.written_files if f.path.startswith("module-")]
    assert [f for f in rendering.files if f.path.startswith("module-")], "still shown in the preview"
    broken = render(kmm(**{"kmm.acm_hub": True, "kmm.modules_loading_order": ["other", "kmm_ci_a"]}))
    assert "kmm-loading-order" in {f.code for f in broken.findings}  # the Module inside is still checked
