"""Where the node's build finds kernel-devel for the running kernel: the entitlement payload.

``Dockerfile.rhel`` installs ``kernel-devel-$KVER`` from RHEL repositories.  Three ways:

* ``node``: nothing is added.  The nodes must already be entitled: podman on RHCOS mounts
  the host's ``/etc/pki/entitlement`` into every build through
  ``/usr/share/rhel/secrets`` (seen as ``/run/secrets/etc-pki-entitlement``), where the UBI
  image's dnf finds it.
* ``certs``: the ``<serial>.pem`` / ``<serial>-key.pem`` pairs of an entitled RHEL host are
  delivered to ``/etc/pki/entitlement/`` (keys 0600), so the same mount carries them into
  the build.  They are checked here: pairs complete, certificate and key parse and
  belong together, expiry.
* ``yum-repo``: the build must see a repository carrying the node's kernel packages.  The
  framework runs ``podman build --file $KMOD_CONTAINER_BUILD_FILE ...
  $KMOD_CONTAINER_BUILD_CONTEXT``; podman reads an absolute ``--file`` from the host even
  when the context is a git URL.  So kmwizard delivers a copy of the module's Dockerfile,
  with a step that writes the ``.repo`` file added at the start of each stage that runs
  commands, to ``/etc/kvc/<name>-build/Dockerfile``, and points
  ``KMOD_CONTAINER_BUILD_FILE`` at it.  The context stays the module repository, so its
  ``ADD``/``COPY`` lines keep working.

Certificates are read with a small DER reader (``kmwizard.der``, shared with KMM's signing files) rather than a dependency:
``cryptography`` is not pulled in by anything kmwizard requires, and shelling out to
``openssl`` would need it installed and would pass key material through another program.
Key material never appears in findings or notes; ``EntitlementPayload`` does not print it.

Both methods use this module (KMM's build secret and signing files, its generated Dockerfile's
yum repository), so it sits below ``kvc/`` and ``kmm/`` and neither method imports the other.
"""
from __future__ import annotations

import re
import shlex
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Optional, Union

from kmwizard.der import (EXPIRY_WARNING_DAYS, CertInfo, expiry_state, read_certificate,  # noqa: F401 (re-exported)
                          read_private_key_public_part)
from kmwizard.findings import Finding, error, info, warning
from kmwizard.records import field, record
from kmwizard.regexps import lazy
from kmwizard.textfiles import DOCKERFILE_MAX, KEY_MAX, InputFileError, pseudo_filesystem, read_regular_file

ENTITLEMENT_DIR = "/etc/pki/entitlement"
REPO_ID = "kmwizard-kernel"
REPO_PATH = f"/etc/yum.repos.d/{REPO_ID}.repo"
RH_GPG_KEY = "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"

