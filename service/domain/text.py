"""What text a command may carry: no control characters, no bidi overrides, never only spaces.

A name holding a control character corrupts a spreadsheet or a terminal; a bidi override
(U+202A–U+202E) or isolate (U+2066–U+2069) makes a record read differently from what it holds
(``\u202e`` turns ``txt.exe`` around); a name of spaces names nobody. So every string of a
command is refused when it holds a C0 or C1 control character (U+0000–U+001F, U+007F–U+009F),
a bidi override or isolate, or only whitespace (U+3000 included). The long free-text fields
(``events.common.Text`` and ``OptionalText``: findings, opinions, summaries, reasons) may hold
what a clerk types into a text box besides: line breaks (LF, CR) and tabs. Names, ids, places
and titles are one line.

Checked where a command enters (the API's bodies, ``service.domain.base.build_event`` for any
other caller, ``hsl users add``), never when the log is read: events stored before this rule
still decode as they were.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import msgspec
from msgspec import inspect

from events.common import FREE_TEXT
from service.domain.errors import ValidationError

_BIDI: Final = "\u202a-\u202e\u2066-\u2069"
_ONE_LINE: Final = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_FREE_TEXT: Final = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


def text_fault(value: str, *, free_text: bool = False) -> tuple[str, str] | None:
    """Why ``value`` may not be stored (Chinese, English), or None when it may."""
    found = (_FREE_TEXT if free_text else _ONE_LINE).search(value)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        if re.fullmatch(f"[{_BIDI}]", found.group()):
            return (
                f"含有文字方向控制字符 {code}，请删除后重新填写",
                f"holds the bidi control character {code}",
            )
        allowed = "（只允许换行和制表符）" if free_text else ""
        return (
            f"含有控制字符 {code}{allowed}，请删除后重新填写",
            f"holds the control character {code}"
            + (" (only line breaks and tabs are allowed)" if free_text else ""),
        )
    if value and not value.strip():
        return ("不能只填空格", "is only whitespace")
    return None


def check_texts(value: object, kind: Any, path: str = "") -> None:
    """Refuse the first string of ``value`` (of type ``kind``) that :func:`text_fault`
    refuses, as a ``ValidationError`` naming its path (``participants[2].name``)."""
    _walk(value, _info(kind), path, free_text=False)


@functools.cache
def _info(kind: Any) -> inspect.Type:
    return inspect.type_info(kind)


def _walk(value: object, info: inspect.Type, path: str, *, free_text: bool) -> None:  # noqa: PLR0912
    """One case per kind of type; a string is checked, containers are walked into."""
    if isinstance(info, inspect.Metadata):
        marked = bool(info.extra and info.extra.get(FREE_TEXT))
        _walk(value, info.type, path, free_text=free_text or marked)
    elif isinstance(info, inspect.StrType):
        if isinstance(value, str) and (fault := text_fault(value, free_text=free_text)):
            raise ValidationError(path or "$", *fault)
    elif isinstance(info, inspect.StructType):
        for field in info.fields:
            inner = f"{path}.{field.encode_name}" if path else field.encode_name
            _walk(getattr(value, field.name), field.type, inner, free_text=False)
    elif isinstance(
        info, inspect.ListType | inspect.SetType | inspect.FrozenSetType | inspect.VarTupleType
    ):
        for i, item in enumerate(_items(value)):
            _walk(item, info.item_type, f"{path}[{i}]", free_text=False)
    elif isinstance(info, inspect.TupleType):
        for i, (item, item_type) in enumerate(zip(_items(value), info.item_types, strict=False)):
            _walk(item, item_type, f"{path}[{i}]", free_text=False)
    elif isinstance(info, inspect.DictType) and isinstance(value, dict):
        for key, item in value.items():
            _walk(key, info.key_type, path or "$", free_text=False)
            _walk(item, info.value_type, f"{path}.{key}" if path else str(key), free_text=False)
    elif isinstance(info, inspect.UnionType):
        for option in info.types:
            if _holds(option, value):
                _walk(value, option, path, free_text=free_text)
                break


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple | set | frozenset) else []


def _holds(info: inspect.Type, value: object) -> bool:
    """Whether ``value`` is of the union's member ``info`` (strings and Structs only)."""
    while isinstance(info, inspect.Metadata):
        info = info.type
    if isinstance(value, str):
        return isinstance(info, inspect.StrType)
    if isinstance(value, msgspec.Struct):
        return isinstance(info, inspect.StructType) and info.cls is type(value)
    if isinstance(value, list | tuple | set | frozenset):
        return isinstance(
            info,
            inspect.ListType
            | inspect.SetType
            | inspect.FrozenSetType
            | inspect.VarTupleType
            | inspect.TupleType,
        )
    return isinstance(value, dict) and isinstance(info, inspect.DictType)
