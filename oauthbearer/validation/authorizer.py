"""ClaimsAuthorizer: authorization from a token's claims, in Kafka's terms.

Theory of operation
-------------------
Once a token is verified, its claims say who the client is and what it may
do: Okta writes ``groups``, Keycloak ``realm_access.roles`` and
``resource_access.<client>.roles``, Entra ID ``roles``, and every provider a
``scope`` (or ``scp``). Kafka's javadoc expects the negotiated token to be used
"in a custom authorizer (to authorize based on JWT claims rather than ACLs)";
:class:`ClaimsAuthorizer` is that authorizer, pure and small:

* an optional **claim check** (:class:`~oauthbearer.validation.claim_check.ClaimCheck`,
  Strimzi's ``oauth.custom.claim.check``) that every token must pass *at
  authentication*: :meth:`ClaimsAuthorizer.authenticate` refuses a token that
  fails it with :class:`~oauthbearer.errors.InvalidToken` (``invalid_token``),
  as Strimzi's validator does;
* **rules**, each a condition (a claim check, a scope the token holds, groups
  it is in: all of those given must hold) and the **grants** it gives:
  operations on resources named literally or by prefix, as Kafka's ACLs name
  them (``LITERAL``/``PREFIXED``; a literal ``*`` is every resource).
  :meth:`ClaimsAuthorizer.permissions` collects the grants of every rule a
  token meets, once per authentication; :meth:`Permissions.allows` answers per
  request. Nothing is granted that no rule grants (deny by default);
* Kafka's implications between operations hold (``AclAuthorizer``): ``ALL``
  implies every operation; ``READ``, ``WRITE``, ``DELETE`` and ``ALTER`` imply
  ``DESCRIBE``; ``ALTER_CONFIGS`` implies ``DESCRIBE_CONFIGS``.

The groups are read from ``groups_claim`` (a
:class:`~oauthbearer.validation.claim_check.ClaimPath`, Strimzi's
``oauth.groups.claim``), an array of strings or a string split on
``groups_delimiter``.

This module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, TypeVar

from oauthbearer._text import show_value
from oauthbearer.errors import ArgumentTypeError, ConfigurationError, InvalidToken, TokenReason
from oauthbearer.validation.claim_check import ClaimCheck, ClaimPath

if TYPE_CHECKING:
    from oauthbearer.token import OAuthBearerToken

__all__ = [
    "ClaimsAuthorizer",
    "Grant",
    "Operation",
    "PatternType",
    "Permissions",
    "ResourceType",
    "Rule",
]


class Operation(enum.StrEnum):
    """Kafka's ACL operations (``AclOperation``), by their Kafka names."""

    ALL = "ALL"
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DESCRIBE = "DESCRIBE"
    CLUSTER_ACTION = "CLUSTER_ACTION"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"


class ResourceType(enum.StrEnum):
    """Kafka's resource types (``ResourceType``), by their Kafka names."""

    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"


class PatternType(enum.StrEnum):
    """How a grant names resources (``PatternType``): exactly, or by prefix."""

    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


_E = TypeVar("_E", bound=enum.StrEnum)

#: Kafka's ``AclOperation`` codes, the bits of a Metadata answer's authorized operations.
ACL_OPERATION_CODES: Final = {
    Operation.ALL: 2,
    Operation.READ: 3,
    Operation.WRITE: 4,
    Operation.CREATE: 5,
    Operation.DELETE: 6,
    Operation.ALTER: 7,
    Operation.DESCRIBE: 8,
    Operation.CLUSTER_ACTION: 9,
    Operation.DESCRIBE_CONFIGS: 10,
    Operation.ALTER_CONFIGS: 11,
    Operation.IDEMPOTENT_WRITE: 12,
}
#: The operations a topic supports (Kafka's ``AclEntry.supportedOperations``).
_TOPIC_OPERATIONS: Final = (
    Operation.READ,
    Operation.WRITE,
    Operation.CREATE,
    Operation.DELETE,
    Operation.ALTER,
    Operation.DESCRIBE,
    Operation.DESCRIBE_CONFIGS,
    Operation.ALTER_CONFIGS,
)

#: What each operation also allows (Kafka's ``AclAuthorizer``/``StandardAuthorizer``).
_IMPLIED: Final = {
    Operation.DESCRIBE: frozenset(
        {Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER}
    ),
    Operation.DESCRIBE_CONFIGS: frozenset({Operation.ALTER_CONFIGS}),
}


