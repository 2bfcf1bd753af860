"""The four machines' tables: typed inputs, and permissions apart from transitions.

Each machine (the two sessions, the two Kafka connections) has an input enum,
a transition table keyed by ``(state, input)`` and a permission table keyed by
public method name (oauthbearer/machine.py). These tests hold each machine to
that shape:

- every transition row is ``(state, input) -> state`` with the machine's own
  enums;
- no transition row is a bare permission: a row that leads back to its own
  state on a plain call (no outcome) says only "this call may run here", which
  is the permission table's job. Deliberate exceptions go in
  :data:`PERMISSION_LIKE_ROWS`, each with its reason;
- every public method that drives the machine (decorated with ``moves``, or
  calling ``_check``) checks its own name, and the permission table lists
  exactly those methods;
- every transition's call may run in the row's source state, so no row is
  unreachable for want of a permission.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

import pytest

from oauthbearer import ClientInput, ClientSession, ClientState, ServerInput, ServerSession
from oauthbearer import ServerState as SessionServerState
from oauthbearer.kafka import (
    ClientConnectionInput,
    ClientPhase,
    KafkaClientConnection,
    KafkaServerConnection,
    ServerConnectionInput,
    ServerPhase,
)

if TYPE_CHECKING:
    import enum

    from oauthbearer.machine import Machine

    AnyMachine = type[Machine[Any, Any]]

#: Each machine, its state enum and its input enum.
MACHINES: dict[AnyMachine, tuple[type[enum.Enum], type[enum.Enum]]] = {
    ClientSession: (ClientState, ClientInput),
    ServerSession: (SessionServerState, ServerInput),
    KafkaServerConnection: (ServerPhase, ServerConnectionInput),
    KafkaClientConnection: (ClientPhase, ClientConnectionInput),
}

#: Transition rows that are self-loops on a plain call, kept on purpose:
#: (machine, state name, input value) -> the reason. None today.
PERMISSION_LIKE_ROWS: dict[tuple[str, str, str], str] = {}

#: The public method whose call an input's ``frame`` prefix names: a frame
#: ``next_event`` read.
FRAME_CALL = "next_event"

parametrize = pytest.mark.parametrize("machine", list(MACHINES), ids=lambda m: m.__name__)


def driving_methods(machine: type[object]) -> dict[str, list[str]]:
    """Each public method that drives ``machine`` -> the calls it checks."""
    found: dict[str, list[str]] = {}
    for name in dir(machine):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(machine, name)
        if not inspect.isfunction(attr):
            continue
        checks = re.findall(r"self\._check\(\"(\w+)\"\)", inspect.getsource(attr))
        if checks or hasattr(attr, "__wrapped__"):
            found[name] = checks
    return found


@parametrize
def test_every_transition_is_typed(machine: AnyMachine) -> None:
    states, inputs = MACHINES[machine]
    assert machine._TRANSITIONS
    for (state, event), after in machine._TRANSITIONS.items():
        assert type(state) is states, state
        assert type(event) is inputs, event
        assert type(after) is states, after
    # Every input is used; none is a leftover.
    assert {event for _, event in machine._TRANSITIONS} == set(inputs)


@parametrize
def test_no_transition_is_a_bare_permission(machine: AnyMachine) -> None:
    loops = {
        (machine.__name__, state.name, event.value)
        for (state, event), after in machine._TRANSITIONS.items()
        if after is state and ":" not in event.value
    }
    listed = {row for row in PERMISSION_LIKE_ROWS if row[0] == machine.__name__}
    assert loops == listed


@parametrize
def test_every_driving_method_has_a_permission(
    machine: AnyMachine,
) -> None:
    states, _ = MACHINES[machine]
    methods = driving_methods(machine)
    for name, checks in methods.items():
        assert checks == [name], f"{name}() must check its own permission, once"
    assert set(machine._PERMISSIONS) == set(methods)
    for call, allowed in machine._PERMISSIONS.items():
        assert isinstance(allowed, frozenset), call
        assert allowed, f"{call}() is allowed nowhere"
        assert all(type(state) is states for state in allowed), call


@parametrize
def test_every_transition_can_be_reached(machine: AnyMachine) -> None:
    for state, event in machine._TRANSITIONS:
        call = event.value.split(":")[0]
        call = FRAME_CALL if call == "frame" else call
        assert state in machine._PERMISSIONS[call], (state, event)


@parametrize
def test_a_failed_machine_takes_no_move(machine: AnyMachine) -> None:
    failed = machine._FAILED
    assert not [row for row in machine._TRANSITIONS if row[0] is failed]
    # Only calls allowed everywhere (they read, and move nothing) survive failure.
    states, _ = MACHINES[machine]
    for call, allowed in machine._PERMISSIONS.items():
        assert failed not in allowed or allowed == frozenset(states), call


def test_the_checker_sees_driving_methods() -> None:
    class Sample:
        def reads(self) -> int:
            return 1

        def drives(self) -> None:
            self._check("drives")

        def _check(self, call: str) -> None:
            del call

    assert driving_methods(Sample) == {"drives": ["drives"]}
