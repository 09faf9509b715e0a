"""The paper families: the 6n+2 / 9n+2 arithmetic, ImageNet's published depths, and plain counterparts."""

from __future__ import annotations

import pytest

from archgen import analyze, load_spec
from archgen.errors import SpecError
from archgen.reference import PAPER_NUMBERS
from archgen.spec.families import IMAGENET_DEPTHS, blocks_per_stage, new_spec, plain_counterpart


@pytest.mark.parametrize(("depth", "n"), [(20, 3), (32, 5), (44, 7), (56, 9), (110, 18), (1202, 200), (8, 1)])
def test_6n_plus_2(depth: int, n: int) -> None:
    assert blocks_per_stage(depth, per_block=2) == n


@pytest.mark.parametrize(("depth", "n"), [(164, 18), (1001, 111), (11, 1)])
def test_9n_plus_2(depth: int, n: int) -> None:
    assert blocks_per_stage(depth, per_block=3) == n


def test_the_deepest_allowed_net_still_validates() -> None:
    made = new_spec("cifar", 6 * 666 + 2)
    assert sum(stage.depth for stage in made.spec.body.resolved_stages()) == 1998
    with pytest.raises(SpecError, match=r"more than the deepest 6n\+2 net archgen builds: 3998 \(n=666\)"):
        new_spec("cifar", 6 * 667 + 2)


@pytest.mark.slow  # imports torch
@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_imagenet_depths_are_torchvision_s(depth: int) -> None:
    import inspect

    from torchvision.models import resnet

    source = inspect.getsource(getattr(resnet, f"resnet{depth}"))
    assert str(list(IMAGENET_DEPTHS[depth])) in source  # torchvision passes them as `_resnet(Block, [3, 4, 6, 3], …)`


def test_resnet200_is_a_bottleneck_net_of_200_layers() -> None:
    spec = new_spec("imagenet", 200).spec
    assert spec.depth == 200 and spec.body.block == "bottleneck" and spec.reference is None


def test_cifar_164_is_not_the_pre_activation_reference() -> None:
    assert new_spec("cifar", 164).spec.reference is None
    assert new_spec("preact", 164).spec.reference == "resnet164"


@pytest.mark.parametrize(("residual", "plain"),
    [("resnet34", "plain34"), ("resnet18", "plain18"), ("resnet56", "plain56")]
)
def test_plain_counterpart_has_the_paper_s_plain_numbers(residual: str, plain: str) -> None:
    spec = plain_counterpart(load_spec(residual))
    assert (spec.name, spec.reference, spec.body.residual) == (plain, plain, False)
    assert analyze(spec).params == PAPER_NUMBERS[plain].params


def test_plain_counterpart_without_a_published_plain_net() -> None:
    spec = plain_counterpart(load_spec("resnet50c"))
    assert spec.name == "plain50c" and spec.reference is None and not spec.body.residual
    assert plain_counterpart(spec) is spec
