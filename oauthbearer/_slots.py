"""Filling a frozen, slotted dataclass whose fields are already checked (pure).

A frozen dataclass refuses attribute assignment, and its ``__init__`` runs
``__post_init__``'s checks. A parser or a validator that has just checked every
field builds one value per message it reads, so it skips both: it creates the
object with ``object.__new__`` and stores each field through its slot's
descriptor. A descriptor's setter costs half of ``object.__setattr__``, and
the object is never seen half-filled.

Each class that is built so has one private constructor, next to its
``__post_init__``, which is the only caller of these setters for it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["slot_setters"]


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of ``cls``'s slot descriptors, in field order."""
    return tuple(cls.__dict__[field.name].__set__ for field in dataclasses.fields(cls))