def _enum(kind: type[_E], value: object, what: str) -> _E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.upper())
        except ValueError:
            pass
    names = ", ".join(member.value for member in kind)
    raise ConfigurationError(f"{what} must be one of {names}, not {show_value(value)}")


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Grant:
    """``operations`` on the resources of ``resource_type`` that ``name`` names
    (``pattern_type`` LITERAL: that name, ``*`` for all; PREFIXED: every name
    that starts with it). Operations and types may be given by name, in any case."""

    operations: frozenset[Operation]
    name: str
    resource_type: ResourceType
    pattern_type: PatternType

    def __init__(
        self,
        *,
        operations: Iterable[Operation | str],
        name: str,
        resource_type: ResourceType | str = ResourceType.TOPIC,
        pattern_type: PatternType | str = PatternType.LITERAL,
    ) -> None:
        if isinstance(operations, str) or not isinstance(operations, Iterable):
            raise ArgumentTypeError("Grant: operations must be a collection of operations")
        checked = frozenset(_enum(Operation, op, "Grant: an operation") for op in operations)
        if not checked:
            raise ConfigurationError("Grant: operations must name at least one operation")
        if not isinstance(name, str) or not name:
            raise ConfigurationError("Grant: name must be a non-empty string")
        object.__setattr__(self, "operations", checked)
        object.__setattr__(self, "name", name)
        object.__setattr__(
            self, "resource_type", _enum(ResourceType, resource_type, "Grant: resource_type")
        )
        object.__setattr__(
            self, "pattern_type", _enum(PatternType, pattern_type, "Grant: pattern_type")
        )

    def covers(self, resource_type: ResourceType, name: str) -> bool:
        """Whether this grant names ``name`` of ``resource_type``."""
        if resource_type is not self.resource_type:
            return False
        if self.pattern_type is PatternType.PREFIXED:
            return name.startswith(self.name)
        return self.name in ("*", name)

    def allows(self, operation: Operation, resource_type: ResourceType, name: str) -> bool:
        """Whether this grant allows ``operation`` on ``name`` (implications included)."""
        if not self.covers(resource_type, name):
            return False
        ops = self.operations
        return (
            Operation.ALL in ops
            or operation in ops
            or not ops.isdisjoint(_IMPLIED.get(operation, frozenset()))
        )


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Rule:
    """Grants that apply to a token meeting every condition given: ``when`` (a
    claim check, or its text), ``scope`` (a scope the token holds), ``groups``
    (the token is in at least one of them). A rule with no condition applies to
    every authenticated token."""

    grants: tuple[Grant, ...]
    when: ClaimCheck | None
    scope: str | None
    groups: frozenset[str]

    def __init__(
        self,
        *,
        grants: Iterable[Grant],
        when: ClaimCheck | str | None = None,
        scope: str | None = None,
        groups: Iterable[str] = (),
    ) -> None:
        if not isinstance(grants, Iterable):
            raise ArgumentTypeError("Rule: grants must be Grant objects")
        checked_grants = tuple(grants)
        if not all(isinstance(g, Grant) for g in checked_grants):
            raise ArgumentTypeError("Rule: grants must be Grant objects")
        if isinstance(when, str):
            when = ClaimCheck.parse(when)
        elif when is not None and not isinstance(when, ClaimCheck):
            raise ArgumentTypeError("Rule: when must be a ClaimCheck or its text")
        if scope is not None and (not isinstance(scope, str) or not scope):
            raise ConfigurationError("Rule: scope must be a non-empty string")
        if isinstance(groups, str) or not isinstance(groups, Iterable):
            raise ArgumentTypeError("Rule: groups must be a collection of strings")
        checked_groups = frozenset(groups)
        if not all(isinstance(g, str) and g for g in checked_groups):
            raise ConfigurationError("Rule: groups must be non-empty strings")
        object.__setattr__(self, "grants", checked_grants)
        object.__setattr__(self, "when", when)
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "groups", checked_groups)


