"""Claims and decisions as JSON values and back, exactly.

The store keeps every claim and every decision as a JSON document (PostgreSQL JSONB). This
module turns the immutable domain objects into values ``json.dumps`` takes as they are (``str``,
``int``, ``bool``, ``None``, ``list`` and ``dict`` with ``str`` keys) and back::

    claim_from_json(json.loads(json.dumps(claim_to_json(claim)))) == claim

* a dataclass is an object keyed by its field names; a field equal to its default (``None``,
  ``""``, ``()``, ``False``, ``0``, an enum member) is left out and comes back as the default,
  so a row carries little more than what the claim says;
* ``Decimal`` is its string (``"10.50"`` stays ``Decimal("10.50")``, exponent and all);
* ``date`` is its ISO string, an enum its value, a tuple a list, ``None`` is ``null``.

Decoding checks what it reads: a missing required field, a field of the wrong type, a field the
class does not have or a value that does not parse raises
:class:`~claims_engine.domain.errors.StoredDataError` naming the class, the field and where in the
document it is.

Claims and decisions are stored by the hundred thousand, so each class gets an encoder and a
decoder of its own, generated once from its fields and type hints (the way :mod:`dataclasses`
writes ``__init__``): straight-line code with each field's conversion inlined, rather than a
walk that inspects every value. ``claims_engine/domain/codec.py`` is pure: no clock, no database.
"""

from __future__ import annotations

import dataclasses
import itertools
import linecache
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from claims_engine.adjudication.decision import ClaimDecision
from claims_engine.domain.errors import StoredDataError
from claims_engine.domain.model import Claim

__all__ = ["claim_from_json", "claim_to_json", "decision_from_json", "decision_to_json"]

Encoder = Callable[[Any], dict[str, Any]]
Decoder = Callable[[Any], Any]


def claim_to_json(claim: Claim) -> dict[str, Any]:
    """``claim`` as a JSON object (see the module docstring for the mapping)."""
    return _encode_claim(claim)


def claim_from_json(data: Mapping[str, Any]) -> Claim:
    """The claim :func:`claim_to_json` made ``data`` from.

    Raises :class:`~claims_engine.domain.errors.StoredDataError` when ``data`` is not such a claim.
    """
    try:
        claim: Claim = _decode_claim(data)
    except _Invalid as exc:
        raise StoredDataError(exc.describe("Claim")) from None
    return claim


def decision_to_json(decision: ClaimDecision) -> dict[str, Any]:
    """``decision`` (its claim and lines included) as a JSON object."""
    return _encode_decision(decision)


def decision_from_json(data: Mapping[str, Any]) -> ClaimDecision:
    """The decision :func:`decision_to_json` made ``data`` from.

    Raises :class:`~claims_engine.domain.errors.StoredDataError` when ``data`` is not such a
    decision.
    """
    try:
        decision: ClaimDecision = _decode_decision(data)
    except _Invalid as exc:
        raise StoredDataError(exc.describe("ClaimDecision")) from None
    return decision


# --- errors ---------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value that does not decode; the decoders it passes through add where it was."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.owner = ""  # "ServiceLine.charge": the innermost class and field
        self.path: list[str] = []  # innermost first: "charge", "[0]", "lines"

    def at(self, class_name: str, field_name: str) -> None:
        if not self.owner:
            self.owner = f"{class_name}.{field_name}"
        self.path.append(field_name)

    def describe(self, top: str) -> str:
        """The message: "corrupt stored Claim at lines[0].charge (ServiceLine.charge): ..."."""
        path = "".join(p if p.startswith("[") else f".{p}" for p in reversed(self.path))
        where = f" at {path[1:]} ({self.owner})" if path else ""
        return f"corrupt stored {top}{where}: {self.problem}"


def _expected(what: str, value: object) -> _Invalid:
    # The value itself is left out of the message: it may be a patient's name or birth date.
    got = "null" if value is None else type(value).__name__
    return _Invalid(f"expected {what}, got {got}")


# --- value conversions that are not inlined -------------------------------------------------


def _decode_decimal(value: object) -> Decimal:
    if type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
        raise _Invalid("not a finite decimal number")
    raise _expected("a decimal string", value)


def _decode_date(value: object) -> date:
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _Invalid("not a date in ISO format") from None
    raise _expected("an ISO date string", value)


def _enum_decoder(cls: type[Enum]) -> Decoder:
    members = {m.value: m for m in cls}
    choices = ", ".join(repr(v) for v in members)

    def decode(value: object) -> Enum:
        if type(value) is not str:
            raise _expected(f"one of {choices}", value)
        member = members.get(value)
        if member is None:
            raise _Invalid(f"not one of {choices}")
        return member

    return decode


