"""Command-line flags derived from a dataclass: one definition of an option's name, type,
default and help, shared by the Python API and ``synthmatch``.

A field becomes a flag when its ``metadata`` has a ``help`` text::

    steps: int = field(default=1000, metadata={"help": "total steps"})
    p_adam: bool = field(default=True, metadata={"help": "SCRAPL without P-Adam",
                                                 "flag": "--no-p-adam"})

Metadata keys: ``help`` (required for a flag), ``flag`` (default ``--`` + the name with ``_``
turned into ``-``), ``short`` (e.g. ``"-o"``), ``metavar``, ``choices``.  The flag's form
follows the annotation:

* ``int``, ``float``, ``str`` and ``Optional`` of one of them: a flag taking one value of
  that type;
* ``bool`` with default False: ``store_true``; with default True: a ``store_false`` flag
  (name it with ``flag``, e.g. ``--no-p-adam`` or ``--quiet``) whose ``dest`` is the field;
* ``Tuple[int, ...]`` (or of float, str): ``nargs="+"``, converted back to a tuple by
  :func:`dataclass_from_args`.

The help text gets `` (default: X)`` appended, except for flags without a value (bools) and
for a default of None (say what None means in the help).  Other annotations (e.g. a dict)
cannot be flags: give them no ``help`` or pass them in ``skip``.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Dict, Iterable, Iterator, Tuple, Type, TypeVar

__all__ = ["add_dataclass_arguments", "dataclass_from_args", "flag_fields"]

T = TypeVar("T")
_SCALARS = (int, float, str)
_UNIONS = (typing.Union, types.UnionType)      # Optional[X] and X | None


def flag_fields(cls: type, skip: Iterable[str] = ()) -> Iterator[Tuple[dataclasses.Field, Any]]:
    """The fields of dataclass ``cls`` that are flags (``help`` in their metadata, not in
    ``skip``), each with its resolved annotation."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    skipped = set(skip)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "help" in f.metadata and f.name not in skipped:
            yield f, hints[f.name]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:       # type: ignore[misc]
        return f.default_factory()                          # type: ignore[misc]
    return dataclasses.MISSING


def _optional_of(annotation: Any) -> Any:
    """``X`` for ``Optional[X]``; ``annotation`` itself otherwise."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in _UNIONS and len(args) == 2 and type(None) in args:
        return args[0] if args[1] is type(None) else args[1]
    return annotation


def _tuple_item(annotation: Any) -> Any:
    """``X`` for ``Tuple[X, ...]``; None for anything else."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _shown(default: Any) -> Any:
    """How a default reads in the help (None: not shown)."""
    if default is dataclasses.MISSING or default is None:
        return None
    if isinstance(default, tuple):
        return " ".join(str(v) for v in default)
    return str(default)


def _argument_options(f: dataclasses.Field, annotation: Any) -> Dict[str, Any]:
    """The keyword arguments of ``add_argument`` for one field."""
    default = _default(f)
    help_text = f.metadata["help"]
    if annotation is bool:
        if default is dataclasses.MISSING:
            raise TypeError(f"field {f.name}: a bool flag needs a default")
        return {"action": "store_false" if default else "store_true", "dest": f.name,
                "help": help_text}
    options: Dict[str, Any] = {"dest": f.name}
    item, kind = _tuple_item(annotation), _optional_of(annotation)
    if item in _SCALARS:
        options.update(type=item, nargs="+")
    elif kind in _SCALARS:
        options["type"] = kind
    else:
        raise TypeError(f"field {f.name}: type {annotation!r} has no command-line form "
                        f"(give it no 'help' or skip it)")
    if default is dataclasses.MISSING:
        options["required"] = True
    else:
        options["default"] = default
    for key in ("metavar", "choices"):
        if key in f.metadata:
            options[key] = f.metadata[key]
    shown = _shown(default)
    options["help"] = help_text if shown is None else f"{help_text} (default: {shown})"
    return options


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *,
                            skip: Iterable[str] = ()) -> None:
    """Add one flag to ``parser`` per field of dataclass ``cls`` whose metadata has a
    ``help`` and whose name is not in ``skip`` (see the module docstring for the forms).
    TypeError for a field whose type has no command-line form."""
    for f, annotation in flag_fields(cls, skip):
        names = [f.metadata["flag"] if "flag" in f.metadata
                 else "--" + f.name.replace("_", "-")]
        if "short" in f.metadata:
            names.insert(0, f.metadata["short"])
        parser.add_argument(*names, **_argument_options(f, annotation))


def dataclass_from_args(cls: Type[T], args: argparse.Namespace, **extra: Any) -> T:
    """An instance of ``cls`` from the flags :func:`add_dataclass_arguments` added (lists of
    ``Tuple`` fields back to tuples), plus the fields in ``extra`` (which win); fields not
    parsed keep their defaults."""
    values: Dict[str, Any] = {}
    for f, annotation in flag_fields(cls):
        if not hasattr(args, f.name):
            continue
        value = getattr(args, f.name)
        if _tuple_item(annotation) is not None and value is not None:
            value = tuple(value)
        values[f.name] = value
    values.update(extra)
    return cls(**values)