_SERIAL = lazy(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@record(frozen=True)
class EntitlementPayload:
    files: dict = field(default_factory=dict, repr=False)  # node path -> (bytes, mode); may hold keys
    secret_paths: frozenset = frozenset()                   # node paths whose content is key material
    conf_overrides: dict = field(default_factory=dict)      # instance conf KEY -> value
    findings: tuple = ()
    notes: tuple = ()


def build_file_path(module_name: str) -> str:
    return f"/etc/kvc/{module_name}-build/Dockerfile"


def entitlement_files(source: str, *, certs_dir: Optional[str] = None, yum_repo: Optional[str] = None,
                      module_name: str, module_dir: Optional[Path] = None,
                      build_file: str = "Dockerfile.rhel",
                      today: Optional[Union[date, datetime]] = None) -> EntitlementPayload:
    """The files, conf overrides, findings and notes for ``entitlement.source``.

    ``module_dir`` is the module repository's source tree (``fetch.obtain_sources``); the
    yum-repo design reads ``build_file`` from it.
    """
    if source == "node":
        return EntitlementPayload(notes=(
            "entitlement.source is node: the config adds no entitlement. Each node's build of "
            f"kmods-via-containers@{module_name}.service must reach kernel-devel and kernel-headers for the "
            "kernel it runs (and for every kernel an upgrade brings): the node needs RHEL entitlement "
            f"certificates in {ENTITLEMENT_DIR}/ (podman passes them into builds as "
            "/run/secrets/etc-pki-entitlement), or the build fails and the module is not loaded.",))
    if source == "certs":
        return _certs_payload(certs_dir, today)
    if source == "yum-repo":
        return _yum_repo_payload(yum_repo, module_name, module_dir, build_file)
    return EntitlementPayload(findings=(error("entitlement.source", f"unknown entitlement.source {source!r}",
                                              "choose node, certs or yum-repo", code="entitlement-source"),))


# --- certs ------------------------------------------------------------------------------

def _certs_payload(certs_dir: Optional[str], today) -> EntitlementPayload:
    where = "entitlement.certs_dir"
    if not certs_dir:
        return _failed(error(where, "entitlement.source is certs but entitlement.certs_dir is empty",
                             f"give the directory holding <serial>.pem and <serial>-key.pem (as {ENTITLEMENT_DIR} "
                             "on an entitled RHEL host)", code="entitlement-certs-dir"))
    directory = Path(certs_dir).expanduser()
    if pseudo_filesystem(directory):
        return _failed(error(where, f"entitlement.certs_dir {certs_dir!r} lies in {pseudo_filesystem(directory)}, "
                             "whose files the kernel generates", f"copy {ENTITLEMENT_DIR} from an entitled RHEL "
                             "host into a normal directory and give its path", code="entitlement-certs-dir"))
    if not directory.is_dir():
        return _failed(error(where, f"entitlement.certs_dir {certs_dir!r} is not a directory",
                             f"copy {ENTITLEMENT_DIR} from an entitled RHEL host and give its path",
                             code="entitlement-certs-dir"))
    now = _as_datetime(today)
    findings: list[Finding] = []
    certs, keys, ignored = {}, {}, []
    for path in sorted(directory.iterdir()):
        name = path.name
        if not name.endswith(".pem") or not path.is_file():
            ignored.append(name)
            continue
        stem = name[:-len("-key.pem")] if name.endswith("-key.pem") else name[:-len(".pem")]
        if not _SERIAL.match(stem):
            findings.append(error(where, f"{path}: {name!r} is not named <serial>.pem or <serial>-key.pem",
                                  "keep the names an entitled host uses", code="entitlement-name"))
            continue
        (keys if name.endswith("-key.pem") else certs)[stem] = path
    if ignored:
        findings.append(info(where, f"ignored in {directory}: {', '.join(ignored)} (only <serial>.pem and "
                                    "<serial>-key.pem files are delivered)", code="entitlement-ignored"))

    files, secret_paths = {}, set()
    for stem in sorted(set(certs) | set(keys)):
        cert_path, key_path = certs.get(stem), keys.get(stem)
        if cert_path is None:
            findings.append(error(where, f"{key_path} has no certificate {stem}.pem next to it",
                                  f"copy {stem}.pem too, or remove the stray key", code="entitlement-unpaired"))
            continue
        if key_path is None:
            findings.append(error(where, f"{cert_path} has no key {stem}-key.pem next to it",
                                  f"copy {stem}-key.pem too, or remove the stray certificate",
                                  code="entitlement-unpaired"))
            continue
        try:  # regular files of a sane size only: never a FIFO, a device or a /proc file
            cert_bytes = read_regular_file(cert_path, what="certificate", limit=KEY_MAX)
            key_bytes = read_regular_file(key_path, what="key", limit=KEY_MAX)
        except InputFileError as exc:
            findings.append(error(where, exc.message, exc.fix, code="entitlement-unreadable"))
            continue
        try:
            cert = read_certificate(cert_bytes)
        except ValueError as exc:
            findings.append(error(where, f"{cert_path} is not a usable certificate: {exc}",
                                  "copy the file again from the entitled host", code="entitlement-bad-cert"))
            continue
        try:
            key_public = read_private_key_public_part(key_bytes)
        except ValueError as exc:
            findings.append(error(where, f"{key_path} is not a usable private key: {exc}",
                                  "copy the file again from the entitled host", code="entitlement-bad-key"))
            continue
        if key_public is not None and key_public != cert.public_key:
            findings.append(error(where, f"{key_path} does not belong to the certificate {cert_path}",
                                  "copy the matching pair from the same host", code="entitlement-mismatch"))
            continue
        findings.extend(_expiry(cert, cert_path, now, where))
        files[f"{ENTITLEMENT_DIR}/{stem}.pem"] = (cert_bytes, 0o644)
        files[f"{ENTITLEMENT_DIR}/{stem}-key.pem"] = (key_bytes, 0o600)
        secret_paths.add(f"{ENTITLEMENT_DIR}/{stem}-key.pem")
    if not certs and not keys:
        findings.append(error(where, f"{directory} holds no <serial>.pem / <serial>-key.pem pair",
                              f"copy {ENTITLEMENT_DIR} from an entitled RHEL host", code="entitlement-empty"))
    notes = ()
    if files:
        notes = (f"the entitlement keys go to {ENTITLEMENT_DIR} on every node of the pool (mode 0600); anyone "
                 "allowed to `get machineconfigs` (cluster readers) can read them in the MachineConfig. "
                 "Certificates expire: generate the config again with fresh ones before then.",)
    return EntitlementPayload(files=files, secret_paths=frozenset(secret_paths), findings=tuple(findings),
                              notes=notes)


def _expiry(cert: CertInfo, path: Path, now: datetime, where: str) -> list[Finding]:
    day = f"{cert.not_after:%Y-%m-%d %H:%M} UTC"
    found = []
    if cert.not_before > now:
        found.append(warning(where, f"{path} is not valid before {cert.not_before:%Y-%m-%d %H:%M} UTC",
                             "check the host's clock and the certificate", code="entitlement-not-yet-valid"))
    state = expiry_state(cert, now)
    if state == "expired":
        found.append(warning(where, f"{path} expired on {day}: builds on the nodes will be refused",
                             "use current certificates from an entitled host", code="entitlement-expired"))
    elif state == "expiring":
        found.append(warning(where, f"{path} expires on {day}, within {EXPIRY_WARNING_DAYS} days; kernel "
                                    "updates after that fail to build", "renew it and generate the config again",
                             code="entitlement-expiring"))
    return found


def _as_datetime(today) -> datetime:
    if today is None:
        return datetime.now(timezone.utc)
    if isinstance(today, datetime):
        return today if today.tzinfo else today.replace(tzinfo=timezone.utc)
    return datetime(today.year, today.month, today.day, tzinfo=timezone.utc)


def _failed(finding: Finding) -> EntitlementPayload:
    return EntitlementPayload(findings=(finding,))


# --- yum-repo -----------------------------------------------------------------------------

def repo_file(baseurl: str) -> str:
    return (f"[{REPO_ID}]\n"
            "name=Kernel packages for the nodes (added by kmwizard)\n"
            f"baseurl={baseurl}\n"
            "enabled=1\n"
            "gpgcheck=1\n"
            f"gpgkey={RH_GPG_KEY}\n")


def _check_repo_url(url: Optional[str]) -> Optional[Finding]:
    where = "entitlement.yum_repo"
    if not url:
        return error(where, "entitlement.source is yum-repo but entitlement.yum_repo is empty",
                     "give the baseurl of a repository carrying kernel-devel and kernel-headers for the nodes' "
                     "kernels", code="entitlement-yum-repo")
    from kmwizard.keys import yum_repo_url

    problem = yum_repo_url(url, None)
    if problem:
        return error(where, f"entitlement.yum_repo {problem}", "give e.g. https://repo.example.com/rhel9/",
                     code="entitlement-yum-repo")
    return None


def _yum_repo_payload(url: Optional[str], module_name: str, module_dir: Optional[Path],
                      build_file: str) -> EntitlementPayload:
    problem = _check_repo_url(url)
    if problem:
        return _failed(problem)
    findings = []
    if url.startswith("http://"):
        findings.append(warning("entitlement.yum_repo", f"entitlement.yum_repo {url!r} is plain http; "
                                "gpgcheck=1 still checks the packages' signatures", "prefer https://",
                                code="entitlement-yum-repo-http"))
    if module_dir is None:
        return _failed(error("entitlement.source", "entitlement.source yum-repo adds the repository to the module's "
                             f"{build_file}, but no module repository sources were given to read it from (a tree "
                             "given as kvc.fakeroot has none)", "unset kvc.fakeroot so kmwizard fetches "
                             "kvc.module_repo, or use entitlement.source node or certs",
                             code="entitlement-yum-repo-dockerfile"))
    dockerfile = Path(module_dir) / build_file
    if not dockerfile.is_file():
        return _failed(error("kvc.build_file", f"{build_file!r} is not in the module repository ({module_dir})",
                             "set kvc.build_file to the Dockerfile the node builds with",
                             code="entitlement-yum-repo-dockerfile"))
    try:  # a regular file of sane size: a FIFO in a repository must not block the preview
        original = read_regular_file(dockerfile, what="Dockerfile", limit=DOCKERFILE_MAX).decode("utf-8")
    except InputFileError as exc:
        return _failed(error("kvc.build_file", exc.message, "fix the Dockerfile", code="entitlement-yum-repo-dockerfile"))
    except UnicodeDecodeError:
        return _failed(error("kvc.build_file", f"{dockerfile} is not UTF-8 text", "fix the Dockerfile",
                             code="entitlement-yum-repo-dockerfile"))
    derived, stages = add_repo_to_dockerfile(original, repo_file(url))
    if not stages:
        return _failed(error("kvc.build_file", f"{dockerfile} has no stage that runs commands, so a yum "
                             "repository changes nothing", "use entitlement.source node, or a Dockerfile that "
                             "installs the kernel packages", code="entitlement-yum-repo-dockerfile"))
    target = build_file_path(module_name)
    findings.append(info("entitlement.yum_repo", f"{target} is {build_file} of the module repository with "
                         f"{REPO_PATH} (baseurl {url}) written at the start of {len(stages)} build stage(s); "
                         "KMOD_CONTAINER_BUILD_FILE points at it", code="entitlement-yum-repo"))
    notes = (f"the repository {url} must carry kernel-devel, kernel-headers (and what the Dockerfile installs) "
             "for the exact kernel each node runs, and keep carrying them for every kernel a cluster upgrade "
             f"brings, signed with Red Hat's key (gpgcheck=1). {target} is a snapshot of {build_file}: generate "
             "the config again when the module repository changes it.",)
    return EntitlementPayload(files={target: (derived.encode("utf-8"), 0o644)},
                              conf_overrides={"KMOD_CONTAINER_BUILD_FILE": target},
                              findings=tuple(findings), notes=notes)


def add_repo_to_dockerfile(text: str, repo: str) -> tuple[str, list[int]]:
    """The Dockerfile with a RUN writing the repo file after each FROM whose stage has a RUN;
    and the 1-based line numbers of those FROMs."""
    lines = text.split("\n")
    escape = "\\"
    for line in lines:  # parser directives come first: `# escape=``
        directive = re.match(r"^#\s*escape\s*=\s*(\S)\s*$", line, re.I)
        if directive:
            escape = directive.group(1)
            continue
        if not re.match(r"^#\s*\w+\s*=", line):
            break
    # Logical instructions: (first line index, last line index, keyword).
    instructions, index = [], 0
    while index < len(lines):
        first = index
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        while lines[index].rstrip().endswith(escape) and index + 1 < len(lines):
            index += 1
        instructions.append((first, index, stripped.split(None, 1)[0].upper()))
        index += 1
    froms = [i for i, (_, _, word) in enumerate(instructions) if word == "FROM"]
    targets, stages = [], []
    for n, at in enumerate(froms):
        stage_end = froms[n + 1] if n + 1 < len(froms) else len(instructions)
        if any(word == "RUN" for _, _, word in instructions[at + 1:stage_end]):
            targets.append(instructions[at][1])  # last physical line of that FROM
            stages.append(instructions[at][0] + 1)
    command = "RUN printf '%s\\n' " + " ".join(shlex.quote(line) for line in repo.rstrip("\n").split("\n")) + \
        f" > {REPO_PATH}"
    added = ["# Added by kmwizard (entitlement.source yum-repo): the repository with the nodes' kernel packages.",
             command]
    for line_index in reversed(targets):
        lines[line_index + 1:line_index + 1] = added
    return "\n".join(lines), stages
