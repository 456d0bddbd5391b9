"""Answers: one immutable value holding every choice the user made.

Answers are stored as explicitly given dotted keys; anything not given falls back to
the key's default (which may depend on other answers).  Replacing a value returns a
new ``Answers``, so a front end can hold one in a reactive and compare for changes,
and the renderer can cache on it (it is hashable).

Answer files are YAML, nested by the dots (``kvc: {module_repo: ...}``) with a
``format_version``; presets are answer files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from kmwizard.findings import Finding, UsageError, error
from kmwizard.keys import KEYS, KeySpec, spec_for

FORMAT_VERSION = 1


class AnswersError(UsageError):
    """Answers that cannot be loaded: carries every problem at once as findings."""

    def __init__(self, findings: list[Finding], source: str = "") -> None:
        self.findings = findings
        lines = "\n".join("  " + f.format() for f in findings)
        super().__init__(f"{source + ': ' if source else ''}{len(findings)} problem(s) in the answers:\n{lines}")


def _freeze(value: Any) -> Any:
    """Lists become tuples and mappings become sorted tuples of pairs, so Answers hash."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return FrozenMap((k, _freeze(v)) for k, v in value.items())
    return value


def thaw(value: Any) -> Any:
    """The plain YAML/JSON form of a frozen value."""
    if isinstance(value, FrozenMap):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


class FrozenMap(Mapping):
    """A small immutable, hashable mapping that keeps insertion order."""

    __slots__ = ("_items", "_dict")

    def __init__(self, items: Iterable[tuple[str, Any]] = ()) -> None:
        self._items = tuple(items)
        self._dict = dict(self._items)

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self):
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"FrozenMap({dict(self._items)!r})"


def _type_problem(spec: KeySpec, value: Any) -> str | None:
    problem = _type_problem_of(spec, value)
    # Name the value as the user wrote it (a list, a mapping), not as it is stored (tuple, FrozenMap).
    return problem.replace(repr(value), repr(thaw(value))) if problem else None


def _type_problem_of(spec: KeySpec, value: Any) -> str | None:
    kind = spec.kind
    if kind in ("str", "choice") and not isinstance(value, str):
        return f"must be a string, got {type(value).__name__} {value!r}"
    if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"must be a whole number, got {type(value).__name__} {value!r}"
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if kind == "list" and not (isinstance(value, tuple) and all(isinstance(v, (str, int, float)) for v in value)):
        return f"must be a list of strings, got {value!r}"
    if kind == "map" and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        return f"must be a mapping of names to values, got {value!r}"
    if kind == "records" and not (isinstance(value, tuple) and all(isinstance(v, Mapping) for v in value)):
        return f"must be a list of mappings, got {value!r}"
    if spec.choices and value not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        return f"{value!r} is not one of the allowed values: {allowed}"
    return None


def _coerce(spec: KeySpec, value: Any) -> Any:
    """Accept the obvious spellings: "2" for an int key, "true" for a bool key, YAML text
    for structured keys (so ``--set kmm.build_args='[{name: A, value: b}]'`` works)."""
    if isinstance(value, str) and spec.kind == "int" and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, str) and spec.kind in ("bool", "map", "records"):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return value  # the type check names the key and what it takes
    if isinstance(value, str) and spec.kind == "list":
        text = value.strip()
        if text.startswith("["):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                return value
        else:
            return tuple(v.strip() for v in text.split(",") if v.strip())
    if spec.kind == "str" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric tag or ref written unquoted; floats stay floats (4.10 would read 4.1)
    return _freeze(value)


