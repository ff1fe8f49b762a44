"""Templates that escape every value: what the change record's formats (Markdown, HTML) are written in.

A template is text with `{name}` fields (`{step.key}` reads an attribute) in string.Formatter's syntax, bound to one
format's escape function. Filling it escapes each value for that format, so operator and remote text cannot become
markup by someone forgetting a call. Only `Markup` passes unescaped: a filled template's result, or a format's own
filter (`{name:code}` applies the format's `code`) when that filter returns Markup. Parsed once per template, filled
per line, so a 50,000-row table costs a string join per row.
"""
from __future__ import annotations

from operator import attrgetter
from string import Formatter
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple


class Markup(str):
    """Text already in the output's format (a filled template, a format's own markup): inserted as it is."""

    __slots__ = ()


class Format(NamedTuple):
    """How one output format escapes a value, and its filters: each takes the value and returns Markup (written as
    it is) or text (escaped like any value)."""

    escape: Callable[[Any], str]
    filters: Mapping[str, Callable[[Any], Any]] = {}


class _Field(NamedTuple):
    name: str
    read: Callable[[Any], Any] | None  # the attributes read from the value (`{step.key}`)
    apply: Callable[[Any], Any] | None  # the format's filter


class Template:
    """`Template(fmt, "<td>{row.note}</td>")(row=row)` is Markup with `row.note` escaped for `fmt`."""

    __slots__ = ("_escape", "_fields", "_text")

    def __init__(self, fmt: Format, text: str):
        self._escape = fmt.escape
        self._fields: list[_Field] = []
        pieces: list[str] = []  # the text again, each field an empty {} that str.format fills in order
        for literal, field, spec, conversion in Formatter().parse(text):
            pieces.append(literal.replace("{", "{{").replace("}", "}}"))
            if field is None:
                continue
            if conversion:
                raise ValueError(f"template {text!r}: {{{field}!{conversion}}}: conversions are not used here")
            if spec and spec not in fmt.filters:
                raise ValueError(f"template {text!r}: {{{field}:{spec}}}: the format has no filter {spec!r}")
            name, _, path = field.partition(".")
            if not name.isidentifier():
                raise ValueError(f"template {text!r}: {{{field}}}: fields are named")
            self._fields.append(_Field(name, attrgetter(path) if path else None, fmt.filters[spec] if spec else None))
            pieces.append("{}")
        self._text = "".join(pieces)

    def __call__(self, **values: Any) -> Markup:
        return self._fill(values)

    def _fill(self, values: dict[str, Any]) -> Markup:
        escape = self._escape
        filled = []
        for name, read, apply in self._fields:
            value = values[name] if read is None else read(values[name])
            if apply is not None:
                value = apply(value)
            filled.append(value if isinstance(value, Markup) else escape(value))
        return Markup(self._text.format(*filled))

    def each(self, name: str, items: Iterable[Any], **values: Any) -> Iterator[Markup]:
        """The template filled once per item (bound to `name`), lazily: for the record's long lists."""
        for item in items:
            values[name] = item
            yield self._fill(values)


def text_of(lines: Iterable[str]) -> str:
    return "".join(line + "\n" for line in lines)


def chunked(lines: Iterable[str], size: int = 500) -> Iterator[str]:
    """Lines as chunks of `size` lines: few writes, and never the whole list in memory."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield text_of(batch)
            batch = []
    if batch:
        yield text_of(batch)
