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

from kmwizard.findings import Finding, UsageError, error
from kmwizard.keys import KEYS, KeySpec, spec_for
from kmwizard.yaml_numbers import plain

FORMAT_VERSION = 1
INT64 = (-(1 << 63), (1 << 63) - 1)  # Kubernetes integers (and the Go fields KMM reads them into)


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
    return plain(value)


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
        # As the user wrote it: messages quote values with repr, and a FrozenMap is an internal detail.
        return repr(thaw(self))


def _type_problem(spec: KeySpec, value: Any) -> str | None:
    problem = _type_problem_of(spec, value)
    # Name the value as the user wrote it (a list, a mapping), not as it is stored (tuple, FrozenMap).
    return problem.replace(repr(value), repr(thaw(value))) if problem else None


def _type_problem_of(spec: KeySpec, value: Any) -> str | None:
    kind = spec.kind
    if kind in ("str", "choice") and not isinstance(value, str):
        if isinstance(value, bool):
            return (f"must be a string, got the boolean {value!r} (YAML reads unquoted yes, no, on, off, true "
                    "and false as booleans): put the value in quotes")
        return f"must be a string, got {type(value).__name__} {value!r}{_quoted_hint(value)}"
    if kind in ("str", "choice") and _control_chars(value):
        return (f"{value!r} holds {_control_chars(value)}: this answer is one line of text without control "
                "characters")
    if kind == "int" and isinstance(value, str) and value.lstrip("-").isdigit():
        return f"{value[:12]}... ({len(value)} digits) is outside the 64-bit integer range Kubernetes stores"
    if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"must be a whole number, got {type(value).__name__} {value!r}"
    if kind == "int" and not INT64[0] <= value <= INT64[1]:
        return f"{value} is outside the 64-bit integer range Kubernetes stores ({INT64[0]} to {INT64[1]})"
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if kind == "list" and not (isinstance(value, tuple) and all(isinstance(v, (str, int, float)) for v in value)):
        return f"must be a list of strings, got {value!r}"
    if kind == "list" and any(isinstance(v, str) and _control_chars(v) for v in value):
        bad = next(v for v in value if isinstance(v, str) and _control_chars(v))
        return f"item {bad!r} holds {_control_chars(bad)}: each item is one line of text without control characters"
    if kind == "map" and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        return f"must be a mapping of names to values, got {value!r}"
    if kind == "records" and not (isinstance(value, tuple) and all(isinstance(v, Mapping) for v in value)):
        return f"must be a list of mappings, got {value!r}"
    if spec.choices and value not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        return f"{value!r} is not one of the allowed values: {allowed}"
    return None


def _control_chars(text: str) -> str:
    """'a newline', 'a control character' or '' (answers are single-line text)."""
    if "\n" in text or "\r" in text:
        return "a line break"
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in text):
        return "a control character"
    return ""


def _quoted_hint(value: Any) -> str:
    """For a number written unquoted: what YAML made of it and the quoted form that keeps the text."""
    text = getattr(value, "text", None)
    if text is None:
        return ""
    return f" (YAML reads {text} as the number {value!r}): write it in quotes: '{text}'"


def _number_for_string(spec: KeySpec, value: Any) -> Any:
    """A number written unquoted for a string answer: accepted when its text is the number's plain
    decimal form (version: 2), refused when YAML changed it (0123456 is octal in YAML 1.1, 0x1f hex)."""
    text = getattr(value, "text", None)
    if isinstance(value, bool) or not isinstance(value, int) or (text is not None and text != str(int(value))):
        return value  # the type check refuses it, showing the quoted form
    return str(int(value))


def _coerce(spec: KeySpec, value: Any) -> Any:
    """Accept the obvious spellings: "2" for an int key, "true" for a bool key, YAML text
    for structured keys (so ``--set kmm.build_args='[{name: A, value: b}]'`` works)."""
    if isinstance(value, str) and spec.kind == "int" and value.strip().lstrip("-").isdigit():
        digits = value.strip().lstrip("-")
        # Past 19 digits it is out of range anyway (and int() refuses 4300 digits with a ValueError).
        return int(value) if len(digits) <= 20 else value.strip()  # the type check says it is too large
    if isinstance(value, str) and spec.kind in ("bool", "map", "records"):
        value = _load_structured(spec, value)
    if isinstance(value, str) and spec.kind == "list":
        text = value.strip()
        if text.startswith("["):
            value = _load_structured(spec, text)
        else:
            return tuple(v.strip() for v in text.split(",") if v.strip())
    if spec.kind == "str":
        value = _number_for_string(spec, value)  # a numeric tag or ref written unquoted
        if isinstance(value, (int, float)):
            return value  # refused by the type check, which shows how it was written (YamlInt.text)
    return _freeze(value)


