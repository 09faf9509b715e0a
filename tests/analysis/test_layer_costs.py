"""What each kind of layer costs, by the formulas the analysis states (REFERENCE.md's conventions)."""

from __future__ import annotations

from typing import get_args

from archgen.analysis import Cost, layer_cost
from archgen.plan import Layer, LayerKind


def test_conv_bn_fc_and_pool() -> None:
    # a grouped 3x3/2 conv: 64 x 32/4 x 3 x 3 weights, at each of 7 x 7 output positions
    assert layer_cost(Layer("conv", "conv", (32, 14, 14), (64, 7, 7), 3, 2, 4)) == Cost(4_608, 4_608 * 49, 64 * 49)
    assert layer_cost(Layer("bn", "bn", (64, 7, 7), (64, 7, 7))) == Cost(params=128)  # gamma, beta; no MACs
    assert layer_cost(Layer("fc", "fc", (512, 1, 1), (10, 1, 1))) == Cost(5_130, 5_120, 10)  # the bias: no MACs
    assert layer_cost(Layer("maxpool", "pool", (64, 112, 112), (64, 56, 56), 3, 2)) == Cost(acts=64 * 56 * 56)


def test_a_gate_is_a_1x1_conv_with_a_bias() -> None:
    """He et al. 2016b's g(x) = sigmoid(W_g x + b_g), strided where its block is: the bias adds parameters, not MACs."""
    gate = Layer("gate", "gate", (16, 32, 32), (32, 16, 16), 1, 2, init_bias=-6.0)
    assert layer_cost(gate) == Cost(16 * 32 + 32, 16 * 32 * 16 * 16, 32 * 16 * 16)
    assert layer_cost(Layer("shortcut_dropout", "shortcut", (16, 8, 8), (16, 8, 8), rate=0.5)) == Cost()


def test_every_layer_kind_has_a_cost() -> None:
    """A kind added to the plan must say what it costs; the parameter-free ones cost nothing."""
    counted = {"conv", "bn", "fc", "maxpool", "gate"}
    for kind in get_args(LayerKind):
        cost = layer_cost(Layer(kind, kind, (4, 2, 2), (4, 2, 2)))
        assert (cost != Cost()) == (kind in counted), kind
