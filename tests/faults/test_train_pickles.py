"""Planted malicious pickles on every load path of training and run folders: none runs, whatever
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says, even when the manifest's sha256s are forged to match.

Control for each: the very same planted file does run its payload (a marker file appears) under plain
`pickle.load` / `torch.load(weights_only=False)`, so the refusal is what keeps it from running.
The load paths are found by scanning archgen's source: a new one fails `test_every_load_path_is_known`.
"""

from __future__ import annotations

import ast
import pickle
import shutil
import stat
from pathlib import Path

import pytest
import torch
from train_helpers import (
    archgen_here,
    checkpoints,
    contents,
    forge_manifest,
    one_error_line,
    plant,
)
from train_states import sample_state

import archgen
from archgen.export import _RUNNERS, export_model
from archgen.training import SPEC, load_latest, save_checkpoint
from archgen.training.checkpoints import STATE, WEIGHTS

PACKAGE = Path(archgen.__file__).parent
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol", "ignore:Environment variable TORCH_FORCE")

# Every call that reads a file a user (or an attacker) could have put there, and why it cannot run code.
LOAD_PATHS = {
    ("training/checkpoints.py", "torch.load"): "weights_only=True: tensors and plain values only (tested here)",
    ("training/checkpoints.py", "load_safetensors"): "safetensors: a JSON header and raw tensors; checkpoints and "
                                                 "`archgen build --weights` (both tested here)",
    ("data/cifar.py", "_BatchUnpickler"): "a restricted unpickler (the data faults' tests)",
    ("data/cifar.py", "_BatchUnpickler(file, encoding='latin1').load"): "that restricted unpickler's load",
    ("export.py", "torch.jit.load"): "only the file export just wrote, in its private folder (tested here)",
    ("export.py", "torch.export.load"): "only the file export just wrote, in its private folder (tested here)",
    ("export.py", "onnxruntime.InferenceSession"): "ONNX is protobuf, no pickles; its own fresh file",
    ("export.py", "onnx.load"): "ONNX is protobuf, no pickles: the metadata of an export archgen wrote",
    ("cli/evaluate.py", "load"): "archgen.inference.load: a run's weights through read_weights (safetensors, checked)",
    ("cli/predict.py", "load"): "archgen.inference.load: a run's weights through read_weights (safetensors, checked)",
    ("training/pretrained.py", "torch.load"): "`--init`'s state dicts: weights_only=True (tested here)",
    ("training/pretrained.py", "load_safetensors"): "`--init`'s safetensors files (tested here)",
}
LOADERS = {"load", "loads", "load_file", "safe_open", "Unpickler", "InferenceSession", "load_safetensors",
           "_BatchUnpickler"}


def _load_calls() -> set[tuple[str, str]]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.split(".")[-1] in LOADERS and not name.startswith(("json.", "tomllib.", "tomli.")):
                    found.add((str(path.relative_to(PACKAGE)), name))
    return found


def test_every_load_path_is_known() -> None:
    assert _load_calls() == set(LOAD_PATHS)


def test_every_torch_load_is_weights_only() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                options = {keyword.arg: ast.unparse(keyword.value) for keyword in node.keywords}
                assert options.get("weights_only") == "True", f"{path}:{node.lineno}"


def runs_its_payload(planted: Path, marker: Path) -> bool:
    """Control: what plain unpickling of the planted file does (under a neutral name: torch.load hands files named
    *.safetensors to safetensors)."""
    copy = shutil.copy(planted, marker.with_name("control.pt"))
    try:
        torch.load(copy, weights_only=False)
    except Exception:
        with open(copy, "rb") as file:
            pickle.load(file)
    ran = marker.exists()
    marker.unlink(missing_ok=True)
    return ran


@pytest.mark.parametrize("as_zip", [False, True], ids=["raw-pickle", "torch-save-zip"])
@pytest.mark.parametrize("name", [STATE, WEIGHTS])
def test_a_planted_checkpoint_file_is_refused_even_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, as_zip: bool
) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    previous = save_checkpoint(folder, sample_state(4))
    newest = save_checkpoint(folder, sample_state(8))
    plant(newest / name, marker, as_zip=as_zip)
    forge_manifest(newest)
    assert runs_its_payload(newest / name, marker)  # control

    loaded = load_latest(folder)
    assert not marker.exists()
    assert loaded.path == previous and loaded.state is not None and loaded.state.updates == 4
    assert f"{newest / name} is not a" in loaded.skipped[0] and "\n" not in loaded.skipped[0]

    shutil.copy(newest / name, previous / name)  # both planted: nothing loads, nothing runs
    forge_manifest(previous)
    assert load_latest(folder).state is None and not marker.exists()


