"""The paper's CIFAR augmentation (He et al. 2016, Sec. 4.2): zero-pad, crop back to size at a random offset,
mirror half of the images. Its one pad rule, its draws, and its one crop and flip, for every loader.

The crop and flip takes a batch's offsets and flips as tensors, so that the device batches can make it inside a CUDA
graph; the streamed and viewed images, made one at a time on the host, take theirs as numbers. Knows tensors only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PAPER_PAD, PAPER_SIZE = 4, 32  # 4 pixels padded on each side of 32x32 images


def paper_pad(size: int) -> int:
    """The padding of `size`x`size` images: the paper's 4 pixels of 32, scaled, and at least one."""
    return max(1, round(PAPER_PAD * size / PAPER_SIZE))


def crop_flip(images: Tensor, pad: int, offsets: Tensor, flips: Tensor) -> Tensor:
    """(B, C, H, W) `images` zero-padded by `pad`, cropped back to H x W at `offsets` (B, 2) (rows, columns, each in
    [0, 2 pad]) and mirrored where `flips` (B,): as torchvision's RandomCrop(padding=pad) and a flip, per image.

    Where the offsets are in host memory each image is sliced by `crop_flip_one` (the numbers cost nothing to read
    there, and slices copy whole rows: on a CPU the gather costs 7-17x as much per 224² image); on an accelerator
    they stay tensors and the crop is a gather, with no value going back to the host (a CUDA graph can capture it)."""
    if offsets.device.type != "cpu":
        return _gathered(images, pad, offsets, flips)
    return torch.stack([crop_flip_one(image, pad, top, left, flip)
                        for image, (top, left), flip in zip(images, offsets.tolist(), flips.tolist(), strict=True)])


def crop_flip_one(image: Tensor, pad: int, top: int, left: int, flip: bool) -> Tensor:
    """`crop_flip` of one (C, H, W) image, its offsets and flip as numbers."""
    height, width = image.shape[-2:]
    cut = F.pad(image, (pad,) * 4)[:, top : top + height, left : left + width]  # (C, H, W) of (C, H + 2p, W + 2p)
    return cut.flip(2) if flip else cut


def _gathered(images: Tensor, pad: int, offsets: Tensor, flips: Tensor) -> Tensor:
    count, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (pad,) * 4)  # (B, C, H + 2p, W + 2p)
    planes = torch.arange(count * channels, device=device).view(count, channels, 1) * (height + 2 * pad)
    rows = planes + offsets[:, None, :1] + torch.arange(height, device=device)  # (B, C, H): rows of the padded planes
    lines = padded.reshape(-1, width + 2 * pad).index_select(0, rows.flatten())  # whole rows copied: (B C H, W + 2p)
    columns = torch.arange(width, device=device)
    cols = offsets[:, 1:] + torch.where(flips[:, None], columns.flip(0), columns)  # (B, W), mirrors read leftwards
    return lines.view(count, channels, height, -1).gather(3, cols[:, None, None, :].expand(-1, channels, height, -1))


def image_draw(seed: int, epoch: int, index: int, pad: int) -> tuple[int, int, bool]:
    """(row offset, column offset, flip) of sample `index` in `epoch`, for images made one at a time (streamed, or
    through the recipes' views): a function of the three numbers only, never of a worker's random state, so any
    batch is the same whichever worker makes it and after any resume."""
    words = np.random.SeedSequence([seed, epoch, index]).generate_state(3)
    return int(words[0] % (2 * pad + 1)), int(words[1] % (2 * pad + 1)), bool(words[2] & 1)


def epoch_draws(seed: int, epoch: int, rank: int, count: int, pad: int, *, mirror: bool) -> tuple[Tensor, Tensor]:
    """Offsets (count, 2) and flips (count,) of the `count` places of one process's epoch, drawn at once for batches
    made on the device (no flip where a mirror changes the class, the draws unchanged)."""
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0]))
    offsets = torch.randint(0, 2 * pad + 1, (count, 2), generator=generator)
    flips = torch.randint(0, 2, (count,), generator=generator).bool() & mirror
    return offsets, flips
