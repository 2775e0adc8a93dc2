"""fast_init builds the same frozen objects as the dataclass's own __init__, only faster."""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import pickle
import types
import typing
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from claims_engine.domain import issues, model
from claims_engine.domain.frozen import fast_init
from claims_engine.runtime.compiled import running_compiled


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    amount: Decimal
    codes: tuple[str, ...] = ()
    note: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Fast:
    name: str
    amount: Decimal
    codes: tuple[str, ...] = ()
    note: str | None = None


def _values(obj: object) -> tuple[object, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a", Decimal("1.50")), {}),
        (("a",), {"amount": Decimal("2"), "note": "n"}),
        ((), {"name": "b", "amount": Decimal("0"), "codes": ("X", "Y")}),
        (("c", Decimal("3"), ("Z",), "note"), {}),
    ],
)
def test_same_object_as_the_dataclass_makes(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    fast = Fast(*args, **kwargs)  # type: ignore[arg-type]
    reference = Reference(*args, **kwargs)  # type: ignore[arg-type]
    assert type(fast) is Fast
    assert _values(fast) == _values(reference)
    assert hash(fast) == hash(reference)
    assert repr(fast) == repr(reference).replace("Reference(", "Fast(", 1)
    assert fast == Fast(*args, **kwargs)  # type: ignore[arg-type]
    assert fast != Fast("other", Decimal("9"))
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert copy.deepcopy(fast) == fast
    assert dataclasses.replace(fast, note="changed").note == "changed"


def test_still_frozen() -> None:
    fast = Fast("a", Decimal("1"))
    with pytest.raises(FrozenInstanceError):
        fast.name = "b"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del fast.name
    assert fast.name == "a"
    # an unknown attribute: refused the same way (Python 3.11's frozen slotted dataclasses
    # raise TypeError here, from their own __setattr__, which fast_init leaves alone)
    refusals = []
    objects: tuple[object, ...] = (fast, Reference("a", Decimal("1")))
    for obj in objects:
        with pytest.raises((AttributeError, TypeError)) as refused:
            obj.other = 1  # type: ignore[attr-defined]
        refusals.append(refused.type)
    assert refusals[0] is refusals[1]


def test_wrong_arguments_are_refused_as_by_the_dataclass() -> None:
    with pytest.raises(TypeError, match="amount"):
        Fast("a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Fast("a", Decimal("1"), colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        Fast("a", Decimal("1"), (), None, "extra")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Fast("a", Decimal("1"), name="b")  # type: ignore[misc]


def test_a_subclass_is_built_by_the_dataclass_init() -> None:
    class Sub(Fast):
        __slots__ = ()

    sub = Sub("a", Decimal("1"))
    assert type(sub) is Sub and _values(sub) == ("a", Decimal("1"), (), None)
    with pytest.raises(FrozenInstanceError):
        sub.name = "b"  # type: ignore[misc]


def test_refuses_what_it_cannot_build() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, NoSlots, Factory, PostInit):
        with pytest.raises(TypeError, match=cls.__name__):
            fast_init(cls)


def test_every_model_class_is_built_fast() -> None:
    classes = [
        c for c in vars(model).values() if isinstance(c, type) and dataclasses.is_dataclass(c)
    ]
    assert model.Claim in classes and model.ServiceLine in classes
    for cls in classes:
        if "__slots__" in cls.__dict__:  # from source: fast_init's __init__
            assert "__fast_draft__" in cls.__init__.__globals__, cls
        else:  # compiled by mypyc: a native class and __init__
            assert running_compiled() and not inspect.isfunction(cls.__init__), cls


def _distinct(hint: object, i: int) -> object:
    """A value of type ``hint``, different for every ``i`` where the type allows."""
    union = isinstance(hint, types.UnionType)
    for option in typing.get_args(hint) if union else (hint,):
        if option is str:
            return f"value {i}"
        if option is int:
            return 1000 + i
        if option is bool:
            return True
        if option is Decimal:
            return Decimal(i)
        if option is date:
            return date(2000, 1, 1 + i)
        if typing.get_origin(option) is tuple:
            return ()
        if isinstance(option, type) and issubclass(option, enum.Enum):
            return list(option)[-1]
        if isinstance(option, type) and dataclasses.is_dataclass(option):
            inner = typing.get_type_hints(option)
            return option(*[_distinct(inner[f.name], i) for f in dataclasses.fields(option)])
    assert union and type(None) in typing.get_args(hint), hint
    return None


@pytest.mark.parametrize("module", [model, issues])
def test_model_classes_take_their_fields_in_order(module: object) -> None:
    """Compiled, the model's own __init__ builds its objects: it must take the fields in their
    order (positional calls), with their defaults, and store each where it belongs."""
    classes = [
        c for c in vars(module).values() if isinstance(c, type) and dataclasses.is_dataclass(c)
    ]
    for cls in classes:
        fields = dataclasses.fields(cls)
        params = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in params] == [f.name for f in fields], cls
        for p, f in zip(params, fields, strict=True):
            want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
            assert p.default == want, (cls, f.name)
        hints = typing.get_type_hints(cls)
        values = [_distinct(hints[f.name], i) for i, f in enumerate(fields)]
        obj = cls(*values)
        assert [getattr(obj, f.name) for f in fields] == values, cls
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.deepcopy(obj) == obj and hash(obj) == hash(cls(*values))
        with pytest.raises(FrozenInstanceError):
            setattr(obj, fields[0].name, None)


def test_signature_and_annotations_are_the_dataclass_ones() -> None:
    import inspect

    assert str(inspect.signature(Fast)) == str(inspect.signature(Reference))
    assert Fast.__init__.__annotations__ == Reference.__init__.__annotations__
