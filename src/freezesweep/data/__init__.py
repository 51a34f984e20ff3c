"""Datasets and how they reach Keras: the embedded digits task, `.npz` files, image folders."""

from freezesweep.data.digits import (
    IMAGE_SHAPE,
    SOURCE_CLASSES,
    TARGET_CLASSES,
    source_task,
    target_task,
)
from freezesweep.data.feed import (
    Dataset,
    Pipelines,
    TrainingData,
    evaluate_arguments,
    fit_arguments,
)
from freezesweep.data.fit import fit_images, fit_to_input
from freezesweep.data.npz import load_npz

__all__ = [
    "IMAGE_SHAPE",
    "SOURCE_CLASSES",
    "TARGET_CLASSES",
    "Dataset",
    "Pipelines",
    "TrainingData",
    "evaluate_arguments",
    "fit_arguments",
    "fit_images",
    "fit_to_input",
    "load_npz",
    "source_task",
    "target_task",
]
