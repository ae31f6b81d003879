"""Synth registry: names -> synth classes, built-ins plus third-party entry points.

Third-party packages add a synth without touching this repository by declaring an entry
point in the ``synthmatch.synths`` group whose value is a :class:`~synths.base.Synth`
subclass, e.g. in their ``pyproject.toml``::

    [project.entry-points."synthmatch.synths"]
    fm2op = "my_package.fm:TwoOpFM"

The entry point's name is the registry name. ``examples/synthmatch-fm2op`` is such a package.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable, Optional, TypeVar, Union, overload

from .base import Synth, SynthError

ENTRY_POINT_GROUP = "synthmatch.synths"

SynthClass = TypeVar("SynthClass", bound=type)

_registry: dict[str, type[Synth]] = {}
_entry_points_loaded = False


@overload
def register(target: SynthClass) -> SynthClass: ...


@overload
def register(target: Optional[str] = None) -> Callable[[SynthClass], SynthClass]: ...


def register(target: Union[type, str, None] = None):
    """Register a :class:`Synth` subclass under its ``name`` (or a given name).

    Use as ``@register`` or ``@register("name")``. Registering a different class under a
    taken name is an error.
    """

    def add(cls: SynthClass, name: Optional[str] = None) -> SynthClass:
        if not (isinstance(cls, type) and issubclass(cls, Synth)):
            raise TypeError(f"register: {cls!r} is not a subclass of synths.Synth")
        key = name or cls.name
        if not key:
            raise SynthError(f"register: {cls.__name__} has no name; set the class attribute `name`")
        existing = _registry.get(key)
        if existing is not None and existing is not cls:
            raise SynthError(f"register: the name {key!r} is taken by {existing.__module__}.{existing.__qualname__}")
        if cls.name != key:
            cls.name = key
        _registry[key] = cls
        return cls

    if isinstance(target, type):
        return add(target)
    return lambda cls: add(cls, target)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _registry:
            continue
        try:
            cls = entry_point.load()
        except Exception as error:  # a broken plugin must not break the built-in synths
            raise SynthError(
                f"could not load synth plugin {entry_point.name!r} ({entry_point.value}): {error}"
            ) from error
        register(entry_point.name)(cls)


def reload_entry_points() -> None:
    """Look for newly installed plugin packages again (after ``pip install`` in a running process)."""
    global _entry_points_loaded
    _entry_points_loaded = False
    _load_entry_points()


def available() -> list[str]:
    """Names of all registered synths (built-in and plugins), sorted."""
    _load_entry_points()
    return sorted(_registry)


def synth_class(name: str) -> type[Synth]:
    """The class registered under ``name``."""
    _load_entry_points()
    try:
        return _registry[name]
    except KeyError:
        raise SynthError(f"unknown synth {name!r}; available: {', '.join(available())}") from None


def get(name: str, **options) -> Synth:
    """Build the synth ``name`` with constructor options, e.g. ``get("tr808", voice="BD")``."""
    return synth_class(name)(**options)
