"""Searching depth and width with Optuna: spaces from specs, budgets before training, many workers, winners as specs.

The only part of archgen that imports optuna, and the only surface `archgen.cli` and `archgen.report` use. Proposes
specs (data), trains them through `archgen.training`, and returns values (progress, results, winners) that
`archgen.report` renders. Modules, by what they hold: `study` (the search config, creating or resuming a study),
`space` (points, trial specs, samplers), `claim` (the next trial, under the lock), `trial` (train, tell),
`workers` (one or N processes, and the memory they need), `storage` (where a study lives, the claim lock), `journal`
(the journal file, hardened), `liveness` (heartbeats, stale trials, stopping), `record` (the trial attributes
archgen writes and their readers), `views` (rows, progress, the best trials, plot data), `winners` (the best trials
as specs), `outputs` (what a study writes into its folder, owned through its manifest), `depth` (grown trials, plain
twins, degradation verdicts), `pruning` (when a trial stops early: the Pareto rule with several objectives), `runner`
(training a trial's networks: its seeds and plain twins), `starts` (warm starts: enqueued specs, trials imported from
another study), `sampling` and `spaces` (design spaces: models sampled at matched complexity, compared by their
error EDFs), `optuna_internals` (every use of Optuna's private API).
"""

from archgen.search.claim import Verdict
from archgen.search.liveness import Stopped
from archgen.search.outputs import check_outputs, write_outputs
from archgen.search.sampling import Band, Model, Space, amount, parse_band, sample_spaces
from archgen.search.spaces import Comparison, compare_spaces
from archgen.search.starts import Imported, Source, other_study
from archgen.search.storage import JOURNAL_NAME, StorageSpec, storage_errors, storage_spec
from archgen.search.study import SearchConfig, Trainer, default_trials, load_study, open_study, resolve_spec
from archgen.search.views import PlotData, Progress, StudyResults, TrialRow, progress, study_results
from archgen.search.winners import winner_files
from archgen.search.workers import Optimization, optimize, work

__all__ = [
    "JOURNAL_NAME",
    "Band",
    "Comparison",
    "Imported",
    "Model",
    "Optimization",
    "PlotData",
    "Progress",
    "SearchConfig",
    "Source",
    "Space",
    "Stopped",
    "StorageSpec",
    "StudyResults",
    "Trainer",
    "TrialRow",
    "Verdict",
    "amount",
    "check_outputs",
    "compare_spaces",
    "default_trials",
    "load_study",
    "open_study",
    "optimize",
    "other_study",
    "parse_band",
    "progress",
    "resolve_spec",
    "sample_spaces",
    "storage_errors",
    "storage_spec",
    "study_results",
    "winner_files",
    "work",
    "write_outputs",
]
