"""A streamed epoch's memory does not grow with the folder: measured in a subprocess (memory_probe.py, resident
anonymous memory of the process; workers=0 so that decoding happens in it), for folders of 300 and 1,500 JPEGs of
256x256 decoded at 64x64. What it holds is the batches in flight and the allocator's slack (30-50 MB here).

Control: the same probe sees the in-memory load of the larger folder grow by its decoded size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_data_memory import probe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_image_folder

MiB = 2**20
SIDE, SIZE = 256, 64  # on disk, and as the network sees them
COUNTS = (300, 1500)
EPOCH = """
import torch
from archgen.data import load_data, make_loaders
data = load_data('stream:{root}', size={size})
loaders = make_loaders(data, batch_size=32, augment=True, seed=0, device=torch.device('cpu'), workers=0)
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    base = tmp_path_factory.mktemp("stream-memory")
    return {count: write_image_folder(base / str(count), classes=("a", "b", "c"), per_class=count // 3, size=SIDE,
                                      suffix=".jpg") for count in COUNTS}


@pytest.mark.slow
def test_a_streamed_epoch_does_not_grow_with_the_folder(folders: dict[int, Path]) -> None:
    grew = {}
    for count, root in folders.items():
        report = probe(0, EPOCH.format(root=root, size=SIZE), "for _ in loaders.train.batches(0): pass")
        assert report["error"] is None
        grew[count] = report["grew"]
    decoded = 1500 * 3 * SIDE * SIDE  # 281 MiB, what the in-memory loader holds (square images keep their size)
    assert grew[1500] < decoded / 4 and grew[1500] <= grew[300] + 32 * MiB, grew
    loaded = probe(0, "from archgen.data import load_data", f"load_data('imagefolder:{folders[1500]}', size={SIZE})")
    assert loaded["grew"] >= 0.9 * decoded, loaded  # control: decoding it all into memory shows
