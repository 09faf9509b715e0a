"""The search with the real trainer on the bundled digits: memory stays flat; the CLI writes specs that retrain."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY, make_config
from typer.testing import CliRunner

import archgen
from archgen.cli.app import app
from archgen.search import optimize


@pytest.mark.slow
def test_live_tensors_stay_flat_across_trials(tmp_path: Path) -> None:
    import fakes

    fakes.LIVE_TENSORS.clear()
    config = make_config(tmp_path, trials=4, trainer=fakes.counting_train)
    config = config.__class__(
        **{
            **config.__dict__,
            "spec": config.spec.model_copy(update={"search": config.space.model_copy(update={"epochs": 1})}),
        }
    )
    optimize(config)
    counts = fakes.LIVE_TENSORS
    assert len(counts) >= 4
    # the first trial may load and cache the data set; after it, every trial starts with the same tensors alive
    assert len(set(counts[1:])) == 1, counts


# not slow: the fast tier's one end-to-end search on the digits (a tiny space, two trials of one epoch)
def test_search_command_writes_a_winner_that_validates_and_retrains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.toml").write_text(TINY)
    runner = CliRunner()
    result = runner.invoke(app, ["search", "space.toml", "--trials", "2", "--epochs", "1", "--study", "cli"])
    assert result.exit_code == 0, result.output
    assert "cli: 2/2 finished" in result.output and "top trials" in result.output
    best = tmp_path / "runs" / "cli" / "best.toml"
    assert best.is_file() and (tmp_path / "runs" / "cli" / "history.png").is_file()
    winner = archgen.load_spec(best)
    assert winner.search is None and winner.train.epochs == 1
    from archgen.training import train

    assert train(winner).history  # `archgen train best.toml` retrains it
    again = runner.invoke(app, ["report", "runs/cli"])
    assert again.exit_code == 0 and "top trials" in again.output
    changed = (tmp_path / "space.toml").read_text().replace("[0.05, 0.1]", "[0.05, 0.2]")
    (tmp_path / "space.toml").write_text(changed)
    refused = runner.invoke(app, ["search", "space.toml", "--trials", "2", "--epochs", "1", "--study", "cli"])
    assert refused.exit_code != 0 and "cannot be resumed" in str(refused.exception)
