"""What each OpenShift release does with a MachineConfig, in one place.

Every fact here was read from the release branches (release-4.6 ... release-4.23) of
github.com/openshift/machine-config-operator (the MCO) or is a property of the RHCOS of that
release; the function named in each docstring is where.  docs/kvc-machineconfig.md explains them.
"""
from __future__ import annotations

from typing import Iterable

from kmwizard.findings import KmwizardError
from kmwizard.regexps import lazy

FIRST_MINOR, LAST_MINOR = 6, 23          # the release branches these facts were read from
ALL_MINORS = tuple(range(FIRST_MINOR, LAST_MINOR + 1))

_VERSION = lazy(r"^4\.(\d{1,2})(?:\.\d+)?$")


def minor_of(openshift_version) -> int:
    """6 for "4.6" (or "4.6.12"); a KmwizardError for anything that is not OpenShift 4.6 or later."""
    match = _VERSION.match(str(openshift_version).strip())
    if not match or int(match.group(1)) < FIRST_MINOR:
        raise KmwizardError(
            f"openshift_version {openshift_version!r} is not an OpenShift 4 release from 4.6 on",
            "write it like \"4.14\" (MachineConfigs with Ignition 3 need OpenShift 4.6 or later)")
    return int(match.group(1))


def label(minor: int) -> str:
    return f"4.{minor}"


def spans(minors: Iterable[int]) -> str:
    """"4.6-4.9, 4.13" for (6, 7, 8, 9, 13): consecutive releases as ranges."""
    ordered = sorted(set(minors))
    parts, start = [], None
    for i, minor in enumerate(ordered):
        start = minor if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != minor + 1:
            parts.append(label(start) if start == minor else f"{label(start)}-{label(minor)}")
            start = None
    return ", ".join(parts)


# --- the node ---------------------------------------------------------------------------------------

def rhel_major(minor: int) -> int:
    """RHCOS is built from RHEL 8 up to 4.12 and from RHEL 9 from 4.13 (el8 / el9 kernels)."""
    return 8 if minor <= 12 else 9


def systemd_version(minor: int) -> int:
    """systemd of RHCOS: 239 on RHEL 8, 252 on RHEL 9."""
    return 239 if rhel_major(minor) == 8 else 252


# --- Ignition spec versions (pkg/controller/common/helpers.go IgnParseWrapper) -----------------------

def ignition3_versions(minor: int) -> tuple[str, ...]:
    """Ignition 3 spec versions IgnParseWrapper parses: up to 3.1 on 4.6, 3.2 on 4.7-4.12, 3.4 on
    4.13-4.18 (ign3_4.ParseCompatibleVersion), 3.5 from 4.19.  No release parses 3.6."""
    top = 1 if minor == 6 else 2 if minor <= 12 else 4 if minor <= 18 else 5
    return tuple(f"3.{n}.0" for n in range(top + 1))


IGNITION2_VERSIONS = ("2.0.0", "2.1.0", "2.2.0")   # ign2 (config/v2_2) Parse translates 2.0 and 2.1 up


def parses_spec(minor: int, version: str) -> bool:
    """Spec 2.x up to 2.2 is parsed by every release and converted to 3 (ParseAndConvertConfig)."""
    return version in IGNITION2_VERSIONS or version in ignition3_versions(minor)


def butane_spec_version(minor: int) -> str:
    """The spec version Butane's openshift variant emits for this release (what kmwizard writes)."""
    if minor <= 7:
        return "3.1.0"      # 4.7 would take 3.2, but 3.1 is what its docs use
    if minor <= 13:
        return "3.2.0"      # 4.13 accepts 3.4 but translates it down to 3.2 anyway
    return "3.4.0" if minor <= 18 else "3.5.0"


def _spec_tuple(version: str) -> tuple[int, int]:
    major, minor_, *_ = (int(p) for p in version.split("-")[0].split("."))
    return major, minor_


def special_mode_outcome(minor: int, version: str) -> str:
    """What happens to a file mode with setuid/setgid/sticky bits (above 0777):

    * "dropped": written without the bits.  Before 4.10 nothing checks and Go's os.FileMode drops
      the Unix bits; from 4.13 a config of spec 3.3 or older is first translated to 3.4, which
      clears them (mode & ^07000), before the check sees it.
    * "rejected": ValidateIgnition's validateIgn3FileModes (BZ 2038240, release-4.10 on) refuses
      modes above 0777 (on 4.13 a 3.4 config is refused one step earlier, by IgnParseWrapper's
      3.4->3.3 translation); the pool stops rendering.

    Checked against the MCO's own ValidateMachineConfig/ParseAndConvertConfig of release-4.6, 4.12
    and 4.13 (Go, vendored dependencies), and Go's os.File.Chmod dropping the bits (4.6 daemon).
    """
    if minor < 10:
        return "dropped"
    if minor >= 13 and _spec_tuple(version) <= (3, 3):
        return "dropped"
    return "rejected"


def writes_gzip_verbatim(minor: int) -> bool:
    """Before 4.10 the daemon writes compressed contents as they are (BZ 1970218)."""
    return minor < 10


# --- MachineConfig fields (helpers.go ValidateMachineConfig, validateExtensions) ----------------------

def kernel_types(minor: int) -> tuple[str, ...]:
    """Valid spec.kernelType values: "", default, realtime; 64k-pages from release-4.15."""
    return ("", "default", "realtime") + (("64k-pages",) if minor >= 15 else ())


def extensions(minor: int) -> tuple[str, ...]:
    """RHCOS extensions (daemon/update.go getSupportedExtensions up to 4.15, then
    controller/common/helpers.go SupportedExtensions)."""
    found = ["usbguard", "kernel-devel"]
    if minor >= 8:
        found.append("sandboxed-containers")
    if minor >= 11:
        found.append("kerberos")
    if minor >= 14:
        found += ["ipsec"] + (["wasm"] if minor <= 21 else [])
    if minor >= 18:
        found.append("sysstat")
    if minor >= 19:
        found.append("two-node-ha")
    return tuple(sorted(found))


FORCE_FILE = "/run/machine-config-daemon-force"


def rejects_force_file(minor: int) -> bool:
    """From release-4.12 the reconcilable check refuses a file at /run/machine-config-daemon-force
    ("cannot create ... via Ignition"; daemon/update.go, from 4.16 controller/common/reconcile.go)."""
    return minor >= 12


# --- enabling units -----------------------------------------------------------------------------------

def daemon_enables_without_contents(minor: int) -> bool:
    """Day 2, daemon/update.go (*Daemon).writeUnits: up to release-4.19 every unit with
    ``enabled: true`` is passed to ``systemctl enable``.  From release-4.20 (OCPBUGS-56648) only a
    unit with contents, or one whose name is the base name of a unit file systemd lists
    (listSystemdUnits), is; a template instance is never such a file, so it is skipped."""
    return minor <= 19


def preset_enables_instance(minor: int) -> bool:
    """First boot: Ignition writes ``enable foo@.service bar`` into a preset file for an enabled
    instance (internal/exec/stages/files/units.go createSystemdPresetFile); systemd reads that form
    from v240 on."""
    return systemd_version(minor) >= 240