@pytest.mark.parametrize("name", [STATE, WEIGHTS, SPEC])
def test_resume_refuses_planted_files_in_every_checkpoint_with_one_line(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """`archgen train --resume` on a run whose every checkpoint holds a planted `name` with a forged manifest."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    run, marker = tmp_path / "run", tmp_path / "pwned"
    shutil.copytree(finished, run)
    (run / "weights.safetensors").unlink()  # unfinished: a finished run resumes only to say so
    for checkpoint in checkpoints(run):
        plant(run / "checkpoints" / checkpoint / name, marker, as_zip=True)
        forge_manifest(run / "checkpoints" / checkpoint)
    assert runs_its_payload(run / "checkpoints" / checkpoints(run)[0] / name, marker)  # control
    before = contents(run)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1 and not marker.exists()
    if name == SPEC:  # a TOML file: no code can run, it just does not parse
        assert "Traceback" not in resumed.stderr and "spec.toml" in resumed.stderr
    else:
        assert one_error_line(resumed).startswith(f"error: no good checkpoint to resume {run} from: ")
    assert contents(run) == before


def test_a_planted_run_spec_is_only_toml(finished: Path, tmp_path: Path) -> None:
    """The run's own spec.toml replaced by a pickle: a spec error, never an unpickling."""
    run, marker = tmp_path / "run", tmp_path / "pwned"
    shutil.copytree(finished, run)
    plant(run / SPEC, marker, as_zip=False)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1 and not marker.exists() and "Traceback" not in resumed.stderr
    assert str(run / SPEC) in resumed.stderr


@pytest.mark.parametrize("as_zip", [False, True], ids=["raw-pickle", "torch-zip"])
def test_export_weights_refuse_a_planted_pickle(finished: Path, tmp_path: Path, as_zip: bool) -> None:
    """`archgen build --weights FILE --export …` with a pickle in FILE's place: one line, nothing runs or is written."""
    planted, marker, out = tmp_path / "weights.safetensors", tmp_path / "pwned", tmp_path / "net.onnx"
    plant(planted, marker, as_zip=as_zip)
    exported = archgen_here("build", str(finished / SPEC), "--export", "onnx", "--out", str(out),
                            "--weights", str(planted))
    assert exported.code == 1 and not marker.exists() and not out.exists() and "Traceback" not in exported.stderr
    assert one_error_line(exported).startswith(f"error: {planted} is not a safetensors file (")
    assert runs_its_payload(planted, marker)  # control


@pytest.mark.parametrize("format", ["torchscript", "exported-program"])
def test_export_reloads_only_its_own_file_from_a_private_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    """Export's reload check reads the file it just wrote, in a folder only its owner can enter (mkdtemp, 0700):
    nobody else can swap in a planted archive between the write and the load."""
    seen: list[int] = []
    runner = _RUNNERS[format]

    def checked(path: Path, x: torch.Tensor) -> list[torch.Tensor]:
        seen.append(stat.S_IMODE(path.parent.stat().st_mode))
        return runner(path, x)

    monkeypatch.setitem(_RUNNERS, format, checked)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    export_model(model, format=format, out=tmp_path / "net.pt", input_shape=(2, 1, 4, 4))  # type: ignore[arg-type]
    assert seen == [0o700]


@pytest.mark.parametrize("as_zip", [False, True], ids=["raw-pickle", "torch-save-zip"])
def test_a_planted_init_file_is_refused_even_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_zip: bool
) -> None:
    """`archgen train SPEC --init FILE` with a pickle that would run code: refused in one line, nothing runs."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker, planted = tmp_path / "pwned", tmp_path / "resnet20.pth"
    plant(planted, marker, as_zip=as_zip)
    assert runs_its_payload(planted, marker)  # control
    outcome = archgen_here("train", "digits-resnet20", "--init", str(planted), "--epochs", "1",
                           "--out", str(tmp_path / "runs"))
    assert outcome.code == 1 and not marker.exists()
    assert one_error_line(outcome).startswith(f"error: {planted} is neither safetensors nor a plain state dict, "
                                              "refused to load it")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
