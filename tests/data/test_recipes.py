"""The ImageNet recipes' views, one image at a time, against torchvision's own transforms.

Each view is drawn from a generator seeded by (seed, epoch, index); torchvision's transforms, run under
`torch.manual_seed` of the same seed, must make the same image: the same draws, in the same order, through the same
functional ops. The lighting noise is checked against fb.resnet.torch's formula written out by hand. Controls: another
image's seed gives another view; a view without the flip is not the reference.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2 as T
import torchvision.transforms.v2.functional as TF

from archgen.data import make_loaders
from archgen.data.images import ImageData, Split
from archgen.data.views import EIGENVALUES, EIGENVECTORS, Normalise, Views, image_seed
from archgen.errors import DataError
from archgen.spec.schema import Train

SIZE = 32
SHAPES = [(3, 70, 93), (3, 96, 64), (3, 40, 41), (1, 64, 80)]  # landscape, portrait, near the crop, grey


def image(shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def made(views: Views, picture: torch.Tensor, index: int, *, seed: int = 3, epoch: int = 2) -> torch.Tensor:
    draw = views.draw(seed, epoch, index, height=picture.shape[-2], width=picture.shape[-1])
    return views.train(picture, draw)


def reference(transform: T.Transform, picture: torch.Tensor, index: int, *, seed: int = 3,
              epoch: int = 2) -> torch.Tensor:
    torch.manual_seed(image_seed(seed, epoch, index))
    return transform(picture)  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", SHAPES)
def test_scale_augmentation_is_torchvisions_random_shortest_size_crop_and_flip(shape: tuple[int, int, int]) -> None:
    """He et al. 2016, Sec. 3.4: shorter side in [low, high], a random crop, a flip (torchvision's transforms)."""
    views = Views(SIZE, "scale", scale=(40, 72))
    transform = T.Compose([T.RandomShortestSize(list(range(40, 73))), T.RandomCrop(SIZE), T.RandomHorizontalFlip()])
    picture = image(shape)
    for index in range(12):
        assert torch.equal(made(views, picture, index), reference(transform, picture, index))
    assert not torch.equal(made(views, picture, 0), reference(transform, picture, 1))  # control: another image's seed
    unflipped = T.Compose([T.RandomShortestSize(list(range(40, 73))), T.RandomCrop(SIZE)])
    flipped = [index for index in range(12) if views.draw(3, 2, index, height=shape[1], width=shape[2]).flip]
    assert flipped and not torch.equal(made(views, picture, flipped[0]), reference(unflipped, picture, flipped[0]))


@pytest.mark.parametrize("shape", SHAPES)
def test_random_resized_crop_is_torchvisions(shape: tuple[int, int, int]) -> None:
    views = Views(SIZE, "random-resized-crop")
    transform = T.Compose([T.RandomResizedCrop(SIZE), T.RandomHorizontalFlip()])
    picture = image(shape)
    for index in range(12):
        assert torch.equal(made(views, picture, index), reference(transform, picture, index))
    assert not torch.equal(made(views, picture, 0), reference(transform, picture, 1))  # control


def test_random_resized_crop_falls_back_as_torchvision_does() -> None:
    """No try fits a 12x90 image at 90% of its area and a ratio near 1: the central crop of the widest ratio."""
    views = Views(SIZE, "random-resized-crop", crop_area=(0.9, 1.0), crop_ratio=(0.75, 1.25))
    picture = image((3, 12, 90))
    draw = views.draw(0, 0, 5, height=12, width=90)
    assert (draw.top, draw.left, draw.height, draw.width) == (0, 37, 12, 15)  # 15 = round(12 x 1.25); (90 - 15) // 2
    transform = T.Compose([T.RandomResizedCrop(SIZE, scale=(0.9, 1.0), ratio=(0.75, 1.25)), T.RandomHorizontalFlip()])
    assert torch.equal(views.train(picture, draw), reference(transform, picture, 5, seed=0, epoch=0))


def test_views_are_a_function_of_seed_epoch_and_index() -> None:
    views = Views(SIZE, "scale", scale=(40, 72), lighting=0.1)
    draws = [views.draw(1, 4, index, height=70, width=93) for index in range(30)]
    assert draws == [views.draw(1, 4, index, height=70, width=93) for index in range(30)]
    assert draws != [views.draw(1, 5, index, height=70, width=93) for index in range(30)]  # control: another epoch
    assert draws != [views.draw(2, 4, index, height=70, width=93) for index in range(30)]  # control: another seed
    assert len({draw.resized for draw in draws}) > 10 and {draw.flip for draw in draws} == {False, True}


def test_digits_are_never_mirrored_but_their_draws_stay_aligned() -> None:
    mirrored, kept = Views(SIZE, "random-resized-crop"), Views(SIZE, "random-resized-crop", mirror=False)
    picture = image((1, 64, 64))
    for index in range(8):
        draw = kept.draw(0, 0, index, height=64, width=64)
        assert draw == mirrored.draw(0, 0, index, height=64, width=64)
        plain = TF.resized_crop(picture, draw.top, draw.left, draw.height, draw.width, [SIZE, SIZE], antialias=True)
        assert torch.equal(kept.train(picture, draw), plain)


def test_lighting_is_fb_resnet_torchs_pca_noise_added_before_normalising() -> None:
    """Krizhevsky et al. 2012's noise as fb.resnet.torch's Lighting: rgb = (eigvec .* alpha' .* eigval').sum(2),
    added to the 0..1 image, which ColorNormalize then normalises."""
    views = Views(SIZE, "scale", scale=(40, 72), lighting=0.1)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalise = Normalise.of(mean, std, torch.device("cpu"))
    picture = image((3, 70, 93))
    draws = [views.draw(0, 1, index, height=70, width=93) for index in range(4)]
    batch = torch.stack([views.train(picture, draw) for draw in draws])
    made_batch = normalise(batch, torch.stack([views.shift(draw) for draw in draws]))
    eigenvalues, eigenvectors = torch.tensor(EIGENVALUES), torch.tensor(EIGENVECTORS)
    for made_image, crop, draw in zip(made_batch, batch, draws, strict=True):
        assert draw.alpha is not None
        alpha = torch.tensor(draw.alpha, dtype=torch.float32)
        rgb = (eigenvectors * alpha.view(1, 3).expand(3, 3) * eigenvalues.view(1, 3).expand(3, 3)).sum(1)
        by_hand = (crop.float() / 255 + rgb.view(3, 1, 1) - torch.tensor(mean).view(3, 1, 1)) / \
            torch.tensor(std).view(3, 1, 1)
        torch.testing.assert_close(made_image, by_hand, rtol=0, atol=2e-6)
    assert not torch.allclose(normalise(batch), made_batch, atol=1e-3)  # control: the noise is there


def test_lighting_weights_are_normal_with_the_recipes_deviation() -> None:
    views = Views(SIZE, "random-resized-crop", lighting=0.1)
    alphas = torch.tensor([views.draw(0, 0, index, height=40, width=40).alpha for index in range(4000)])
    assert abs(alphas.mean().item()) < 0.01 and abs(alphas.std().item() - 0.1) < 0.005
    assert Views(SIZE, "random-resized-crop").draw(0, 0, 0, height=40, width=40).alpha is None  # control: lighting 0


def test_cifar_views_keep_the_papers_crops_and_flips() -> None:
    """The CIFAR augmentation of streamed images is exactly what it was before views: fit, pad, crop, flip."""
    from archgen.data.crops import image_draw
    from archgen.data.decode import fit

    views, picture = Views(SIZE), image((3, 40, 50))
    for index in range(6):
        top, left, flip = image_draw(3, 2, index, views.pad)
        cut = torch.nn.functional.pad(fit(picture, SIZE), (views.pad,) * 4)[:, top : top + SIZE, left : left + SIZE]
        assert torch.equal(made(views, picture, index), cut.flip(2) if flip else cut)


@pytest.mark.parametrize("shape", SHAPES)
def test_validation_views_are_torchvisions_resize_and_crops(shape: tuple[int, int, int]) -> None:
    picture = image(shape)
    centre = Views(SIZE, eval_resize=40).validation(picture)
    assert torch.equal(centre, T.Compose([T.Resize(40), T.CenterCrop(SIZE)])(picture))
    ten = Views(SIZE, eval_resize=40, ten_crop=True).validation(picture)
    assert ten.shape == (10, shape[0], SIZE, SIZE)
    assert torch.equal(ten, torch.stack(T.Compose([T.Resize(40), T.TenCrop(SIZE)])(picture)))
    mirrored = T.Compose([T.Resize(40), T.CenterCrop(SIZE)])(TF.horizontal_flip(picture))
    assert torch.equal(ten[4], centre) and torch.equal(ten[9], mirrored)  # the centre, and the mirror image's
    assert not torch.equal(ten[0], ten[3])  # control: the corners differ
    whole = Views(SIZE).validation(picture)  # no eval_resize: the whole image fitted, as streamed images always were
    assert torch.equal(whole, T.Compose([T.Resize(SIZE), T.CenterCrop(SIZE)])(picture))


# --- what an in-memory split can serve --------------------------------------------------------------------------


def held(size: int, *, native: int | None = None) -> ImageData:
    """Four 3-channel images held at `size`; `native`: the size they had before they were resized to it."""
    split = Split(torch.zeros(4, 3, size, size, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    return ImageData(source="imagefolder:photos", train=split, val=split, class_names=("a",), native_size=native)


def loaders(data: ImageData, **recipe: object) -> object:
    return make_loaders(data, batch_size=2, augment=Train(**recipe), seed=0, device=torch.device("cpu"))


def test_held_images_smaller_than_the_scale_range_are_refused_not_enlarged() -> None:
    """A folder of mixed sizes is held at the network's size: scale augmentation would enlarge that copy (a blurrier
    crop than the paper's, from the full image); the refusal points to stream:, which reads each image whole."""
    with pytest.raises(DataError, match=r"imagefolder:photos's 224x224 images are smaller than the 256-480 .*stream:"):
        loaders(held(224, native=224), augment="scale", scale=(256, 480))
    with pytest.raises(DataError, match=r"'s 8x8 images are smaller"):  # digits resized up for an ImageNet stem
        loaders(held(224, native=8), augment="scale", scale=(256, 480))
    assert loaders(held(256), augment="scale", scale=(256, 480))  # control: square 256² held whole, at their size
    assert loaders(held(224, native=224), augment="scale", scale=(224, 320))  # control: a range the copy holds


def test_held_images_smaller_than_eval_resize_are_refused() -> None:
    with pytest.raises(DataError, match=r"224x224 images are smaller than the 256 pixels eval_resize"):
        loaders(held(224, native=224), eval_resize=256)
    assert loaders(held(256), eval_resize=256)  # control
    assert loaders(held(224, native=8))  # control: no eval_resize, the held image validated whole
