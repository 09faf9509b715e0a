"""Degradation found automatically: each deeper net against each shallower one of its family, with the numbers
that decided the verdict; differences within two standard errors count as none."""

from __future__ import annotations

import pytest

import archgen
from archgen import degradation
from archgen.degradation import Trained, pairs, trained_differently, unjudged, verdict

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
        "training error 45.44% vs 0.00%; validation error 65.83% vs 1.11% (binomial, one run each)"
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
    runs = [net("resnet20", 0.1, 0.1), net("plain56", 0.3, 0.3), net("resnet56", 0.1, 0.1), net("resnet20", 0.1, 0.1)]
    labels = [(pair.deeper.spec.name, pair.shallower.spec.name) for pair in pairs(runs)]
    assert labels == [("resnet56", "resnet20"), ("resnet56", "resnet20")]  # plain-56 has no plain partner
    # ResNet-110 warms up (the paper's 0.01 for 400 iterations): a recipe of its own, so no verdict against ResNet-20
    assert pairs([net("resnet110", 0.1, 0.1), net("resnet20", 0.1, 0.1)]) == []
    [skipped] = unjudged([net("resnet110", 0.1, 0.1), net("resnet20", 0.1, 0.1)])
    assert skipped.reason.startswith("trained differently: train.warmup_epochs ")
    wide = archgen.parse_spec({**archgen.load_spec("resnet56").model_dump(), "body": {
        **archgen.load_spec("resnet56").body.model_dump(exclude_none=True), "width": 32}})
    assert pairs([net("resnet20", 0.1, 0.1), Trained("wide", wide, 0.5, 0.5, 100, 100)]) == []


# --- only nets trained alike are judged (one rule for compare and the search) ------------------------------------


def recipe(name: str, **train: object) -> archgen.NetSpec:
    spec = archgen.load_spec(name)
    return spec.model_copy(update={"train": spec.train.model_copy(update=train)})


def test_a_deeper_net_trained_at_another_learning_rate_is_not_judged_and_says_why() -> None:
    deeper = Trained("resnet56", recipe("resnet56", lr=0.01), 0.30, 0.30, 50_000, 10_000)
    shallower = Trained("resnet20", recipe("resnet20"), 0.10, 0.10, 50_000, 10_000)
    assert pairs([deeper, shallower]) == []
    [skipped] = unjudged([deeper, shallower])
    assert (skipped.deeper.label, skipped.shallower.label) == ("resnet56", "resnet20")
    assert skipped.reason == "trained differently: train.lr 0.01 vs 0.1"
    # control: at the same learning rate the pair is judged, and the verdict is the one the numbers say
    alike = Trained("resnet56", recipe("resnet56"), 0.30, 0.30, 50_000, 10_000)
    assert [pair.verdict for pair in pairs([alike, shallower])] == ["degrades"] and unjudged([alike, shallower]) == []


def test_fewer_epochs_trained_is_a_difference_and_so_is_a_shorter_recipe() -> None:
    stopped = Trained("resnet56", recipe("resnet56"), 0.30, 0.30, 50_000, 10_000, epochs=3)
    full = Trained("resnet20", recipe("resnet20"), 0.10, 0.10, 50_000, 10_000, epochs=164)
    assert trained_differently(stopped, full) == "trained differently: epochs trained 3 vs 164"
    shorter = Trained("resnet56", recipe("resnet56", epochs=10), 0.30, 0.30, 50_000, 10_000)
    assert trained_differently(shorter, full) == "trained differently: train.epochs 10 vs 164"
    # the seed and the starting weights are no difference: seeds differ by design, and growing is what is compared
    other = Trained("resnet56", recipe("resnet56", seed=7, init="grown.safetensors"), 0.3, 0.3, 50_000, 10_000)
    assert trained_differently(other, full) is None


def test_with_seeds_the_verdict_is_welchs_and_says_so() -> None:
    """Two seeds each: a training-error gap of 4 points whose seeds scatter by 6 is noise to Welch's test, though two
    binomial standard errors of 50,000 images would call it a difference."""
    deeper = Trained.over_seeds("resnet56", recipe("resnet56"), [(0.10, 0.10), (0.16, 0.10)], images=(50_000, 10_000))
    shallower = Trained.over_seeds("resnet20", recipe("resnet20"), [(0.07, 0.10), (0.11, 0.10)],
                                   images=(50_000, 10_000))
    [pair] = pairs([deeper, shallower])
    assert pair.verdict == "same" and pair.reason.endswith("(Welch's t-test, 2 and 2 seeds)")
    assert (deeper.train_error, len(deeper.seeds)) == (pytest.approx(0.13), 2)
    # control: the same means from one run each are judged by the binomial rule, which sees a difference
    one = [Trained("resnet56", recipe("resnet56"), 0.13, 0.10, 50_000, 10_000),
           Trained("resnet20", recipe("resnet20"), 0.09, 0.10, 50_000, 10_000)]
    [single] = pairs(one)
    assert single.verdict == "degrades" and single.reason.endswith("(binomial, one run each)")


def test_seeds_that_agree_decide_where_one_run_could_not() -> None:
    """Three seeds each, tightly together: 0.6 points of validation error over 360 images is within two binomial
    standard errors of one run, but the seeds say it is real."""
    deeper = Trained.over_seeds("resnet56", recipe("resnet56"), [(0.0, 0.020), (0.0, 0.021), (0.0, 0.022)],
                                images=(1437, 360))
    shallower = Trained.over_seeds("resnet20", recipe("resnet20"), [(0.0, 0.014), (0.0, 0.015), (0.0, 0.016)],
                                   images=(1437, 360))
    assert verdict(deeper, shallower) == "over-fits"
    assert verdict(Trained("a", deeper.spec, 0.0, 0.021, 1437, 360), Trained("b", shallower.spec, 0.0, 0.015, 1437,
                                                                              360)) == "same"
