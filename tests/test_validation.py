"""archgen.validation: many files and folders at once, problems collected per file, torch-free."""

from __future__ import annotations

from pathlib import Path

from archgen.spec.library import LIBRARY_ROOT, shipped_specs
from archgen.validation import spec_files, validate_file, validate_paths

CORPUS = Path(__file__).resolve().parent / "corpus" / "invalid"


def test_folders_are_searched_recursively_and_sorted() -> None:
    files = spec_files(LIBRARY_ROOT)
    assert len(files) == len(shipped_specs()) and files == sorted(files)
    assert LIBRARY_ROOT / "cifar" / "resnet20.toml" in files


def test_hidden_folders_and_other_files_are_skipped(tmp_path: Path) -> None:
    for name in (".git/config.toml", ".venv/lib/x.toml", "specs/a.toml", "specs/notes.txt", "b.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert spec_files(tmp_path) == [tmp_path / "b.toml", tmp_path / "specs" / "a.toml"]


def test_results_per_file_with_names_of_valid_specs() -> None:
    report = validate_paths([LIBRARY_ROOT / "resnet34.toml", CORPUS / "nan.toml"])
    good, bad = report.results
    assert (good.valid, good.name, good.problems) == (True, "resnet34", ())
    assert (bad.valid, bad.name, len(bad.problems)) == (False, None, 1)
    assert report.invalid == (bad,) and not report.valid


def test_the_same_file_twice_is_checked_once() -> None:
    path = LIBRARY_ROOT / "resnet34.toml"
    assert len(validate_paths([path, LIBRARY_ROOT, str(path)]).results) == len(shipped_specs())


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    report = validate_paths([tmp_path / "missing", tmp_path])
    assert [str(problem) for problem in report.problems] == [
        f"{tmp_path / 'missing'}: no such file",
        f"{tmp_path}: folder holds no *.toml spec files",
    ]


def test_shipped_names_validate() -> None:
    assert validate_file("resnet1001").name == "resnet1001"


def test_every_corpus_file_is_invalid() -> None:
    report = validate_paths([CORPUS])
    assert len(report.results) == len(list(CORPUS.glob("*.toml"))) and not any(r.valid for r in report.results)
