"""Inputs for the test suite's totality properties.

The message strategies are public: :mod:`oauthbearer.testing.strategies`. This
module only mixes them into what the "any bytes give a message or our error"
properties feed a parser.
"""

from __future__ import annotations

from hypothesis import strategies as st

from oauthbearer import ClientInitialResponse, Dialect
from oauthbearer.testing import strategies as obs

encoded_initial_responses = obs.initial_responses().map(ClientInitialResponse.encode)

#: Inputs worth feeding a parser: valid in either dialect (in every form the
#: grammar allows), invalid by one rule, mutated at random, and arbitrary.
#: Oversize inputs are left out: they say nothing about the grammar.
parser_inputs = (
    encoded_initial_responses
    | obs.valid_initial_responses().map(lambda valid: valid.data)
    | obs.invalid_initial_responses(
        reasons=[r for r in obs.INITIAL_RESPONSE_REASONS[Dialect.RFC7628] if r != "too-large"]
    ).map(lambda invalid: invalid.data)
    | obs.mutated(encoded_initial_responses)
    | st.binary(max_size=200)
)
