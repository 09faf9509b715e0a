"""A compiled network as a detection or segmentation backbone: its stage outputs through torchvision's FPN.

The interface torchvision's detectors expect of `BackboneWithFPN`: an `out_channels` attribute and an
OrderedDict of feature maps named "0", "1", … and "pool". Knows nothing of detection heads or data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

from archgen.compile.network import FeatureNetwork, build_model
from archgen.errors import ArchgenError
from archgen.spec.schema import NetSpec


class FPNBackbone(nn.Module):
    """Stage outputs of a `FeatureNetwork`, merged top-down by a feature pyramid (Lin et al. 2017).

    torchvision's `BackboneWithFPN` with archgen's body in place of its IntermediateLayerGetter (which
    needs the returned layers as direct children), so it plugs into FasterRCNN, MaskRCNN and RetinaNet.
    """

    def __init__(self, body: FeatureNetwork, *, stages: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.stages = tuple(stages)
        self.fpn = FeaturePyramidNetwork(
            [body.channels[i] for i in self.stages], out_channels, extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = out_channels
        """Channels of every pyramid level (what torchvision's detection heads read)."""

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """Pyramid levels "0" … (finest first, each out_channels wide) and "pool" (a stride-2 max-pool of the last)."""
        features = self.body(x)
        return self.fpn(OrderedDict((str(level), features[i]) for level, i in enumerate(self.stages)))


def fpn_backbone(spec: NetSpec, *, out_channels: int = 256, stages: Sequence[int] | None = None) -> FPNBackbone:
    """Compile `spec` without its head and put an FPN over the given stages (default: all, as torchvision's)."""
    count = len(spec.body.resolved_stages())
    chosen = tuple(range(count)) if stages is None else tuple(stages)
    if not chosen or list(chosen) != sorted(set(chosen)) or not 0 <= chosen[0] <= chosen[-1] < count:
        raise ArchgenError(f"FPN stages must be increasing stage indices below {count}, got {list(chosen)}")
    if out_channels < 1:
        raise ArchgenError(f"FPN out_channels must be positive, got {out_channels}")
    body = build_model(spec, features_only=True)
    assert isinstance(body, FeatureNetwork)
    return FPNBackbone(body, stages=chosen, out_channels=out_channels)
