"""Java's Integer.parseInt / Long.parseLong, as Kafka's options and unsecured
tokens are read: a sign, ASCII digits, any number of leading zeros, and nothing
outside the type's range; other text is refused (None), at any length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthbearer.kafka_claims import java_integer

INT = range(-(2**31), 2**31)
LONG = range(-(2**63), 2**63)


@given(
    st.sampled_from(["", "+", "-"]),
    st.text(st.sampled_from("0"), max_size=30),
    st.text(st.sampled_from("0123456789"), min_size=1, max_size=40),
    st.sampled_from([INT, LONG, range(1, 2**31)]),
)
def test_java_reads_any_signed_digit_string_in_range(
    sign: str, zeros: str, digits: str, java_range: range
) -> None:
    text = sign + zeros + digits
    expected = int(text)
    assert java_integer(text, java_range) == (expected if expected in java_range else None)


@pytest.mark.parametrize(
    ("text", "java_range", "expected"),
    [
        ("2147483647", INT, 2**31 - 1),
        ("2147483648", INT, None),
        ("-2147483648", INT, -(2**31)),
        ("9223372036854775807", LONG, 2**63 - 1),
        ("9223372036854775808", LONG, None),
        ("-9223372036854775808", LONG, -(2**63)),
        ("0" * 50 + "7", LONG, 7),  # leading zeros do not count as digits
        ("1" * 20, LONG, None),  # more digits than any long: refused before int()
        ("9" * 5000, LONG, None),  # past Python's int() digit limit: still a clean None
        ("-0", INT, 0),
    ],
)
def test_java_integer_limits(text: str, java_range: range, expected: int | None) -> None:
    assert java_integer(text, java_range) == expected


@pytest.mark.parametrize(
    "text", ["", "+", "-", " 1", "1 ", "1_000", "0x10", "1e3", "1.0", "--1", "+-1", "\uff11"]
)
def test_java_refuses_what_is_not_a_signed_digit_string(text: str) -> None:
    assert java_integer(text, LONG) is None
