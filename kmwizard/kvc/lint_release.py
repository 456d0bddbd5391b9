"""Findings that depend on the OpenShift release, judged release by release.

Each rule returns a ``Verdict`` for one release (facts in ``kmwizard.kvc.releases``).  With a
release given, its verdicts are the findings.  Without one, every release from 4.6 to 4.23 is
judged and the verdicts are merged: an error stays an error only when no release accepts the
config as written; a problem of some releases only becomes a warning naming them.
"""
from __future__ import annotations

from kmwizard.records import record
from typing import Any, Callable, Iterable, Optional

from kmwizard.findings import Finding, Severity, error, warning
from kmwizard.kvc import releases

Rule = Callable[[int], list["Verdict"]]


@record(frozen=True)
class Verdict:
    topic: str          # the same problem on several releases shares a topic
    at: str             # where, as in Finding.where
    severity: Severity  # ERROR: that release rejects it or it never works; WARNING: it silently changes
    message: str        # names the culprit; must not depend on the release (the merge adds them)
    fix: str
    code: str


def assumed_minors(openshift_version: Optional[str]) -> tuple[tuple[int, ...], bool]:
    """(releases to judge, whether the user named one); an unparsable version judges all."""
    if openshift_version:
        try:
            return (releases.minor_of(openshift_version),), True
        except Exception:  # the answer's own validation reports a bad version
            pass
    return releases.ALL_MINORS, False


def judge(rules: Iterable[Rule], openshift_version: Optional[str]) -> list[Finding]:
    minors, explicit = assumed_minors(openshift_version)
    groups: dict[tuple[str, str], dict[int, Verdict]] = {}
    for rule in rules:
        for minor in minors:
            for verdict in rule(minor):
                groups.setdefault((verdict.topic, verdict.at), {})[minor] = verdict
    return [_merge(by_minor, minors, explicit) for by_minor in groups.values()]


def _merge(by_minor: dict[int, Verdict], minors: tuple[int, ...], explicit: bool) -> Finding:
    verdicts = list(by_minor.values())
    worst = next((v for v in verdicts if v.severity is Severity.ERROR), verdicts[0])
    if explicit:
        (minor, verdict), = by_minor.items()
        make = error if verdict.severity is Severity.ERROR else warning
        return make(verdict.at, f"{verdict.message} (OpenShift {releases.label(minor)})", verdict.fix,
                    verdict.code)
    messages: dict[str, list[int]] = {}
    for minor, verdict in sorted(by_minor.items()):
        messages.setdefault(verdict.message, []).append(minor)
    text = "; ".join(f"{message} (OpenShift {releases.spans(hit)})" for message, hit in messages.items())
    untouched = [m for m in minors if m not in by_minor]
    everywhere = not untouched
    if untouched:
        text += f"; fine on OpenShift {releases.spans(untouched)}"
    text += f" [no --openshift-version given: judged for {releases.spans(minors)}]"
    severity_error = everywhere and worst.severity is Severity.ERROR
    make = error if severity_error else warning
    return make(worst.at, text, worst.fix, worst.code)


def _v(topic, at, severity, message, fix, code) -> Verdict:
    return Verdict(topic, at, severity, message, fix, code)


# --- the Ignition config ------------------------------------------------------------------------------

def _newest_specs() -> str:
    parts, previous = [], None
    for minor in releases.ALL_MINORS:
        top = releases.ignition3_versions(minor)[-1]
        if top != previous:
            parts.append(f"{top} from {releases.label(minor)}")
            previous = top
    return ", ".join(parts)


SPEC_FIX = (f"use a spec version the target release parses: 2.2.0 or 3.0.0 up to the newest of each "
            f"release ({_newest_specs()})")


def spec_version_rule(version: str, at: str) -> Rule:
    """Mirrors pkg/controller/common/helpers.go IgnParseWrapper of each release branch."""
    def rule(minor: int) -> list[Verdict]:
        if releases.parses_spec(minor, version):
            return []
        newest = releases.LAST_MINOR
        ever = any(releases.parses_spec(m, version) for m in releases.ALL_MINORS)
        message = (f"ignition.version {version} is not parsed by the MCO: the pool stops rendering"
                   + ("" if ever else f" (no release up to {releases.label(newest)} parses it)"))
        return [_v("spec-version", at, Severity.ERROR, message,
                   SPEC_FIX, "ign-version")]
    return rule


