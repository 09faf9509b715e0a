"""The preprocessing record: written and read back whole, sealed by its sha256 (a hand edit is found), every bad
field one line naming the file and the field, and its copy read from a safetensors header without torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from archgen.errors import RunError
from archgen.training.preprocessing import (
    METADATA_KEY,
    Preprocessing,
    parse,
    read_record,
    safetensors_metadata,
    weights_record,
)

RECORD = Preprocessing(source="imagefolder:/data/pets", loader="held", channels=3, held_size=40, size=32, resize=36,
                       crop="ten", mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26),
                       statistics="the 900 training images", class_names=("cat", "dog", "emu"))


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "preprocessing.json"
    path.write_text(RECORD.dumps())
    assert read_record(path) == RECORD
    document = json.loads(path.read_text())
    assert document["class_names"] == ["cat", "dog", "emu"] and len(document["sha256"]) == 64
    assert document["steps"] == list(RECORD.steps())


def test_the_steps_say_the_rule_in_words() -> None:
    steps = RECORD.steps()
    assert steps[0].startswith("decoded by PIL") and "converted to RGB" in steps[0]
    assert "shorter side resized to 40 (PIL bilinear)" in steps[1]
    assert "resized to 32x32 (torch" in steps[2]
    assert "ten 32x32 crops" in steps[4] and steps[-1] == "x / 255, less mean, over std, per channel"


def test_a_hand_edit_is_found(tmp_path: Path) -> None:
    document = RECORD.document()
    document["mean"] = [0.5, 0.5, 0.5]
    path = tmp_path / "preprocessing.json"
    path.write_text(json.dumps(document))
    with pytest.raises(RunError, match=r"preprocessing.json: edited after the run wrote it .*--preprocessing FILE"):
        read_record(path)
    assert read_record(path, sealed=False).mean == (0.5, 0.5, 0.5)  # a user's own file needs no seal


@pytest.mark.parametrize(("change", "message"), [
    ({"std": [0.2, 0.0, 0.2]}, r"std\.1: Input should be greater than 0"),
    ({"mean": [0.5, 0.5]}, r"mean and std need one value per channel \(3\), got 2 and 3"),
    ({"crop": "five"}, r"crop: Input should be 'center' or 'ten'"),
    ({"held_size": None}, r"held_size is the held images' size"),
    ({"resize": 16}, r"resize \(16\) must be at least size \(32\)"),
    ({"colour": "yes"}, r"colour: Extra inputs are not permitted"),
    ({"class_names": ["one"]}, r"class_names: .*at least 2"),
    ({"size": "32"}, r"size: Input should be a valid integer"),
])
def test_each_bad_field_is_one_line_naming_it(change: dict[str, object], message: str) -> None:
    document = {**RECORD.model_dump(mode="json"), **change}
    with pytest.raises(RunError) as raised:
        parse(json.dumps(document), "my.json", sealed=False)
    assert str(raised.value).startswith("my.json: ") and "\n" not in str(raised.value)
    assert raised.match(message)


@pytest.mark.parametrize("text", [b"", b"[1, 2]", b"\xff\xfe", b"{\"format\": 2}"])
def test_what_is_no_record_is_one_line(text: bytes) -> None:
    with pytest.raises(RunError, match=r"^my.json: "):
        parse(text, "my.json", sealed=False)


def test_the_weights_carry_a_copy_in_their_metadata(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_bytes(save({"w": torch.zeros(2)}, metadata={METADATA_KEY: RECORD.dumps()}))
    assert weights_record(path) == RECORD
    bare = tmp_path / "bare.safetensors"
    bare.write_bytes(save({"w": torch.zeros(2)}))
    assert weights_record(bare) is None and safetensors_metadata(bare) == {}
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00nope!")
    with pytest.raises(RunError, match="not a safetensors file"):
        weights_record(broken)
