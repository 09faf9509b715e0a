"""Degradation found automatically: each deeper net against each shallower one of its family, with the numbers
that decided the verdict; differences within two standard errors count as none."""

from __future__ import annotations

import pytest

import archgen
from archgen import degradation
from archgen.degradation import Trained, pairs, verdict

DIGITS = 1437, 360  # training and validation images


def net(name: str, train: float, val: float, *, counts: tuple[int, int] = DIGITS) -> Trained:
    return Trained(name, archgen.load_spec(name), train, val, *counts)


def test_the_shipped_digits_table_reads_as_the_paper_reads_fig_6() -> None:
    """docs/degradation.md's final errors: plain-56 degrades; ResNet-56 does not (its validation error, 4 images of
    360 above ResNet-20's, is within noise)."""
    runs = [net("digits-plain20", 0.0, 0.0111), net("digits-plain56", 0.4544, 0.6583),
            net("digits-resnet20", 0.0007, 0.0083), net("digits-resnet56", 0.0007, 0.0194)]
    found = {(pair.deeper.label, pair.shallower.label): pair for pair in pairs(runs)}
    assert set(found) == {("digits-plain56", "digits-plain20"), ("digits-resnet56", "digits-resnet20")}
    assert found["digits-plain56", "digits-plain20"].verdict == "degrades"
    assert found["digits-plain56", "digits-plain20"].reason == \
        "training error 45.44% vs 0.00%; validation error 65.83% vs 1.11%"
    assert found["digits-resnet56", "digits-resnet20"].verdict == "same"


def test_control_without_the_noise_rule_the_tie_would_over_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(degradation, "Z", 0.0)
    assert verdict(net("digits-resnet56", 0.0007, 0.0194), net("digits-resnet20", 0.0007, 0.0083)) == "over-fits"


@pytest.mark.parametrize(("deeper", "shallower", "expected"), [
    ((0.02, 0.20), (0.10, 0.10), "over-fits"),  # fits its training set better, generalises worse
    ((0.02, 0.05), (0.10, 0.10), "improves"),
    ((0.30, 0.30), (0.10, 0.10), "degrades"),  # higher training error decides, whatever validation says
    ((0.30, 0.05), (0.10, 0.10), "degrades"),
])
def test_each_verdict(deeper: tuple[float, float], shallower: tuple[float, float], expected: str) -> None:
    counts = (50_000, 10_000)
    assert verdict(net("resnet56", *deeper, counts=counts), net("resnet20", *shallower, counts=counts)) == expected


def test_only_nets_of_one_family_that_differ_in_depth_are_paired() -> None:
    runs = [net("resnet20", 0.1, 0.1), net("plain56", 0.3, 0.3), net("resnet110", 0.1, 0.1), net("resnet20", 0.1, 0.1)]
    labels = [(pair.deeper.spec.name, pair.shallower.spec.name) for pair in pairs(runs)]
    assert labels == [("resnet110", "resnet20"), ("resnet110", "resnet20")]  # plain-56 has no plain partner
    wide = archgen.parse_spec({**archgen.load_spec("resnet56").model_dump(), "body": {
        **archgen.load_spec("resnet56").body.model_dump(exclude_none=True), "width": 32}})
    assert pairs([net("resnet20", 0.1, 0.1), Trained("wide", wide, 0.5, 0.5, 100, 100)]) == []