def file_rules(path: str, at: str, mode: Any, spec: str) -> list[Rule]:
    rules: list[Rule] = []
    if isinstance(mode, int) and not isinstance(mode, bool) and 0o777 < mode <= 0o7777:
        def mode_rule(minor: int) -> list[Verdict]:
            """Mirrors helpers.go validateIgn3FileModes (release-4.10+) and, from release-4.13,
            IgnParseWrapper's translation of specs <= 3.3 to 3.4, which clears the special bits."""
            plain = mode & 0o777
            if releases.special_mode_outcome(minor, spec) == "dropped":
                return [_v("mode", at, Severity.WARNING,
                           f"file {path!r}: mode {mode:#o} has setuid/setgid/sticky bits, which are dropped "
                           f"silently: the file lands {plain:#o}",
                           f"give mode {plain} ({plain:#o}); set the special bits at runtime if you need them",
                           "mco-mode-dropped")]
            return [_v("mode", at, Severity.ERROR,
                       f"file {path!r}: mode {mode:#o} has setuid/setgid/sticky bits; the MCO rejects modes "
                       "above 0777 (the pool stops rendering)",
                       f"give mode {plain} ({plain:#o}) (chmod u-s,g-s,-t)", "mco-mode")]
        rules.append(mode_rule)
    if path == releases.FORCE_FILE:
        def force_rule(minor: int) -> list[Verdict]:
            """Mirrors the reconcilable check (daemon/update.go, from release-4.16
            controller/common/reconcile.go): "cannot create ... via Ignition" from release-4.12."""
            if releases.rejects_force_file(minor):
                return [_v("force", at, Severity.ERROR,
                           f"file {path}: the MCO refuses to create it (it makes the daemon skip its checks)",
                           "remove the file from the config", "mco-force-file")]
            return [_v("force", at, Severity.WARNING,
                       f"file {path}: it makes the machine-config-daemon skip its on-disk validation",
                       "remove the file from the config", "mco-force-file")]
        rules.append(force_rule)
    return rules


def gzip_rule(paths: list[str], at: str) -> Rule:
    """One verdict for all compressed files of a config."""
    def rule(minor: int) -> list[Verdict]:
        """Mirrors the daemon's writeFiles before release-4.10 (BZ 1970218): it writes the
        compressed bytes as they are, and its on-disk check ignores compression."""
        if not releases.writes_gzip_verbatim(minor):
            return []
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        return [_v("gzip", at, Severity.ERROR,
                   f"{len(paths)} file(s) use gzip compression ({shown}): before OpenShift 4.10 the daemon "
                   "writes the compressed bytes verbatim (BZ 1970218) and nothing reports it",
                   "do not compress files for releases before 4.10", "mco-gzip-old")]
    return rule


def enabled_unit_rule(name: str, at: str, has_contents: bool, day: Optional[int]) -> Optional[Rule]:
    """A template instance (foo@bar.service) enabled without contents."""
    stem, _, rest = name.partition("@")
    if not rest or rest.startswith(".") or has_contents:
        return None

    def rule(minor: int) -> list[Verdict]:
        """Mirrors daemon/update.go (*Daemon).writeUnits (release-4.20+ skips a unit without contents
        that is not a unit file) and Ignition's createSystemdPresetFile (systemd 240+)."""
        found = []
        if not releases.preset_enables_instance(minor):
            found.append(_v("instance-preset", at, Severity.WARNING,
                            f"unit {name!r} is a template instance: Ignition enables it with a preset line "
                            f"that systemd {releases.systemd_version(minor)} (RHCOS before 4.13) ignores; a "
                            "node booting with this config relies on the firstboot daemon to enable it",
                            "enable a unit with contents instead (kmwizard: kvc.enable_style=require-unit)",
                            "ign-instance-preset"))
        if day != 1 and not releases.daemon_enables_without_contents(minor):
            found.append(_v("instance-day2", at, Severity.ERROR,
                            f"unit {name!r} is enabled without contents: from OpenShift 4.20 the "
                            "machine-config-daemon skips such a unit on day 2 unless a unit file of exactly "
                            "that name exists, and a template instance never is one, so it is never enabled "
                            "on the running nodes",
                            f"enable a unit with contents that requires {name} (kmwizard: "
                            "kvc.enable_style=require-unit)", "mco-instance-not-enabled"))
        return found
    return rule


# --- the MachineConfig --------------------------------------------------------------------------------

def kernel_type_rule(kernel_type: Any, at: str) -> Rule:
    def rule(minor: int) -> list[Verdict]:
        """Mirrors helpers.go ValidateMachineConfig: an invalid kernelType stops the pool rendering."""
        valid = releases.kernel_types(minor)
        if kernel_type in valid:
            return []
        return [_v("kernel-type", at, Severity.ERROR,
                   f"spec.kernelType {kernel_type!r} is not valid: the whole pool stops rendering",
                   "use " + ", ".join(repr(k) for k in valid if k) + " or leave it out", "mco-kernel-type")]
    return rule


def extensions_rule(exts: Any, at: str) -> Rule:
    def rule(minor: int) -> list[Verdict]:
        """Mirrors validateExtensions (daemon/update.go up to release-4.15, then
        controller/common/helpers.go)."""
        if not isinstance(exts, list):
            return [_v("extensions", at, Severity.ERROR, f"spec.extensions must be a list, got {exts!r}",
                       "write extensions: [kernel-devel]", "mco-extensions")]
        supported = releases.extensions(minor)
        bad = [e for e in exts if e not in supported]
        if not bad:
            return []
        return [_v("extensions", at, Severity.ERROR, f"spec.extensions {bad!r} are not RHCOS extensions",
                   "use only " + ", ".join(supported), "mco-extensions")]
    return rule