class Answers:
    """Immutable set of answers.  ``get`` falls back to the key's default."""

    __slots__ = ("_values", "_hash")

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        frozen = FrozenMap(sorted((k, _freeze(v)) for k, v in (values or {}).items()))
        object.__setattr__(self, "_values", frozen)
        object.__setattr__(self, "_hash", hash(frozen))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Answers are immutable: use .set(key, value)")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answers) and self._values == other._values

    def __repr__(self) -> str:
        return f"Answers({dict(self._values)!r})"

    # -- reading --
    def get(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        return spec_for(key).default_for(self)

    def is_set(self, key: str) -> bool:
        return key in self._values

    @property
    def explicit(self) -> Mapping[str, Any]:
        """Only what the user gave (what an answer file saves)."""
        return self._values

    def relevant_keys(self) -> list[str]:
        method = self.get("method")
        return [k for k, s in KEYS.items() if method in s.methods]

    # -- changing --
    def set(self, key: str, value: Any) -> "Answers":
        """A new Answers with key set; raises AnswersError naming the key on a bad value."""
        spec = spec_for(key)
        value = _coerce(spec, value)
        problem = _type_problem(spec, value)
        if problem:
            raise AnswersError([error(key, problem, _fix_for(spec), code="answer-type")])
        values = dict(self._values)
        values[key] = value
        return Answers(values)

    def unset(self, key: str) -> "Answers":
        values = dict(self._values)
        values.pop(key, None)
        return Answers(values)

    def update(self, pairs: Mapping[str, Any]) -> "Answers":
        answers, problems = self, []
        for key, value in pairs.items():
            try:
                answers = answers.set(key, value)
            except AnswersError as exc:
                problems.extend(exc.findings)
        if problems:
            raise AnswersError(problems)
        return answers

    # -- checking --
    def check(self) -> list[Finding]:
        """Per-key validators and the combinations that cannot work, as findings."""
        findings: list[Finding] = []
        for key in self.relevant_keys():
            spec = KEYS[key]
            if spec.validate is None:
                continue
            problem = spec.validate(self.get(key), self)
            if problem:
                findings.append(error(key, problem, _fix_for(spec), code="answer-invalid"))
        if any(self.is_set(f.where) for f in findings):
            # A default derived from a bad answer (machineconfig.name from role) is bad for the
            # same reason: name the answer the user gave, not the consequence too.
            findings = [f for f in findings if self.is_set(f.where) or not callable(KEYS[f.where].default)]
        for key in self._values:
            if self.get("method") not in KEYS[key].methods:
                findings.append(error(key, f"this key belongs to method {'/'.join(KEYS[key].methods)}, "
                                           f"but method is {self.get('method')!r}",
                                      f"remove {key} or set method to {KEYS[key].methods[0]}",
                                      code="answer-wrong-method"))
        findings.extend(_combination_findings(self))
        return findings

    # -- files --
    def to_document(self) -> dict:
        """Nested form for YAML answer files: {"format_version": 1, "kvc": {"module_repo": ...}}."""
        doc: dict[str, Any] = {"format_version": FORMAT_VERSION}
        for key, value in self._values.items():
            node = doc
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = thaw(value)
        return doc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_document(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_document(cls, doc: Any, source: str = "answers") -> "Answers":
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise AnswersError([error(source, f"an answer file is a YAML mapping, got {type(doc).__name__}",
                                      "start from `kmwizard presets show simple-kmod`")], source)
        version = doc.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise AnswersError([error("format_version", f"format_version {version!r} is not supported "
                                      f"(this kmwizard reads {FORMAT_VERSION})",
                                      "upgrade kmwizard or write the file anew")], source)
        flat: dict[str, Any] = {}
        problems: list[Finding] = []
        _flatten({k: v for k, v in doc.items() if k not in ("format_version", "description")}, "", flat, problems)
        try:
            answers = cls().update(flat)
        except AnswersError as exc:
            problems.extend(exc.findings)
        if problems:
            raise AnswersError(problems, source)
        return answers

    @classmethod
    def load(cls, path: str | Path) -> "Answers":
        from kmwizard.textfiles import read_text_arg

        path = Path(path)
        text = read_text_arg(str(path), "answer file", "check the path given to --answers")
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {exc}", "fix the YAML syntax at the line shown") from None
        return cls.from_document(doc, str(path))


def _flatten(node: Mapping, prefix: str, out: dict, problems: list[Finding]) -> None:
    for name, value in node.items():
        key = f"{prefix}{name}"
        if key in KEYS:
            out[key] = value
        elif any(k.startswith(key + ".") for k in KEYS):
            if isinstance(value, Mapping):
                _flatten(value, key + ".", out, problems)
            else:
                problems.append(error(key, f"{key} is a section: it must be a mapping of the {key}.* answers, "
                                           f"got {value!r}", f"write it as {key}: {{...}} (see `kmwizard keys`)",
                                      code="answer-type"))
        else:
            try:
                spec_for(key)
            except UsageError as exc:
                problems.append(error(key, f"unknown answer key {key!r}", exc.fix, code="answer-unknown"))


def _fix_for(spec: KeySpec) -> str:
    if spec.choices:
        return f"set {spec.key} to one of: {', '.join(str(c) for c in spec.choices)}"
    if spec.key == "openshift_version":
        return 'write the version as a quoted string, e.g. openshift_version: "4.14"'
    if spec.example:
        return f"e.g. {spec.key}={spec.example}"
    return f"see `kmwizard keys` for what {spec.key} takes"


def _combination_findings(answers: Answers) -> list[Finding]:
    findings = []
    method = answers.get("method")
    source = answers.get("entitlement.source")
    if source == "certs" and not answers.get("entitlement.certs_dir"):
        findings.append(error("entitlement.certs_dir", "entitlement.source is certs but no certificate "
                              "directory is given", "set entitlement.certs_dir to a directory holding "
                              "<serial>.pem and <serial>-key.pem (as /etc/pki/entitlement on an entitled host)",
                              code="answer-missing"))
    if source == "yum-repo" and not answers.get("entitlement.yum_repo"):
        findings.append(error("entitlement.yum_repo", "entitlement.source is yum-repo but no repository is given",
                              "set entitlement.yum_repo to the baseurl of a repository carrying the nodes' "
                              "kernel-devel packages", code="answer-missing"))
    if method == "kvc":
        if answers.get("ssh_key") and answers.get("day") == 2:
            findings.append(error("ssh_key", "an SSH key is only added on day 1; on day 2 the cluster already "
                                  "has the install-config's key in 99-<role>-ssh",
                                  "remove ssh_key, or set day=1", code="answer-combination"))
    return findings
