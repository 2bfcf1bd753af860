"""Typed setting values as Kafka's ``ConfigDef`` reads them: Java's ``trim()``,
``int``/``long``/``short``/``double``, ``boolean`` and ``LIST`` (pure). Shared by the
broker and client readers of this package; no public API."""

from __future__ import annotations

import math
import re
from typing import Final

from oauthbearer.errors import ConfigurationError
from oauthbearer.kafka_claims import java_integer, java_trim

_JAVA_INT: Final = re.compile(r"[+-]?[0-9]+")
_JAVA_DOUBLE: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[dDfF]?")
INT_RANGE: Final = range(-(2**31), 2**31)
LONG_RANGE: Final = range(-(2**63), 2**63)
SHORT_RANGE: Final = range(-(2**15), 2**15)


def trim(value: str) -> str:
    """Java's String.trim(), which ConfigDef applies to every string value."""
    return java_trim(value)


def bad_value(key: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{key}: the value is not {expected}")


def parse_int(key: str, value: str, java_range: range, type_name: str) -> int:
    number = java_integer(trim(value), java_range)
    if number is None:
        raise bad_value(key, f"a whole number (Java {type_name})")
    return number


def parse_double(key: str, value: str) -> float:
    text = trim(value)
    if not _JAVA_DOUBLE.fullmatch(text):
        raise bad_value(key, "a decimal number")
    number = float(text.rstrip("dDfF"))
    if not math.isfinite(number):
        raise bad_value(key, "a finite decimal number")
    return number


def parse_bool(key: str, value: str) -> bool:
    text = trim(value).lower()
    if text not in ("true", "false"):
        raise bad_value(key, "true or false")
    return text == "true"


def parse_list(key: str, value: str) -> tuple[str, ...]:
    """ConfigDef's LIST: split at commas with surrounding whitespace; Kafka's
    validator for the audience refuses duplicates; empty items are refused too."""
    text = trim(value)
    if not text:
        return ()
    items = tuple(re.split(r"\s*,\s*", text))
    if any(not item for item in items):
        raise bad_value(key, "a comma-separated list without empty items")
    if len(set(items)) != len(items):
        raise bad_value(key, "a list without duplicates")
    return items