def _load_structured(spec: KeySpec, text: str) -> Any:
    """YAML text given for a structured key (--set): no aliases, no duplicate keys, bounded nesting."""
    import yaml  # PyYAML loads when YAML is read, not with the answers

    from kmwizard import safe_yaml

    try:
        return safe_yaml.load_answers(text)
    except yaml.YAMLError as exc:
        if "alias" in str(exc) or "nested" in str(exc) or "twice" in str(exc):
            raise AnswersError([error(spec.key, f"the value is not accepted: {_first_line(exc)}",
                                      _fix_for(spec), code="answer-yaml")]) from None
        return text  # the type check names the key and what it takes


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "problem", None) or str(exc)
    return str(text).splitlines()[0]


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

    def switch_method(self, method: str) -> tuple["Answers", dict[str, Any]]:
        """The answers with ``method`` chosen, without the answers only the other method reads (they
        would each be an error), and those answers, so a front end can give them back if the user
        switches back."""
        answers = self.set("method", method)
        aside = {k: v for k, v in answers._values.items() if method not in KEYS[k].methods}
        return Answers({k: v for k, v in answers._values.items() if k not in aside}), aside

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
        findings.extend(_credential_findings(self))
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
        import yaml

        return yaml.safe_dump(self.to_document(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_document(cls, doc: Any, source: str = "answers") -> "Answers":
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise AnswersError([error(source, f"an answer file is a YAML mapping, got {type(doc).__name__}",
                                      "start from `kmwizard presets show simple-kmod`")], source)
        version = doc.get("format_version", FORMAT_VERSION)
        if type(plain(version)) is not int or version != FORMAT_VERSION:  # true and 1.0 are not 1
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
    def load(cls, path: str | Path, what: str = "answer file", fix: str = "check the path given to --answers") \
            -> "Answers":
        from kmwizard.textfiles import ANSWERS_MAX, read_text_file

        path = Path(path)
        text = read_text_file(path, what=what, limit=ANSWERS_MAX, fix=fix)
        return cls.from_document(parse_answers_text(text, f"{what} {path}"), str(path))


def parse_answers_text(text: str, name: str) -> Any:
    """The YAML document of an answer file; a UsageError naming ``name`` and the line on bad YAML,
    aliases, nesting or a key given twice."""
    import yaml

    from kmwizard import safe_yaml

    try:
        return safe_yaml.load_answers(text, name)
    except yaml.YAMLError as exc:
        raise UsageError(f"{name} is not an answer file kmwizard accepts: {exc}",
                         "fix the YAML at the line shown (write values out instead of aliases; each key once)") \
            from None


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


# Answers only kmwizard itself reads (it clones these repositories here); every other answer ends up
# in a manifest or a file on the nodes.
_LOCAL_ONLY = ("kvc.framework_repo", "kvc.module_repo")


def _credential_findings(answers: Answers) -> list[Finding]:
    """A password or token in a URL answer that would be written into a manifest: anyone who can read
    the ConfigMap, the Module or the MachineConfig could read it."""
    from kmwizard.redact import url_credentials

    findings = []
    for key, value in answers.explicit.items():
        if key in _LOCAL_ONLY or answers.get("method") not in KEYS[key].methods:
            continue
        if not any(url_credentials(text) for text in _strings(value)):
            continue
        if answers.get("method") == "kmm":
            carrier = ("the Dockerfile ConfigMap and the Module, which everyone who can read namespace "
                       f"{answers.get('kmm.namespace')} can read")
            fix = ("remove the user name and password from the URL; give them to the build as a build secret "
                   "(a Secret in kmm.namespace listed in kmm.build_secrets, mounted at /run/secrets/<name>/ "
                   "during the build only, e.g. a .netrc or git credentials file the Dockerfile uses)")
        else:
            carrier = "the MachineConfig, which everyone who can read MachineConfigs can read"
            fix = ("remove the user name and password from the URL; deliver credentials as a secret file "
                   "(entitlement.source=certs puts them in 0600 files), or make the repository readable "
                   "without them from the cluster's network")
        findings.append(error(key, f"the URL carries a user name and password (or token): they would be "
                                   f"written into {carrier}", fix, code="answer-url-credentials"))
    return findings


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, tuple):
        for v in value:
            yield from _strings(v)


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
