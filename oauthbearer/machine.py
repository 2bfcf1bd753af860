"""The state-machine base that every machine of the package shares.

Theory of operation
-------------------
A machine is one state (an :class:`enum.Enum` member) and two tables:

* the *permissions* (``_PERMISSIONS``): for each public method that drives the
  machine, by its name, the states in which it may be called;
* the *transitions* (``_TRANSITIONS``): ``(state, input)`` to the next state,
  where an input is a member of the machine's own input enum, one per outcome
  a call can reach (``ServerInput.ACCEPT_SUCCESS``, whose value is
  ``"accept:success"``: the part before the colon names the call). Only real
  moves are rows: a call that merely may run, and leaves the state as it was,
  is a permission and nothing else. A row that leads back to its own state is a
  protocol event (an ApiVersions error answered, after which the client may
  ask again).

Each call asks two questions, in this order:

* *may this call run now?* :meth:`Machine._check` answers from the
  permissions, before the call has done anything, and raises
  :class:`~oauthbearer.errors.SessionStateError` (a local error: the caller's
  mistake) when it may not;
* *where does this outcome lead?* :meth:`Machine._move` takes the transition
  for the outcome the call reached; a missing row is a
  :class:`~oauthbearer.errors.SessionStateError` too, naming the outcome.

The :func:`moves` decorator marks each public method that drives a machine and
is the one place that enforces "any error is final": whatever such a method
raises (a remote error from the peer's bytes, a local error, a bug in a
callback) leaves the machine in its ``FAILED`` state, so no error path can
leave a half-moved machine. Outcomes that are not errors (an exchange that
failed by the protocol's rules) are rows of the transitions and events, never
exceptions.

Users of the package drive :class:`~oauthbearer.session.ServerSession`,
:class:`~oauthbearer.session.ClientSession` and the Kafka connections, not this
base; it is public so that those machines, in their own modules, share one
implementation.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import enum
import functools
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from oauthbearer.errors import SessionStateError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["Input", "Machine", "State", "moves"]

#: A machine's state enum.
State = TypeVar("State", bound=enum.Enum)
#: A machine's input enum: one member per call outcome that moves it.
Input = TypeVar("Input", bound=enum.Enum)
_M = TypeVar("_M", bound="Machine[Any, Any]")
_Params = ParamSpec("_Params")
_R = TypeVar("_R")


def moves(
    method: Callable[Concatenate[_M, _Params], _R],
) -> Callable[Concatenate[_M, _Params], _R]:
    """Mark a method that drives the machine: whatever it raises leaves it FAILED."""

    @functools.wraps(method)
    def guarded(self: _M, /, *args: _Params.args, **kwargs: _Params.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self._state = self._FAILED
            raise

    return guarded


class Machine(Generic[State, Input]):
    """One state, its permissions (``_PERMISSIONS``), its transitions
    (``_TRANSITIONS``) and the state errors lead to (``_FAILED``); subclasses
    set all three as class attributes."""

    __slots__ = ("_state",)
    _PERMISSIONS: Mapping[str, frozenset[State]]
    _TRANSITIONS: Mapping[tuple[State, Input], State]
    _FAILED: State
    #: The permissions as tuples, made once per class: a tuple of enum members
    #: is searched by identity, with no enum hashing, on every call.
    _ALLOWED: Mapping[str, tuple[State, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        permissions = cls.__dict__.get("_PERMISSIONS")
        if permissions is not None:
            cls._ALLOWED = {call: tuple(states) for call, states in permissions.items()}

    def __init__(self, initial: State) -> None:
        self._state = initial

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    def _check(self, call: str) -> None:
        """Raise unless ``call`` (a public method's name) may run in the current state."""
        if self._state not in self._ALLOWED[call]:
            raise SessionStateError(type(self).__name__, self._state.name, call)

    def _move(self, event: Input) -> None:
        """Take the transition for ``event``, the outcome a call reached."""
        try:
            self._state = self._TRANSITIONS[(self._state, event)]
        except KeyError:
            call, _, outcome = str(event.value).partition(":")
            raise SessionStateError(
                type(self).__name__, self._state.name, call, outcome=outcome or None
            ) from None
