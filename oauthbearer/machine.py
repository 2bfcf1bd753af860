"""The state-machine base that every machine of the package shares.

Theory of operation
-------------------
A machine is one state (an :class:`enum.Enum` member) and one transition table,
a mapping of ``(state, input)`` to the next state. An input is a call
(``"accept"``) or a call with its outcome (``"accept:success"``,
``"frame:handshake"``): the part before the colon names the call.

Two questions are asked of the table, in this order:

* *may this call run now?* :meth:`Machine._check` answers from the calls that
  some row of the current state names. It raises
  :class:`~oauthbearer.errors.SessionStateError` (a local error: the caller's
  mistake) before the call has done anything;
* *where does this outcome lead?* :meth:`Machine._move` takes the row for the
  outcome the call reached; a missing row is a
  :class:`~oauthbearer.errors.SessionStateError` too, naming the outcome.

The :func:`moves` decorator marks each public method that drives a machine and
is the one place that enforces "any error is final": whatever such a method
raises (a remote error from the peer's bytes, a local error, a bug in a
callback) leaves the machine in its ``FAILED`` state, so no error path can
leave a half-moved machine. Outcomes that are not errors (an exchange that
failed by the protocol's rules) are rows of the table and events, never
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

__all__ = ["Machine", "State", "moves"]

#: A machine's state enum.
State = TypeVar("State", bound=enum.Enum)
_M = TypeVar("_M", bound="Machine[Any]")
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


#: The states in which each call is allowed, per transition table (by its id:
#: the tables are module constants, each read once, on its machine's first call).
_ALLOWED_CALLS: dict[int, dict[str, tuple[object, ...]]] = {}


class Machine(Generic[State]):
    """One state, one transition table (``_TABLE``) and the state errors lead to
    (``_FAILED``); subclasses set both as class attributes."""

    __slots__ = ("_state",)
    _TABLE: Mapping[tuple[State, str], State]
    _FAILED: State

    def __init__(self, initial: State) -> None:
        self._state = initial

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    def _check(self, call: str) -> None:
        """Raise unless some input of ``call`` is allowed in the current state."""
        table = self._TABLE
        allowed = _ALLOWED_CALLS.get(id(table))
        if allowed is None:
            calls: dict[str, list[object]] = {}
            for s, i in table:
                calls.setdefault(i.split(":")[0], []).append(s)
            allowed = _ALLOWED_CALLS[id(table)] = {c: tuple(ss) for c, ss in calls.items()}
        # A tuple of enum members: tested by identity, with no enum hashing.
        if self._state not in allowed.get(call, ()):
            raise SessionStateError(type(self).__name__, self._state.name, call)

    def _move(self, event: str) -> None:
        """Take the transition for ``event`` (``call`` or ``call:outcome``)."""
        try:
            self._state = self._TABLE[(self._state, event)]
        except KeyError:
            call, _, outcome = event.partition(":")
            raise SessionStateError(
                type(self).__name__, self._state.name, call, outcome=outcome or None
            ) from None
