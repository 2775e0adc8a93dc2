"""Faster construction for frozen, slotted dataclasses, with the same frozen objects as a result.

A frozen dataclass's ``__init__`` stores each field with ``object.__setattr__(self, name,
value)``, because its own ``__setattr__`` refuses every assignment: about 2.4 µs for the 21
fields of a service line, three times what a plain slotted class takes. Intake builds several
such objects per claim, and this was a fifth of its time.

:func:`fast_init` gives such a class an ``__init__`` that, for the length of the call, makes the
new object an instance of a subclass with no slots of its own and the ordinary
``__setattr__`` (the layout is the same, so the object can change class), stores the fields
with plain attribute stores, and makes it an instance of the frozen class again. What comes out
is exactly what the dataclass's own ``__init__`` makes: same class, same fields, frozen
(assignment raises ``FrozenInstanceError``), same equality, hash, repr, ``replace`` and pickling.
Instances of a subclass are built by the dataclass's own ``__init__``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of the frozen, slotted dataclass ``cls`` (see the module doc)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__} has __post_init__, which fast_init does not run")
    every = dataclasses.fields(cls)  # type: ignore[arg-type]
    fields = [f for f in every if f.init]
    if len(fields) != len(every) or any(f.kw_only for f in fields):
        raise TypeError(f"{cls.__qualname__} has fields fast_init does not handle")
    draft = type(
        f"_{cls.__name__}Draft",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    names: dict[str, Any] = {
        "__fast_cls__": cls,
        "__fast_draft__": draft,
        "__fast_set__": object.__setattr__,
        "__fast_dataclass_init__": cls.__init__,
    }
    signature = []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__qualname__}.{f.name} has a default factory")
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            names[f"__fast_default_{f.name}__"] = f.default
            signature.append(f"{f.name}=__fast_default_{f.name}__")
    arguments = ", ".join(f.name for f in fields)
    stores = "".join(f"    __fast_self__.{f.name} = {f.name}\n" for f in fields)
    source = (
        f"def __init__(__fast_self__, {', '.join(signature)}):\n"
        "    if type(__fast_self__) is not __fast_cls__:\n"
        f"        return __fast_dataclass_init__(__fast_self__, {arguments})\n"
        "    __fast_set__(__fast_self__, '__class__', __fast_draft__)\n"
        f"{stores}"
        "    __fast_self__.__class__ = __fast_cls__\n"
    )
    exec(source, names)  # the way dataclasses itself writes __init__
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010  (mypy refuses assigning a method)
    return cls


def finish_dataclasses(namespace: dict[str, Any]) -> None:
    """Finish the frozen, slotted dataclasses of a module that mypyc may compile.

    Such a class declares ``init=False`` and writes its own ``__init__``, storing each field
    in turn: compiled, that ``__init__`` is native code that stores into the object's struct
    directly (the one dataclasses would write stays interpreted, and is four times slower than
    :func:`fast_init`). From source, the frozen class's ``__setattr__`` refuses those stores:
    :func:`fast_init` replaces it, after checking that it takes the fields in their order,
    with their defaults. Compiled, mypyc keeps only a class in ``__annotations__`` (``tuple``
    for ``tuple[Diagnosis, ...]``, ``type`` for ``date | None``), and the codec reads the
    field types there: the source's text is put back, as ``from __future__ import
    annotations`` leaves it.
    """
    module = namespace["__name__"]
    classes = [
        c
        for c in list(namespace.values())
        if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == module
    ]
    compiled = [c for c in classes if "__slots__" not in c.__dict__]
    for cls in classes:
        if cls not in compiled:
            _check_init(cls)
            fast_init(cls)
    if compiled:
        _source_annotations(module, compiled)


def _check_init(cls: type) -> None:
    init = cls.__dict__.get("__init__")
    if init is None or cls.__dataclass_params__.init:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__qualname__} must declare init=False and its own __init__")
    fields = dataclasses.fields(cls)
    params = list(inspect.signature(init).parameters.values())[1:]
    said = [(p.name, p.default) for p in params]
    want = [
        (f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
        for f in fields
    ]
    if said != want:
        raise TypeError(f"{cls.__qualname__}.__init__ takes {said}, its fields are {want}")


def _source_annotations(module: str, classes: list[type]) -> None:
    root = Path(__file__).resolve().parents[2]
    source = root.joinpath(*module.split(".")).with_suffix(".py").read_text(encoding="utf-8")
    by_name = {c.__name__: c for c in classes}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef) or node.name not in by_name:
            continue
        cls = by_name[node.name]
        annotations = {
            item.target.id: ast.unparse(item.annotation)
            for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        }
        cls.__annotations__.clear()
        cls.__annotations__.update(annotations)
        for f in dataclasses.fields(cls):
            f.type = annotations[f.name]
