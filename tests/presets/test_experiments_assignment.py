"""Assignment is a pure function of the experiment and the unit: sticky, and split as weighted."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter

import pytest

from presets.experiments.assignment import bucket, pick
from presets.experiments.statistics import sample_ratio

USERS = [uuid.UUID(int=n) for n in range(10_000)]
EXPERIMENT = uuid.UUID("6f1c2a4e-0000-4000-8000-000000000001")


def split(weights: list[int], share: float = 1.0, experiment: uuid.UUID = EXPERIMENT) -> Counter:
    return Counter(pick(experiment_id=experiment, unit_id=user, traffic_share=share, weights=weights) for user in USERS)


def test_the_same_unit_lands_in_the_same_variant_every_time() -> None:
    first = [pick(experiment_id=EXPERIMENT, unit_id=user, traffic_share=0.7, weights=[1, 2, 3]) for user in USERS]
    again = [pick(experiment_id=EXPERIMENT, unit_id=user, traffic_share=0.7, weights=[1, 2, 3]) for user in USERS]
    assert first == again


def test_the_bucket_is_the_documented_hash_so_every_process_agrees() -> None:
    digest = hashlib.sha256(b"exp-1:user-7").digest()
    assert bucket("exp-1", "user-7") == int.from_bytes(digest[:8], "big") / 2**64


def test_an_even_split_of_ten_thousand_users_is_within_tolerance() -> None:
    counts = split([1, 1])
    # 3 standard deviations of a fair binomial(10000, 0.5) are 150 units.
    assert abs(counts[0] - 5_000) < 150
    assert counts[0] + counts[1] == 10_000
    assert not sample_ratio([counts[0], counts[1]], [1, 1])["mismatch"]


def test_a_weighted_split_with_partial_traffic_is_within_tolerance() -> None:
    counts = split([1, 2, 1], share=0.5)
    enrolled = 10_000 - counts[None]
    assert abs(enrolled - 5_000) < 150
    for index, expected in enumerate([0.25, 0.5, 0.25]):
        assert abs(counts[index] / enrolled - expected) < 0.03
    assert not sample_ratio([counts[0], counts[1], counts[2]], [1, 2, 1])["mismatch"]


def test_experiments_assign_independently() -> None:
    other = uuid.UUID("6f1c2a4e-0000-4000-8000-000000000002")
    same = sum(
        pick(experiment_id=EXPERIMENT, unit_id=user, traffic_share=1, weights=[1, 1])
        == pick(experiment_id=other, unit_id=user, traffic_share=1, weights=[1, 1])
        for user in USERS
    )
    assert abs(same - 5_000) < 150  # agreement by chance only


@pytest.mark.parametrize(("share", "enrolled"), [(0.0, 0), (1.0, 10_000)])
def test_traffic_share_bounds(share: float, enrolled: int) -> None:
    assert 10_000 - split([1, 1], share=share)[None] == enrolled


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive weights"):
        pick(experiment_id=EXPERIMENT, unit_id="u", traffic_share=1, weights=[1, 0])