def _tuple_decoder(item: _Plan) -> Decoder:
    if item.plain is not None and not item.optional:
        plain = item.plain

        def decode_plain(value: object) -> tuple[Any, ...]:
            if type(value) is not list:
                raise _expected("a list", value)
            for i, x in enumerate(value):
                if type(x) is not plain:
                    exc = _expected(plain.__name__, x)
                    exc.path.append(f"[{i}]")
                    raise exc
            return tuple(value)

        return decode_plain
    convert = item.function()

    def decode(value: object) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _expected("a list", value)
        try:
            return tuple([convert(x) for x in value])
        except _Invalid as exc:
            for i, x in enumerate(value):  # find which item (rare: the data is corrupt)
                try:
                    convert(x)
                except _Invalid:
                    exc.path.append(f"[{i}]")
                    break
            raise

    return decode


def _optional_decoder(convert: Decoder) -> Decoder:
    def decode(value: object) -> Any:
        return None if value is None else convert(value)

    return decode


# --- what a type becomes --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """How values of one annotated type are encoded and decoded.

    ``encode(var, depth)`` is a Python expression converting the value named ``var`` (a local
    variable or an attribute, evaluated once unless ``inner`` is set); ``depth`` numbers the
    variables of nested comprehensions. ``plain`` is set for ``str``, ``int`` and ``bool``,
    which decode as they are after a type check; any other type has a ``decoder``. ``inner``
    is set for ``X | None``: the plan of ``X``.
    """

    name: str  # names the generated code's globals
    encode: Callable[[str, int], str]
    plain: type | None = None
    decoder: Decoder | None = None
    inner: _Plan | None = None
    sequence: bool = False  # tuple[X, ...]

    @property
    def optional(self) -> bool:
        return self.inner is not None

    def function(self) -> Decoder:
        """The decoder as a function, plain types included."""
        convert = self.decoder
        if self.plain is not None:
            plain = self.plain

            def check(value: object) -> Any:
                if type(value) is not plain:
                    raise _expected(plain.__name__, value)
                return value

            convert = check
        assert convert is not None
        return _optional_decoder(convert) if self.optional else convert


def _plan(tp: Any, owner: str) -> _Plan:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            inner = _plan(next(a for a in args if a is not type(None)), owner)

            def encode_optional(var: str, depth: int) -> str:
                expr = inner.encode(var, depth)
                return var if expr == var else f"None if {var} is None else {expr}"

            return dataclasses.replace(inner, encode=encode_optional, inner=inner)
    elif origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _plan(args[0], owner)

            def encode_tuple(var: str, depth: int) -> str:
                name = f"_i{depth}"
                expr = item.encode(name, depth + 1)
                return f"list({var})" if expr == name else f"[{expr} for {name} in {var}]"

            decoder = _tuple_decoder(item)
            return _Plan(f"tuple_{item.name}", encode_tuple, decoder=decoder, sequence=True)
    elif tp in (str, int, bool):
        return _Plan(tp.__name__, lambda var, depth: var, plain=tp)
    elif tp is Decimal:
        return _Plan("Decimal", lambda var, depth: f"str({var})", decoder=_decode_decimal)
    elif tp is date:
        return _Plan("date", lambda var, depth: f"{var}.isoformat()", decoder=_decode_date)
    elif isinstance(tp, type) and issubclass(tp, Enum):
        if all(type(m.value) is str for m in tp):
            decoder = _enum_decoder(tp)
            return _Plan(tp.__name__, lambda var, depth: f"{var}._value_", decoder=decoder)
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        encoder = _global(_encoder(tp), f"encode_{tp.__name__}")
        return _Plan(tp.__name__, lambda var, depth: f"{encoder}({var})", decoder=_decoder(tp))
    raise TypeError(f"codec: {owner} has a type it cannot store: {tp!r}")


_NAMES = itertools.count()
_GLOBALS: dict[str, Any] = {}  # what the generated code refers to, by generated name


def _global(value: object, hint: str) -> str:
    """How the generated code names ``value``: a literal when it has one, else a new global."""
    if type(value) in (str, int, bool, type(None)) or (type(value) is tuple and not value):
        return repr(value)
    name = f"_{hint}_{next(_NAMES)}"
    _GLOBALS[name] = value
    return name


# --- generated encoders and decoders --------------------------------------------------------

_ENCODERS: dict[type, Encoder] = {}
_DECODERS: dict[type, Decoder] = {}
_BUILDING: set[type] = set()


def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], _Plan]]:
    if cls in _BUILDING:
        raise TypeError(f"codec: {cls.__qualname__} contains itself, which it cannot store")
    _BUILDING.add(cls)
    try:
        hints = typing.get_type_hints(cls)
        return [
            (f, _plan(hints[f.name], f"{cls.__qualname__}.{f.name}"))
            for f in dataclasses.fields(cls)
            if f.init
        ]
    finally:
        _BUILDING.discard(cls)


def _compile(source_lines: list[str], name: str, cls: type) -> Any:
    source = "\n".join(source_lines) + "\n"
    filename = f"<claims_engine.domain.codec {name} {cls.__module__}.{cls.__qualname__}>"
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), _GLOBALS, namespace)
    # so that a traceback through the generated code shows its lines
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name]


def _skip_test(f: dataclasses.Field[Any], plan: _Plan) -> str | None:
    """A condition on ``v`` that holds when the field is not its default (None: always write)."""
    default = f.default
    if default is dataclasses.MISSING:
        return None
    if default is None:
        return "v is not None"
    if isinstance(default, Enum) and plan.decoder is not None:
        return f"v is not {_global(default, type(default).__name__)}"
    if type(default) is plan.plain or (type(default) is tuple and plan.sequence):
        # "", 0, False, (): written when truthy, unless None is possible too
        return "v" if not default and not plan.optional else f"v != {_global(default, 'default')}"
    # Decimal (Decimal("0") == Decimal("0.00")), dates, dataclass instances: always written.
    return None


def _encoder(cls: type) -> Encoder:
    """The function turning an instance of dataclass ``cls`` into a JSON object."""
    if cls in _ENCODERS:
        return _ENCODERS[cls]
    literal: list[str] = []  # fields always written, converted in the dict display
    statements: list[str] = []  # fields written unless default, or evaluated more than once
    for f, plan in _fields(cls):
        key = repr(f.name)
        test = _skip_test(f, plan)
        once = not plan.optional or plan.encode("v", 0) == "v"  # else "None if v is None ..."
        if test is None and once:
            literal.append(f"        {key}: {plan.encode(f'o.{f.name}', 0)},")
            continue
        statements.append(f"    v = o.{f.name}")
        if test is None:
            statements.append(f"    d[{key}] = {plan.encode('v', 0)}")
        else:
            # under "v is not None", X | None is encoded as X
            present = plan.inner if plan.inner and test == "v is not None" else plan
            statements.append(f"    if {test}:")
            statements.append(f"        d[{key}] = {present.encode('v', 0)}")
    source = ["def encode(o):", "    d = {", *literal, "    }", *statements, "    return d"]
    encode: Encoder = _compile(source, "encode", cls)
    _ENCODERS[cls] = encode
    return encode


def _decoder(cls: type) -> Decoder:
    """The function turning a JSON object back into an instance of dataclass ``cls``."""
    if cls in _DECODERS:
        return _DECODERS[cls]
    fields = _fields(cls)
    name = repr(cls.__name__)
    g_fields = _global(frozenset(f.name for f, _ in fields), f"{cls.__name__}_fields")
    body: list[str] = []  # inside "try:"
    args: list[str] = []
    required = 0
    for i, (f, plan) in enumerate(fields):
        a, key = f"a{i}", repr(f.name)
        convert: list[str] = []  # statements checking or converting a present value
        if plan.plain is not None:
            check = f"type({a}) is not {plan.plain.__name__}"
            convert.append(f"if {a} is not None and {check}:" if plan.optional else f"if {check}:")
            convert.append(f"    raise _expected({plan.plain.__name__!r}, {a})")
        else:
            assert plan.decoder is not None
            call = f"{a} = {_global(plan.decoder, f'decode_{plan.name}')}({a})"
            convert.extend([f"if {a} is not None:", f"    {call}"] if plan.optional else [call])
        body.append(f"_f = {key}")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required += 1
            body.append(f"{a} = d[{key}]")  # KeyError: missing
            body.extend(convert)
        else:
            if f.default is not dataclasses.MISSING:
                default = _global(f.default, "default")
            else:
                default = f"{_global(f.default_factory, 'default_factory')}()"
            body.extend([f"if {key} in d:", "    n += 1", f"    {a} = d[{key}]"])
            body.extend(f"    {line}" for line in convert)
            body.extend(["else:", f"    {a} = {default}"])
        args.append(f"{f.name}={a}" if f.kw_only else a)
    source = [
        "def decode(d):",
        "    if type(d) is not dict and not isinstance(d, _Mapping):",
        "        raise _expected('an object', d)",
        f"    n = {required}  # fields present",
        "    _f = ''",
        "    try:",
        *(f"        {line}" for line in body or ["pass"]),
        "    except KeyError:",
        f"        raise _missing({name}, _f) from None",
        "    except _Invalid as exc:",
        f"        exc.at({name}, _f)",
        "        raise",
        "    if len(d) != n:",
        f"        _unknown({name}, d, {g_fields})",
        f"    return {_global(cls, cls.__name__)}({', '.join(args)})",
    ]
    decode: Decoder = _compile(source, "decode", cls)
    _DECODERS[cls] = decode
    return decode


def _missing(class_name: str, field_name: str) -> _Invalid:
    exc = _Invalid("missing")
    exc.at(class_name, field_name)
    return exc


def _unknown(class_name: str, data: Mapping[str, Any], known: frozenset[str]) -> None:
    extra = sorted(str(k) for k in data.keys() - known)
    exc = _Invalid(f"unknown field {', '.join(map(repr, extra))}")
    exc.owner = class_name
    raise exc


_GLOBALS.update(
    _Invalid=_Invalid,
    _Mapping=Mapping,
    _expected=_expected,
    _missing=_missing,
    _unknown=_unknown,
)

# Built at import: a field of a type the codec cannot store fails here, not on the first claim.
_encode_claim = _encoder(Claim)
_decode_claim = _decoder(Claim)
_encode_decision = _encoder(ClaimDecision)
_decode_decision = _decoder(ClaimDecision)
