"""The fuzz targets' oracles, in CI, without atheris and without a campaign.

Each target's ``test_one_input`` (``fuzz/*.py``) runs over its seed corpus,
reproducers of past findings (``regression-*``) included, then over a few
thousand inputs made from the seeds by a seeded mutator: a few seconds that
keep the oracles and the seeds working. The campaign itself, coverage-guided
and a million runs per target, is ``docs/fuzzing.md``'s business.
"""

from __future__ import annotations

import importlib.util
import pathlib
import random
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

FUZZ = pathlib.Path(__file__).parent.parent / "fuzz"
#: Mutated inputs per target: as many as run in about a second each.
RUNS = {"codec": 10_000, "sessions": 10_000, "jwt_validators": 3_000, "kafka_wire": 1_000}


def target(name: str) -> Callable[[bytes], None]:
    """The target's ``test_one_input``, imported from its file (fuzz/ is no package)."""
    if str(FUZZ) not in sys.path:
        sys.path.append(str(FUZZ))  # for the targets' ``import fuzzlib``
    spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run: Callable[[bytes], None] = module.test_one_input
    return run


def seeds(name: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted((FUZZ / "corpus" / name).iterdir())]


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """A few of libFuzzer's mutations: flip, insert, erase, splice, truncate."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        pos = rng.randint(0, len(out))
        if choice == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif choice == 2:
            del out[pos : pos + rng.randint(1, 16)]
        elif choice == 3:
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            out[pos:] = other[start:]
        else:
            del out[pos:]
    return bytes(out)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_seed_corpus_passes_the_oracle(name: str) -> None:
    run = target(name)
    corpus = seeds(name)
    assert len(corpus) >= 10
    for data in corpus:
        run(data)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_mutated_seeds_pass_the_oracle(name: str) -> None:
    run = target(name)
    corpus = seeds(name)
    rng = random.Random(name)  # noqa: S311 - fuzz inputs, reproducible, not secrets
    for _ in range(RUNS[name]):
        data = mutate(rng, rng.choice(corpus), corpus)
        try:
            run(data)
        except BaseException as err:
            err.add_note(f"fuzz input (hex): {data.hex()}")
            raise


def test_the_targets_need_no_atheris() -> None:
    for name in RUNS:
        target(name)
    assert "atheris" not in sys.modules
