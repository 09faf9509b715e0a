"""Using a trained net: `load(RUN)` gives its module in eval mode with the preprocessing its run recorded; `predict`
classifies image files, `evaluate` measures it on any data source exactly as training's validation does, and
`export_trained` writes it with its preprocessing. `archgen predict` and `archgen evaluate` are thin layers on these.

This front is torch-free: everything loads on first use (PEP 562), so `archgen --help` never pays for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archgen.lazy import attributes

if TYPE_CHECKING:
    from archgen.inference.evaluation import Evaluation, evaluate
    from archgen.inference.exports import TrainedExport, export_trained
    from archgen.inference.loaded import TrainedNet, load
    from archgen.inference.prediction import Guess, Prediction, Predictions, predict
    from archgen.inference.preprocess import Preprocess

# name -> the module that defines it, imported on first use (each of these imports torch)
_LAZY = {
    "Evaluation": "evaluation", "evaluate": "evaluation",
    "TrainedExport": "exports", "export_trained": "exports",
    "TrainedNet": "loaded", "load": "loaded",
    "Guess": "prediction", "Prediction": "prediction", "Predictions": "prediction", "predict": "prediction",
    "Preprocess": "preprocess",
}

__all__ = [
    "Evaluation",
    "Guess",
    "Prediction",
    "Predictions",
    "Preprocess",
    "TrainedExport",
    "TrainedNet",
    "evaluate",
    "export_trained",
    "load",
    "predict",
]


__getattr__ = attributes("archgen.inference", _LAZY)
