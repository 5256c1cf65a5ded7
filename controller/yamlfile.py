"""Load a YAML file into a pydantic model, with errors that name file, line and field.

PyYAML's composer keeps the line of every node; pydantic reports the path of every bad field.
Joining the two gives messages like ``inventory.yaml:12: devices[1].transprot: unknown field
(did you mean 'transport'?)``, which is what a person editing the file needs.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.resolver import Resolver

from rigbench import limits
from rigbench.errors import ConfigError

try:  # libyaml's event parser is ~3x faster; the composer stays ours (it bounds aliases)
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class _Refused(ComposerError):
    """Valid YAML that rigbench will not expand (a bound of ``rigbench.limits`` was hit)."""


class _BoundedLoader(Composer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
    """PyYAML's safe loader with a composer that counts what aliases expand to.

    An alias costs nothing to write and a whole subtree to expand: nine levels of nine
    aliases ("billion laughs") is a few hundred bytes that expand to 387 million values. The
    composer here knows, for every anchored node, how many values and how many levels it
    expands to, and refuses the document as soon as the expansion passes ``YAML_NODES`` values
    or ``YAML_DEPTH`` levels, or an alias points into the node being built (a recursive
    alias), before anything is expanded. Events come from libyaml where it is installed.
    """

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._expanded = 0  # values the document expands to so far
        self._depth = 0  # levels open now
        self._open_anchors: set[str] = set()  # anchors whose node is being built
        self._cost: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (values, levels)
        self._levels: list[int] = []  # deepest level below each open node

    def _refuse(self, mark: Any, problem: str) -> NoReturn:
        raise _Refused(None, None, problem, mark)

    def _add(self, values: int, levels: int, mark: Any) -> None:
        self._expanded += values
        if self._expanded > limits.YAML_NODES:
            self._refuse(
                mark,
                f"expands to more than {limits.YAML_NODES} values (aliases repeat whole "
                "subtrees: an alias bomb?)",
            )
        if self._depth + levels > limits.YAML_DEPTH:
            self._refuse(mark, f"nested deeper than {limits.YAML_DEPTH} levels")
        if self._levels:
            self._levels[-1] = max(self._levels[-1], levels)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event: Any = self.peek_event()
            if event.anchor in self._open_anchors:
                self._refuse(
                    event.start_mark,
                    f"recursive alias *{event.anchor}: it refers to a node that contains it",
                )
            node = super().compose_node(parent, index)  # undefined alias: PyYAML's own error
            values, levels = self._cost.get(id(node), (1, 1))
            self._add(values, levels, event.start_mark)
            return node
        start: Any = self.peek_event()
        anchor = start.anchor
        before = self._expanded
        self._add(1, 1, start.start_mark)
        self._depth += 1
        self._levels.append(0)
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(anchor or "")
            self._depth -= 1
            below = self._levels.pop()
        if self._levels:
            self._levels[-1] = max(self._levels[-1], below + 1)
        if anchor is not None:
            self._cost[id(node)] = (self._expanded - before, below + 1)
        return node


def _to_python(
    node: yaml.Node, loader: _BoundedLoader, lines: dict[Loc, int], loc: Loc, path: Path
) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ConfigError(
                    f"{path}:{k.start_mark.line + 1}: {_fmt_loc(loc)}: a key must be a plain "
                    "value, not a list or a mapping"
                )
            key = k.value
            lines[(*loc, key)] = k.start_mark.line + 1
            out[key] = _to_python(v, loader, lines, (*loc, key), path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, loader, lines, (*loc, i), path) for i, v in enumerate(node.value)]
    try:
        return loader.construct_object(node)
    except yaml.YAMLError as e:
        problem = _one_line(getattr(e, "problem", None) or str(e))
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: not valid YAML: {problem}") from e
    except ValueError as e:  # an integer of more digits than Python converts
        raise ConfigError(
            f"{path}:{node.start_mark.line + 1}: {_fmt_loc(loc)}: {_one_line(str(e))}"
        ) from e


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_text(path: Path) -> str:
    """The file as text: bounded in size, UTF-8 (with or without a BOM), or a one-line error."""
    try:
        with open(path, "rb") as f:
            data = f.read(limits.CONFIG_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from e
    if len(data) > limits.CONFIG_FILE_BYTES:
        raise ConfigError(
            f"{path}: larger than the limit of {limits.human_bytes(limits.CONFIG_FILE_BYTES)} "
            "for a plan or inventory (they are a few KB); is this the right file?"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save the file as UTF-8"
        ) from e


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML, returning the data and a map from each key path to its line.

    Bounded (``rigbench.limits``): the file's size, the values and levels its aliases expand
    to. Every problem is one ``ConfigError`` line naming the file and, where known, the line.
    """
    text = _read_text(path)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        if mark is None and isinstance(e, yaml.reader.ReaderError):
            line = text.count("\n", 0, e.position) + 1
            where = f"{path}:{line}"
        else:
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = _one_line(getattr(e, "problem", None) or str(e))
        if isinstance(e, yaml.reader.ReaderError):
            problem = f"unacceptable character #x{e.character:04x} (no control characters)"
        if not isinstance(e, _Refused):
            problem = f"not valid YAML: {problem}"
        raise ConfigError(f"{where}: {problem}") from e
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _to_python(node, loader, lines, (), path), lines


def _fmt_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _known_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the sub-model that ``loc`` points into (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = _fields_by_key(current)
        if part not in fields:
            return []
        ann = fields[part].annotation
        current = _innermost_model(ann)
        if current is None:
            return []
    return list(_fields_by_key(current))


def _fields_by_key(model: Any) -> dict[str, Any]:
    """A model's fields under the keys a file uses: the alias where there is one."""
    fields = getattr(model, "model_fields", None) or {}
    return {f.alias or name: f for name, f in fields.items()}


def _innermost_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _innermost_model(arg)
        if found is not None:
            return found
    return None


def validate(
    model: type[M],
    data: Any,
    lines: dict[Loc, int],
    path: Path,
    error: type[ConfigError] = ConfigError,
) -> M:
    """Validate, turning every pydantic error into one line naming file, line and field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            line = _line_for(loc, lines)
            where = f"{path}:{line}" if line else str(path)
            if err["type"] == "extra_forbidden":
                known = _known_fields(model, loc)
                guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
                hint = (
                    f" (did you mean {guess[0]!r}?)"
                    if guess
                    else (f" (known fields: {', '.join(known)})" if known else "")
                )
                msgs.append(f"{where}: {_fmt_loc(loc)}: unknown field{hint}")
            elif err["type"] == "finite_number":
                msgs.append(f"{where}: {_fmt_loc(loc)}: {err['input']} is not a finite number")
            else:
                msgs.append(f"{where}: {_fmt_loc(loc)}: {_one_line(err['msg'])}")
        raise error("\n".join(msgs)) from None


def load_model(model: type[M], path: Path, error: type[ConfigError] = ConfigError) -> M:
    data, lines = load_yaml(path)
    return validate(model, data, lines, path, error)
