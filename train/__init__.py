"""xner train: fine-tune a token-classification encoder on (projected) labelled data.

The torch side, like :mod:`xner.export`: never imported by the runtime or at the CLI's module
level (the CLI imports it inside `xner train`). Importing it imports torch and transformers.
"""

from xner.train.options import TrainOptions
from xner.train.trainer import StepRecord, TrainResult, train

__all__ = ["StepRecord", "TrainOptions", "TrainResult", "train"]
