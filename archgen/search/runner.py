"""What trains a trial's networks: the trainer, loaded with what a trained trial imports; a training's error
classified (this trial's failure, a signal, or a bug); and the point's further seeds (`[search] repeats`) with their
plain twins. The trial's life around it (claims, pruning, telling the study) is `trial`'s.

Runs in the workers that train: torch is imported inside the functions, never by the search's parent.
"""

from __future__ import annotations

import optuna

from archgen.errors import SearchError
from archgen.search import depth, record
from archgen.search.space import repeat_seeds
from archgen.search.study import SearchConfig, Trainer
from archgen.spec.schema import NetSpec
from archgen.training import NonFiniteLoss, OutOfMemory, TrainingStopped


def load_trainer(config: SearchConfig) -> Trainer:
    """The trainer, with what every trained trial imports (torch, TensorBoard) loaded."""
    import archgen.training.tensorboard  # noqa: F401  (torch and TensorBoard: seconds, once per process)

    if config.trainer is not None:
        return config.trainer
    from archgen.training import train

    return train


def classify(error: BaseException) -> str:
    """Whether `error` fails this trial only (NaN loss, out of memory: "failure"), is a signal, or is a bug."""
    import torch  # imported only once a trial raised: the trainer has loaded it already

    if isinstance(error, NonFiniteLoss | OutOfMemory | torch.cuda.OutOfMemoryError):
        return "failure"
    return "stopped" if isinstance(error, TrainingStopped) else "error"


def repeats(
    trial: optuna.Trial, start: NetSpec, last: dict[str, float], config: SearchConfig, *, twin: bool
) -> list[dict[str, float]]:
    """The point's final errors from each seed of `[search] repeats`, the first (`last`, its trained epoch) included,
    each with its plain twin's from the same seed when there is one; recorded on the trial when there are several,
    the twins' means as the trial's plain errors."""
    seeds = repeat_seeds(start.train.seed, config.space.repeats)
    found = [{"seed": seeds[0], **{key: last[key] for key in record.REPEAT_KEYS if key != "seed"}}]
    plain = [record_twin(trial, start, config)] if twin else []
    for seed in seeds[1:]:
        again = start.model_copy(update={"train": start.train.model_copy(update={"seed": seed})})
        heard = depth.LastEpoch()
        load_trainer(config)(again, device=config.device, listener=heard)
        if heard.metrics is None:
            raise SearchError(f"the trainer reported no epoch for seed {seed}")
        found.append({"seed": seed, **{key: float(getattr(heard.metrics, key)) for key in record.REPEAT_KEYS
                                       if key != "seed"}})
        if twin:
            plain.append(_twin_errors(again, config))
    if len(found) == 1:
        return found
    if plain and all(record.PLAIN_TRAIN_ERROR in errors for errors in plain):
        for row, errors in zip(found, plain, strict=True):
            row.update(errors)
        for key in record.PLAIN_KEYS:
            trial.set_user_attr(key, sum(row[key] for row in found) / len(found))
    trial.set_user_attr(record.REPEATS, found)
    return found


def record_twin(trial: optuna.Trial, spec: NetSpec, config: SearchConfig) -> dict[str, float]:
    """Train the point's plain twin and record its final errors (the returned ones too); a twin that fails (NaN, out
    of memory) records why, and the point stays complete."""
    found = _twin_attributes(spec, config)
    for key, value in found.items():
        trial.set_user_attr(key, value)
    return {key: value for key, value in found.items() if isinstance(value, float)}


def _twin_errors(spec: NetSpec, config: SearchConfig) -> dict[str, float]:
    """The final errors of `spec`'s plain twin (a repeat's, from its seed), or {} when it has none."""
    return {key: value for key, value in _twin_attributes(spec, config).items() if isinstance(value, float)}


def _twin_attributes(spec: NetSpec, config: SearchConfig) -> dict[str, str | float]:
    try:
        return depth.twin_attributes(load_trainer(config), spec, device=config.device)
    except Exception as error:
        if classify(error) != "failure":
            raise
        return {record.PLAIN_REASON: f"the plain twin failed: {type(error).__name__}: {error}"}
