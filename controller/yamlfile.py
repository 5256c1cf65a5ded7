"""Load a YAML file into a pydantic model, with errors that name file, line and field.

PyYAML's composer keeps the line of every node; pydantic reports the path of every bad field.
Joining the two gives messages like ``inventory.yaml:12: devices[1].transprot: unknown field
(did you mean 'transport'?)``, which is what a person editing the file needs.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rigbench.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


def _to_python(node: yaml.Node, lines: dict[Loc, int], loc: Loc) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = (
                yaml.safe_load(yaml.serialize(k)) if not isinstance(k, yaml.ScalarNode) else k.value
            )
            lines[(*loc, key)] = k.start_mark.line + 1
            out[key] = _to_python(v, lines, (*loc, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, lines, (*loc, i)) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML, returning the data and a map from each key path to its line."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from e
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _to_python(node, lines, ()), lines


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
            else:
                msgs.append(f"{where}: {_fmt_loc(loc)}: {err['msg']}")
        raise error("\n".join(msgs)) from None


def load_model(model: type[M], path: Path, error: type[ConfigError] = ConfigError) -> M:
    data, lines = load_yaml(path)
    return validate(model, data, lines, path, error)