@dataclasses.dataclass(frozen=True, slots=True)
class Permissions:
    """What one authenticated token may do: the grants of the rules it meets."""

    grants: tuple[Grant, ...]

    def allows(
        self, operation: Operation | str, resource_type: ResourceType | str, name: str
    ) -> bool:
        """Whether some grant allows ``operation`` on resource ``name``."""
        op = _enum(Operation, operation, "operation")
        kind = _enum(ResourceType, resource_type, "resource_type")
        return any(grant.allows(op, kind, name) for grant in self.grants)

    def topic_operations(self, name: str) -> int:
        """The bit set of ``AclOperation`` codes allowed on topic ``name``, as a
        Metadata answer reports a topic's authorized operations."""
        return sum(
            1 << ACL_OPERATION_CODES[op]
            for op in _TOPIC_OPERATIONS
            if any(grant.allows(op, ResourceType.TOPIC, name) for grant in self.grants)
        )


class ClaimsAuthorizer:
    """Authorization from claims; see the module documentation.

    ``rules`` are :class:`Rule` objects; ``claim_check`` (a
    :class:`~oauthbearer.validation.claim_check.ClaimCheck` or its text) is
    required of every token at authentication; ``groups_claim`` (a
    :class:`~oauthbearer.validation.claim_check.ClaimPath` or its text,
    default ``groups``) and ``groups_delimiter`` say where the groups are.
    """

    __slots__ = ("_claim_check", "_groups_claim", "_groups_delimiter", "_rules")

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        claim_check: ClaimCheck | str | None = None,
        groups_claim: ClaimPath | str = "groups",
        groups_delimiter: str | None = None,
    ) -> None:
        if isinstance(rules, Rule) or not all(isinstance(r, Rule) for r in rules):
            raise ArgumentTypeError("ClaimsAuthorizer: rules must be an iterable of Rule")
        self._rules = tuple(rules)
        if isinstance(claim_check, str):
            claim_check = ClaimCheck.parse(claim_check)
        elif claim_check is not None and not isinstance(claim_check, ClaimCheck):
            raise ArgumentTypeError("ClaimsAuthorizer: claim_check must be a ClaimCheck or text")
        self._claim_check = claim_check
        if isinstance(groups_claim, str):
            groups_claim = ClaimPath.parse(groups_claim)
        elif not isinstance(groups_claim, ClaimPath):
            raise ArgumentTypeError("ClaimsAuthorizer: groups_claim must be a ClaimPath or text")
        self._groups_claim = groups_claim
        if groups_delimiter is not None and (
            not isinstance(groups_delimiter, str) or not groups_delimiter
        ):
            raise ConfigurationError("ClaimsAuthorizer: groups_delimiter must be a non-empty str")
        self._groups_delimiter = groups_delimiter

    def __repr__(self) -> str:
        check = None if self._claim_check is None else self._claim_check.source
        return (
            f"ClaimsAuthorizer(rules={len(self._rules)}, claim_check={check!r}, "
            f"groups_claim={self._groups_claim.source!r})"
        )

    @property
    def claim_check(self) -> ClaimCheck | None:
        """The check every token must pass at authentication, if any."""
        return self._claim_check

    def authenticate(self, token: OAuthBearerToken) -> None:
        """Refuse (InvalidToken, ``invalid_token``) a token that fails the claim check."""
        if self._claim_check is not None and not self._claim_check.matches(token.claims):
            raise InvalidToken(
                "invalid_token",
                reason=TokenReason.CLAIM_CHECK_FAILED,
                detail=f"the token fails the claim check {show_value(self._claim_check.source)}",
            )

    def groups(self, token: OAuthBearerToken) -> frozenset[str]:
        """The token's groups, read from ``groups_claim``."""
        return frozenset(self._groups_claim.strings(token.claims, delimiter=self._groups_delimiter))

    def permissions(self, token: OAuthBearerToken) -> Permissions:
        """The grants of every rule ``token`` meets (compute once per authentication)."""
        groups = self.groups(token) if any(rule.groups for rule in self._rules) else frozenset()
        grants: list[Grant] = []
        for rule in self._rules:
            if rule.scope is not None and rule.scope not in token.scope:
                continue
            if rule.groups and rule.groups.isdisjoint(groups):
                continue
            if rule.when is not None and not rule.when.matches(token.claims):
                continue
            grants.extend(rule.grants)
        return Permissions(tuple(grants))

    def allows(
        self,
        token: OAuthBearerToken,
        operation: Operation | str,
        resource_type: ResourceType | str,
        name: str,
    ) -> bool:
        """:meth:`permissions` then :meth:`Permissions.allows`, in one call."""
        return self.permissions(token).allows(operation, resource_type, name)
