"""Reading YAML and JSON the user gave without being led astray by it.

- Aliases (``*name``) are refused where answers are read: an answer file has no use for them, and
  nine nested aliases of nine make a few hundred bytes into 387 million values ("billion laughs").
  Elsewhere (validated manifests) they are allowed, but what they add is capped, and an alias to the
  node that contains it (a value that contains itself) is an error.
- Nesting deeper than MAX_DEPTH is an error, in YAML and JSON, before Python's recursion limit.
- A key given twice in one mapping is an error: YAML readers disagree about which value wins.
- A scalar that looks like a number, date or tagged value but is not one (``0x_``, ``2001-13-45``,
  ``!!int x``) is a YAML error at its line, not an exception from PyYAML's constructors.
- Answer files keep how a number was written, so a string answer written ``0123456`` (which YAML 1.1
  reads as the octal 42798) or ``0x1f`` can be refused with the quoted form rather than changed.

Errors are ``yaml.YAMLError``s carrying the line and column, like PyYAML's own syntax errors.
"""
from __future__ import annotations

import contextlib
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, MappingEndEvent, SequenceEndEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from kmwizard.yaml_numbers import YamlFloat, YamlInt, plain  # noqa: F401 (plain: re-exported)

MAX_DEPTH = 100              # Kubernetes objects nest about 15 deep, Ignition configs about 8
ALIAS_BUDGET = 100_000       # values aliases may add beyond those written out


class _BoundedComposer(yaml.SafeLoader):
    allow_aliases = True

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: set[int] = set()        # collections being composed (an alias to one is a cycle)
        self._sizes: dict[int, int] = {}    # expanded size of each finished node
        self._written = 0                   # nodes written out (not via aliases)

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            if not self.allow_aliases:
                raise ComposerError(None, None, f"found the alias *{event.anchor}: aliases are not accepted "
                                    "here (write the value out)", event.start_mark)
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) in self._open:
                raise ComposerError(None, None, f"the alias *{event.anchor} refers to a value that contains "
                                    "it: the value would contain itself without end", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        self._written += 1
        self._sizes[id(node)] = 1
        return node

    # The two below are PyYAML's own, plus: the node is marked open while its children are composed
    # (an alias to it from inside is a cycle), and its expanded size is counted against the budget.
    def compose_sequence_node(self, anchor):
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)
        node = SequenceNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        with self._composing(node, anchor):
            index = 0
            while not self.check_event(SequenceEndEvent):
                node.value.append(self.compose_node(node, index))
                index += 1
        node.end_mark = self.get_event().end_mark
        self._count(node, node.value)
        return node

    def compose_mapping_node(self, anchor):
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start.implicit)
        node = MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        with self._composing(node, anchor):
            while not self.check_event(MappingEndEvent):
                key = self.compose_node(node, None)
                node.value.append((key, self.compose_node(node, key)))
        node.end_mark = self.get_event().end_mark
        self._count(node, [n for pair in node.value for n in pair])
        return node

    @contextlib.contextmanager
    def _composing(self, node, anchor):
        if anchor is not None:
            self.anchors[anchor] = node
        self._open.add(id(node))
        self._written += 1
        try:
            yield
        finally:
            self._open.discard(id(node))

    def construct_object(self, node, deep=False):
        # PyYAML's scalar constructors trust its resolver's patterns, which are looser than the values:
        # 0x_, 2001-13-45, !!int x or !!bool x escape as ValueError, KeyError or AttributeError.
        if not isinstance(node, ScalarNode):
            return super().construct_object(node, deep=deep)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            why = f" ({exc})" if kind == "timestamp" and isinstance(exc, ValueError) else ""  # e.g. month 1..12
            raise ConstructorError(None, None, f"{node.value!r} is not a valid {kind}{why}: quote it to keep it "
                                   "as text", node.start_mark) from None

    def _count(self, node, children) -> None:
        size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
        self._sizes[id(node)] = size
        if size > self._written + ALIAS_BUDGET:
            raise ComposerError(None, None, f"aliases expand this value to more than {ALIAS_BUDGET} values "
                                "(an alias bomb?)", node.start_mark)


def _construct_mapping_no_duplicates(self, node, deep=False):
    if isinstance(node, MappingNode):
        seen: dict = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue
            if first is not key_node:
                raise ConstructorError("while reading a mapping", node.start_mark,
                                       f"found the key {key!r} twice (first at line {first.start_mark.line + 1}): "
                                       "YAML readers disagree which value wins", key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(self, node, deep=deep)


class ManifestLoader(_BoundedComposer):
    """Validated files: aliases allowed within the budget, no cycles, no duplicate keys."""

    construct_mapping = _construct_mapping_no_duplicates


class AnswersLoader(_BoundedComposer):
    """Answer files, presets and structured --set values: no aliases, no duplicate keys, numbers
    remember how they were written."""

    allow_aliases = False
    construct_mapping = _construct_mapping_no_duplicates

    def construct_yaml_int(self, node):
        value = YamlInt(yaml.SafeLoader.construct_yaml_int(self, node))
        value.text = node.value
        return value

    def construct_yaml_float(self, node):
        value = YamlFloat(yaml.SafeLoader.construct_yaml_float(self, node))
        value.text = node.value
        return value


AnswersLoader.add_constructor("tag:yaml.org,2002:int", AnswersLoader.construct_yaml_int)
AnswersLoader.add_constructor("tag:yaml.org,2002:float", AnswersLoader.construct_yaml_float)


def load_answers(text: str, name: str = "") -> Any:
    """One YAML document of answers (see the module docstring); ``name`` is shown in errors."""
    loader = AnswersLoader(text)
    loader.name = name or loader.name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_manifests(text: str, name: str = "") -> list:
    """Every document of a YAML stream, aliases bounded."""
    loader = ManifestLoader(text)
    loader.name = name or loader.name
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


class JsonTooDeep(yaml.YAMLError):
    """Raised for JSON too: callers handle one kind of syntax error."""


def load_json(text: str) -> Any:
    """A JSON document nested at most MAX_DEPTH deep (json's C parser stops at the recursion limit)."""
    import json  # only JSON input needs it: not loaded for every YAML read

    try:
        doc = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(f"nested more than {MAX_DEPTH} levels deep") from None
    if nesting_depth(doc) > MAX_DEPTH:
        raise JsonTooDeep(f"nested more than {MAX_DEPTH} levels deep")
    return doc


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep lists and mappings nest in ``value`` (without recursion; stops counting past limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, tuple, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest
