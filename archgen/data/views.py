"""What the network sees of one image: its training view (the recipe's augmentation) and its validation view (a
centre crop or ten), every random choice a function of (seed, epoch, index), and the normalisation of a batch.

torchvision's functional ops on one (C, H, W) uint8 image, drawn as torchvision's own transforms draw (the same calls
on a generator seeded per image); the data workers apply a view to each image decoded at its own size, the in-memory
loader to each image it holds. Knows tensors; nothing of files, orders or training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from archgen.data.crops import crop_flip_one, image_draw, paper_pad
from archgen.data.decode import fit
from archgen.errors import DataError, printable
from archgen.spec.schema import AugmentKind, Train

TEN = 10  # crops of ten-crop evaluation: 4 corners and the centre, and their mirror images (Krizhevsky et al. 2012)
# The principal components of ImageNet's RGB values on the 0..1 scale (Krizhevsky et al. 2012, Sec. 4.1), as
# fb.resnet.torch publishes them (datasets/imagenet.lua; Facebook's ClassyVision holds the same, times 255): the
# eigenvalues, and the eigenvectors as the columns of EIGENVECTORS.
EIGENVALUES = (0.2175, 0.0188, 0.0045)
EIGENVECTORS = ((-0.5675, 0.7192, 0.4009),
                (-0.5808, -0.0045, -0.8140),
                (-0.5836, -0.6948, 0.4203))


class Draw(NamedTuple):
    """One training image's random choices: the region cut from it (from the image resized to `resized` first, for
    scale augmentation; from the padded image, for CIFAR's), the mirroring, and the lighting noise's weights."""

    top: int
    left: int
    height: int
    width: int
    resized: tuple[int, int] | None
    flip: bool
    alpha: tuple[float, float, float] | None


@dataclass(frozen=True)
class Views:
    """How images become `size` x `size` inputs: augmented for training, cropped for validation."""

    size: int
    augment: AugmentKind = "cifar"
    mirror: bool = True
    """Whether a flip keeps an image's class (not for digits); a flip is drawn either way, so the draws stay aligned."""
    scale: tuple[int, ...] = (256, 480)
    crop_area: tuple[float, ...] = (0.08, 1.0)
    crop_ratio: tuple[float, ...] = (3 / 4, 4 / 3)
    lighting: float = 0.0
    eval_resize: int | None = None
    ten_crop: bool = False

    @classmethod
    def of(cls, recipe: Train, *, size: int, mirror: bool, channels: int, source: str) -> Views:
        """The recipe's views at `size`, or one DataError line where its sizes or channels cannot apply."""
        views = cls(size, recipe.augment, mirror, recipe.scale, recipe.crop_area, recipe.crop_ratio,
                    recipe.lighting if recipe.augment != "none" else 0.0, recipe.eval_resize,
                    recipe.eval_crop == "ten")
        source = printable(source)
        if views.augment == "scale" and views.scale[0] < size:
            raise DataError(f"{source}: scale augmentation crops {size}x{size} from images whose shorter side is "
                            f"resized to {views.scale[0]}-{views.scale[1]}: the range must start at {size} or above")
        if views.resize < size:
            raise DataError(f"{source}: a {size}x{size} validation crop does not fit in images resized to "
                            f"{views.resize} (eval_resize)")
        if views.lighting and channels != 3:
            raise DataError(f"{source}: lighting noise shifts RGB colours along ImageNet's principal components; "
                            f"these images have {channels} channel{'s' if channels != 1 else ''}")
        if views.ten_crop and not mirror:
            raise DataError(f"{source}: ten-crop evaluation averages over mirror images, but a mirrored image of "
                            "these data is another class; use eval_crop = 'center'")
        return views

    @property
    def pad(self) -> int:
        """CIFAR augmentation's zero padding at this size (`archgen.data.crops`)."""
        return paper_pad(self.size)

    @property
    def resize(self) -> int:
        """The shorter side of a validation image before its crops."""
        return self.eval_resize or self.size

    @property
    def plain_training(self) -> bool:
        """Whether training images are the whole image, or the paper's CIFAR crops, with no colour noise: what the
        in-memory loader makes on the device from the images it holds at `size`."""
        return not self.lighting and (self.augment == "cifar" or (self.augment == "none" and self.resize == self.size))

    @property
    def plain_validation(self) -> bool:
        """Whether a validation image is the whole image fitted to `size` (no resizing beyond it, one crop)."""
        return self.resize == self.size and not self.ten_crop

    def draw(self, seed: int, epoch: int, index: int, *, height: int, width: int) -> Draw:
        """Image `index`'s random choices in `epoch`, for an image of `height` x `width`: a function of these
        numbers only, never of a worker's random state."""
        if self.augment == "cifar":  # the paper's crops and flips, drawn as streamed images have always been
            top, left, flip = image_draw(seed, epoch, index, self.pad)
            return Draw(top, left, self.size, self.size, None, flip, self._alpha(seed, epoch, index))
        generator = torch.Generator().manual_seed(image_seed(seed, epoch, index))
        if self.augment == "scale":
            top, left, resized = _scale_crop(generator, self.scale, self.size, height, width)
            return Draw(top, left, self.size, self.size, resized, _flip(generator), self._alpha(generator=generator))
        top, left, cut_height, cut_width = _resized_crop(generator, self.crop_area, self.crop_ratio, height, width)
        return Draw(top, left, cut_height, cut_width, None, _flip(generator), self._alpha(generator=generator))

    def train(self, image: Tensor, draw: Draw) -> Tensor:
        """The (C, size, size) training view of one (C, H, W) uint8 image."""
        flip = draw.flip and self.mirror
        if self.augment == "cifar":
            return crop_flip_one(fit(image, self.size), self.pad, draw.top, draw.left, flip)
        if draw.resized is not None:  # scale: shorter side resized, then a crop of `size`
            image = TF.resize(image, list(draw.resized), antialias=True)
            view = TF.crop(image, draw.top, draw.left, self.size, self.size)
        else:  # random-resized-crop: a region resized to `size`
            view = TF.resized_crop(image, draw.top, draw.left, draw.height, draw.width, [self.size, self.size],
                                   antialias=True)
        return TF.horizontal_flip(view) if flip else view

    def view(self, image: Tensor, draw: Draw | None, *, validation: bool) -> Tensor:
        """The training view when `draw` is given; else the validation view, or a training image's centre crop."""
        if draw is not None:
            return self.train(image, draw)
        return self.validation(image) if validation else self.centre(image)

    def centre(self, image: Tensor) -> Tensor:
        """The (C, size, size) centre crop of one image resized to `resize` on its shorter side (untouched by
        augmentation: training with augment = "none", and the normalisation statistics)."""
        if self.resize == self.size:
            return fit(image, self.size)  # as streamed images have always been fitted
        return TF.center_crop(TF.resize(image, [self.resize], antialias=True), [self.size, self.size])

    def validation(self, image: Tensor) -> Tensor:
        """The validation view: the centre crop (C, size, size), or the ten crops (10, C, size, size) in
        torchvision's TenCrop order (corners, centre, then the same of the mirror image)."""
        if not self.ten_crop:
            return self.centre(image)
        resized = TF.resize(image, [self.resize], antialias=True)
        return torch.stack(TF.ten_crop(resized, [self.size, self.size]))

    def shift(self, draw: Draw) -> Tensor:
        """The lighting noise of `draw`: (3,) float32 added to the RGB values on the 0..1 scale (zero without)."""
        if draw.alpha is None:
            return torch.zeros(3)
        return lighting_shift(draw.alpha)

    def _alpha(self, *image: int, generator: torch.Generator | None = None) -> tuple[float, float, float] | None:
        """The lighting noise's weights of the principal components, alpha ~ N(0, lighting^2), drawn after the
        image's other choices (from its own generator, made from (seed, epoch, index) where no other needed one)."""
        if not self.lighting:
            return None
        generator = generator or torch.Generator().manual_seed(image_seed(*image))
        alpha = torch.empty(3, dtype=torch.float64).normal_(0.0, self.lighting, generator=generator)
        first, second, third = alpha.tolist()
        return first, second, third


def image_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of image `index`'s generator in `epoch`: 64 bits mixed from the three numbers (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0])


def lighting_shift(alpha: tuple[float, float, float]) -> Tensor:
    """eigvec x (alpha * eigval): the RGB shift of Krizhevsky et al. 2012's PCA noise (fb.resnet.torch's Lighting)."""
    eigenvalues = torch.tensor(EIGENVALUES, dtype=torch.float64)
    eigenvectors = torch.tensor(EIGENVECTORS, dtype=torch.float64)
    return (eigenvectors @ (torch.tensor(alpha, dtype=torch.float64) * eigenvalues)).float()  # (3,)


def _flip(generator: torch.Generator) -> bool:
    """RandomHorizontalFlip(0.5)'s draw: mirrored when the uniform draw is below one half."""
    return bool(torch.rand(1, generator=generator) < 0.5)


def _scale_crop(generator: torch.Generator, scale: tuple[int, ...], size: int, height: int,
                width: int) -> tuple[int, int, tuple[int, int]]:
    """(top, left, resized (height, width)) as torchvision's RandomShortestSize(range(low, high + 1)) and then
    RandomCrop(size) draw them: the shorter side's length, the long side truncated as RandomShortestSize does, then
    the crop's corner (He et al. 2016, Sec. 3.4, after Simonyan & Zisserman 2015's scale jittering)."""
    low, high = scale
    shorter = low + int(torch.randint(high - low + 1, (), generator=generator))
    ratio = shorter / min(height, width)
    resized = int(height * ratio), int(width * ratio)
    top = int(torch.randint(0, resized[0] - size + 1, (), generator=generator)) if resized[0] > size else 0
    left = int(torch.randint(0, resized[1] - size + 1, (), generator=generator)) if resized[1] > size else 0
    return top, left, resized


