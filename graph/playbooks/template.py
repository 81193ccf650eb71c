"""Templated arguments and conditions: ``{{ steps.overdue.items }}``, ``{{ item.email }}``, ``steps.x.count > 0``.

Deliberately not a language: a template names a value by a dotted path (with ``| length`` or
``| join``), and a condition compares one path with a literal or another path. Nothing is evaluated,
so a playbook pasted in chat can read what earlier steps produced and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

_EXPR = re.compile(r"{{\s*(.*?)\s*}}")
_PATH = re.compile(r"^[A-Za-z_][\w-]*(\.([\w-]+|\*))*$")
_COMPARE = re.compile(r"^(?P<left>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<right>.+)$")
FILTERS = ("length", "join", "first", "lines")


class TemplateError(ValueError):
    """A template that does not parse or names something that is not there."""

    user_message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


def check_expr(expr: str) -> str:
    """Return the root name an expression reads (``steps``, ``item``, ``trigger`` ...), or raise TemplateError."""
    path, _, flt = expr.partition("|")
    path, flt = path.strip(), flt.strip()
    if flt and flt not in FILTERS:
        raise TemplateError(f"unknown filter {flt!r} (known: {', '.join(FILTERS)})")
    if not _PATH.match(path):
        raise TemplateError(f"{expr!r} is not a dotted name such as steps.overdue.items")
    return path


def references(value: Any) -> Iterator[str]:
    """Yield every dotted path a (nested) template value reads."""
    if isinstance(value, str):
        for m in _EXPR.finditer(value):
            yield check_expr(m.group(1))
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)


def lookup(path: str, scope: Mapping[str, Any]) -> Any:
    """Return the value at a dotted path (missing keys raise TemplateError naming the path)."""
    return _walk(path, path.split("."), scope)


def _walk(path: str, parts: list[str], cur: Any) -> Any:
    for n, part in enumerate(parts):
        if part == "*" and isinstance(cur, list):  # every element: steps.q.items.*.number
            return [_walk(path, parts[n + 1 :], x) for x in cur]
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise TemplateError(f"{path} is not there (no {part!r})")
    return cur


def _eval(expr: str, scope: Mapping[str, Any]) -> Any:
    path, _, flt = expr.partition("|")
    value = lookup(check_expr(path), scope)
    flt = flt.strip()
    if flt == "length":
        return len(value)
    if flt == "join":
        return ", ".join(map(str, value))
    if flt == "lines":
        return "\n".join(map(str, value))
    if flt == "first":
        return value[0] if value else None
    return value


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Fill a template: a string that is one ``{{ … }}`` keeps the value's type; others become text."""
    if isinstance(value, str):
        whole = _EXPR.fullmatch(value.strip())
        if whole:
            return _eval(whole.group(1), scope)
        return _EXPR.sub(lambda m: _text(_eval(m.group(1), scope)), value)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return json.dumps(v) if isinstance(v, dict) else str(v)


def condition_paths(cond: str) -> list[str]:
    """Return the paths a condition reads (validating its shape)."""
    body = cond.strip().removeprefix("{{").removesuffix("}}").strip()
    body = body[4:].strip() if body.startswith("not ") else body
    m = _COMPARE.match(body)
    sides = [m["left"], m["right"]] if m else [body]
    return [check_expr(s.strip()) for s in sides if _literal(s.strip()) is _NOT_LITERAL]


_NOT_LITERAL = object()


def _literal(text: str) -> Any:
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError:
        return _NOT_LITERAL


def holds(cond: str, scope: Mapping[str, Any]) -> bool:
    """Evaluate a condition: a path's truth, ``not`` it, or a comparison with a literal or a path."""
    body = cond.strip().removeprefix("{{").removesuffix("}}").strip()
    negate = body.startswith("not ")
    body = body[4:].strip() if negate else body
    m = _COMPARE.match(body)

    def side(text: str) -> Any:
        lit = _literal(text.strip())
        return _eval(text.strip(), scope) if lit is _NOT_LITERAL else lit

    if m is None:
        result = bool(side(body))
    else:
        left, right, op = side(m["left"]), side(m["right"]), m["op"]
        try:
            result = {
                "==": lambda: left == right, "!=": lambda: left != right, ">": lambda: left > right,
                "<": lambda: left < right, ">=": lambda: left >= right, "<=": lambda: left <= right,
            }[op]()
        except TypeError:
            raise TemplateError(f"cannot compare {left!r} {op} {right!r}") from None
    return not result if negate else result
