"""A compiled net as a detection backbone: torchvision's Faster R-CNN over archgen stages + torchvision's FPN."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from archgen import ArchgenError, load_spec
from archgen.compile.backbone import fpn_backbone

SIZE = 128


def images_and_targets() -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, SIZE, SIZE, generator=generator) for _ in range(2)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 60.0, 90.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[5.0, 5.0, 40.0, 40.0], [70.0, 64.0, 120.0, 110.0]]), "labels": torch.tensor([2, 1])},
    ]
    return images, targets


def test_fpn_levels_follow_the_stages() -> None:
    spec = load_spec("resnet18")
    backbone = fpn_backbone(spec, out_channels=32)
    levels = backbone(torch.randn(1, 3, SIZE, SIZE))
    assert list(levels) == ["0", "1", "2", "3", "pool"]
    shapes = [(1, 32, SIZE // reduction, SIZE // reduction) for reduction in (4, 8, 16, 32, 64)]
    assert [tuple(level.shape) for level in levels.values()] == shapes
    assert backbone.out_channels == 32


def test_faster_rcnn_trains_and_detects_on_a_compiled_backbone() -> None:
    """The paper's Sec. 4.3 use of ResNet features, with torchvision's detector and no pretrained weights."""
    torch.manual_seed(0)
    backbone = fpn_backbone(load_spec("resnet18"), out_channels=64)
    model = FasterRCNN(backbone, num_classes=3, min_size=SIZE, max_size=SIZE)
    images, targets = images_and_targets()

    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(loss) for loss in losses.values())
    sum(losses.values()).backward()
    assert backbone.body.stages[0][0].branch.conv1.weight.grad is not None  # the backbone learns too

    model.eval()
    with torch.no_grad():
        detections = model(images)
    assert len(detections) == 2
    assert all(set(d) == {"boxes", "labels", "scores"} and d["boxes"].shape[1:] == (4,) for d in detections)


def test_cifar_backbone_with_three_levels() -> None:
    """A CIFAR net's last two stages: anchors and RoI pooling for its own levels ("0", "1" and "pool")."""
    backbone = fpn_backbone(load_spec("resnet20"), out_channels=16, stages=[1, 2])
    anchors = AnchorGenerator(sizes=((16,), (32,), (64,)), aspect_ratios=((0.5, 1.0, 2.0),) * 3)
    model = FasterRCNN(backbone, num_classes=3, min_size=64, max_size=64, rpn_anchor_generator=anchors,
                       box_roi_pool=MultiScaleRoIAlign(["0", "1"], output_size=7, sampling_ratio=2))
    images, targets = images_and_targets()
    model.train()
    losses = model([image[:, :64, :64] for image in images], [{**t, "boxes": t["boxes"] / 2} for t in targets])
    assert all(torch.isfinite(loss) for loss in losses.values())


@pytest.mark.parametrize("stages", [[], [0, 4], [2, 1], [-1, 2], [1, 1]])
def test_bad_stages_are_refused(stages: list[int]) -> None:
    with pytest.raises(ArchgenError, match="FPN stages"):
        fpn_backbone(load_spec("resnet18"), stages=stages)