def _resized_crop(generator: torch.Generator, area: tuple[float, ...], ratio: tuple[float, ...], height: int,
                  width: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a region as torchvision's RandomResizedCrop draws it: up to 10 tries at a random
    part of the area and a log-uniform aspect ratio, else the central crop of the nearest ratio (Szegedy et al.
    2015's "Inception" crops)."""
    log_ratio = torch.log(torch.tensor(ratio))  # float32, as torchvision keeps it
    for _ in range(10):
        target = height * width * torch.empty(1).uniform_(area[0], area[1], generator=generator).item()
        aspect = torch.exp(torch.empty(1).uniform_(float(log_ratio[0]), float(log_ratio[1]),
                                                   generator=generator)).item()
        cut_width, cut_height = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cut_width <= width and 0 < cut_height <= height:
            top = int(torch.randint(0, height - cut_height + 1, (1,), generator=generator).item())
            left = int(torch.randint(0, width - cut_width + 1, (1,), generator=generator).item())
            return top, left, cut_height, cut_width
    shape = width / height
    if shape < min(ratio):
        cut_width, cut_height = width, round(width / min(ratio))
    elif shape > max(ratio):
        cut_width, cut_height = round(height * max(ratio)), height
    else:
        cut_width, cut_height = width, height
    return (height - cut_height) // 2, (width - cut_width) // 2, cut_height, cut_width


@dataclass(frozen=True)
class Normalise:
    """Batches to the network's floats on the device: uint8 x / 255, less the mean, over the standard deviation, plus
    each image's lighting shift over the standard deviation (the noise is added on the 0..1 scale, before
    normalisation, as fb.resnet.torch adds it)."""

    scale: Tensor
    shift: Tensor
    inverse_std: Tensor

    @classmethod
    def of(cls, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> Normalise:
        channel = (1, -1, 1, 1)
        return cls((1 / (255 * torch.tensor(std))).view(channel).to(device),
                   (-torch.tensor(mean) / torch.tensor(std)).view(channel).to(device),
                   (1 / torch.tensor(std)).to(device))

    def __call__(self, images: Tensor, shifts: Tensor | None = None) -> Tensor:
        """(B, C, S, S) or (B, 10, C, S, S) uint8 on the device, with (B, C) shifts or None."""
        normalised = images.float() * self.scale + self.shift
        if shifts is None:
            return normalised
        return normalised + (shifts.to(images.device, non_blocking=True) * self.inverse_std)[:, :, None, None]
