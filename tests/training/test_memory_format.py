"""Every batch reaches the network in the memory format the network was set to, strides included, on every data
path. A one-channel batch is "contiguous" in both formats, so `.contiguous()` kept the channels-last strides a crop
left it with, and torch's CPU convolutions, choosing their kernel by the strides, corrupted the heap for some widths
(SIGABRT, `corrupted double-linked list`, with a first stage 4 or 6 wide on the digits)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from archgen import parse_spec
from archgen.spec.schema import Train
from archgen.training import build_engine, train, with_recipe
from archgen.training.engine import Engine


def _engine(*, channels_last: bool = False) -> Engine:
    engine = build_engine(torch.nn.Conv2d(1, 2, 3), Train(), device="cpu", steps_per_epoch=1)
    engine.channels_last = channels_last  # (a GPU's choice; set here to check the layout it asks for)
    return engine


def test_an_ambiguous_one_channel_batch_gets_the_model_s_strides() -> None:
    nhwc = torch.zeros(4, 8, 8, 1).permute(0, 3, 1, 2)  # (4, 1, 8, 8) as a crop leaves it: strides (64, 1, 8, 1)
    assert nhwc.is_contiguous() and nhwc.contiguous().stride() == (64, 1, 8, 1)  # what .contiguous() keeps
    assert _engine().as_input(nhwc).stride() == (64, 64, 8, 1)
    assert _engine(channels_last=True).as_input(nhwc).stride() == (64, 1, 8, 1)
    standard = torch.zeros(4, 3, 8, 8)
    assert _engine().as_input(standard) is standard  # control: a batch already laid out is not copied
    assert _engine(channels_last=True).as_input(standard).stride() == (192, 1, 24, 3)


SOURCES = {
    "digits (pad-crop-flip on the device)": ("digits", {}),
    "synthetic, no augmentation": ("synthetic:1x8x8,classes=3,train=32,val=8", {"augment": "none"}),
    "three channels (pad-crop-flip)": ("synthetic:3x8x8,classes=3,train=32,val=8", {}),
    "host views (random-resized-crop)": ("synthetic:1x32x32,classes=3,train=32,val=8",
                                         {"augment": "random-resized-crop", "eval_resize": 32}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", SOURCES)
def test_every_data_path_hands_the_model_canonical_strides(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training and evaluation batches, from each kind of loader, reach the network with the strides of its format."""
    data, recipe = SOURCES[name]
    seen: list[tuple[int, ...]] = []
    real = torch.nn.Module.__call__

    def call(module: torch.nn.Module, *args: object, **kwargs: object) -> object:
        if type(module).__name__ == "Network":
            images = args[0]
            assert isinstance(images, torch.Tensor)
            seen.append(images.stride())
            height, width = images.shape[-2:]
            assert images.stride()[1:] == (height * width, width, 1), f"{name}: strides {images.stride()}"
        return real(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", call)
    spec = parse_spec({"name": "w", "input": {"channels": 1, "size": 8, "classes": 3},
                       "stem": {"kind": "cifar", "width": 4},
                       "body": {"block": "basic", "depths": [1, 1], "width": 4, "shortcut": "B"},
                       "train": {"epochs": 1, "batch_size": 8, **recipe}})
    train(with_recipe(spec, data=data))
    assert len(seen) >= 2  # training and evaluation both seen


SCRIPT = """
import sys
from archgen import parse_spec
from archgen.training import train, with_recipe

for channels in (1, 3):
    for width in range(1, 17):
        spec = parse_spec({"name": "w", "input": {"channels": channels, "size": 8, "classes": 3},
                           "stem": {"kind": "cifar", "width": width},
                           "body": {"block": "basic", "depths": [1, 1], "width": width, "shortcut": "B"},
                           "train": {"epochs": 1, "batch_size": 16}})
        data = "digits" if channels == 1 else "synthetic:3x8x8,classes=3,train=64,val=16"
        result = train(with_recipe(spec, data=data))
        assert result.history, (channels, width)
        print(channels, width, flush=True)
"""


@pytest.mark.slow
def test_widths_1_to_16_on_one_and_three_channels_train(tmp_path: Path) -> None:
    """In a process of its own: a corrupted heap aborts the process (SIGABRT), which must not take pytest with it."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:-1] == [f"{c} {w}" for c in (1, 3) for w in range(1, 17)]
