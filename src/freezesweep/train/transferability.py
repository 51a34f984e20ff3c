"""Zero-cost depth scores: how well the frozen features at each cut predict the labels.

The estimator is LogME (You, Liu, Wang and Long, "LogME: Practical Assessment of Pre-trained
Models for Transfer Learning", ICML 2021): the log marginal likelihood (evidence) of a Bayesian
linear model from the features to each one-hot label column, with its prior precision `alpha` and
noise precision `beta` set by maximizing the evidence, averaged over classes and divided by the
number of examples. It needs one forward pass to the cut and one SVD; no training.

A depth `k` (train the top `k` units) freezes everything below its cut, so its score is LogME on
the features at that cut (spatial maps averaged to one vector per image): what the frozen part
hands to the trained part.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from freezesweep.data.feed import Dataset
from freezesweep.freeze import plan_schedule
from freezesweep.spec import ScheduleSpec, StageSpec
from freezesweep.train.feature_cache import split_at_cut

# The fixed-point iterations stop when alpha / beta moves by less than this (relative).
_TOLERANCE = 1e-3
_MAX_ITERATIONS = 100


def log_me(features: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """LogME of features for integer labels: the mean per-class log evidence per example.

    Args:
        features: one row per example, float.
        labels: integer class of each row, 0..num_classes-1.
        num_classes: the number of classes.

    Returns:
        The score; higher predicts better transfer.
    """
    features = np.asarray(features, dtype="float64")
    count = features.shape[0]
    # Eigen-decomposition of F^T F through the SVD of F: evidence terms need only its spectrum.
    _, singular, right = np.linalg.svd(features, full_matrices=False)
    spectrum = singular**2
    evidences = [
        _class_evidence(features, (labels == c).astype("float64"), spectrum, right)
        for c in range(num_classes)
    ]
    return float(np.mean(evidences)) / count


def _class_evidence(
    features: np.ndarray, target: np.ndarray, spectrum: np.ndarray, right: np.ndarray
) -> float:
    """The maximized log evidence of `target` given `features` (MacKay's fixed point)."""
    count = features.shape[0]
    projected = right @ (features.T @ target)  # V^T F^T y, in the eigenbasis
    alpha, beta = 1.0, 1.0
    for _ in range(_MAX_ITERATIONS):
        weights_eig = beta * projected / (alpha + beta * spectrum)
        gamma = float(np.sum(beta * spectrum / (alpha + beta * spectrum)))
        weight_norm = float(np.sum(weights_eig**2))
        residual = float(np.sum((target - features @ (right.T @ weights_eig)) ** 2))
        new_alpha = gamma / max(weight_norm, 1e-12)
        new_beta = (count - gamma) / max(residual, 1e-12)
        moved = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if moved < _TOLERANCE:
            break
    return spectral_evidence(features, target, spectrum, right, alpha, beta)


def spectral_evidence(
    features: np.ndarray,
    target: np.ndarray,
    spectrum: np.ndarray,
    right: np.ndarray,
    alpha: float,
    beta: float,
) -> float:
    """`evidence` from the spectrum of `F^T F` already at hand: no d x d solve per class.

    `A = alpha I + beta F^T F` has the eigenvalues `alpha + beta s_i` on the row space of `F` and
    `alpha` on the rest, and the mean `m` lies in the row space (`m = V w`).

    Args:
        features: one row per example.
        target: one value per row.
        spectrum: the eigenvalues `s_i` of `F^T F` on its row space (squared singular values).
        right: the matching right singular vectors, one per row.
        alpha: the prior precision.
        beta: the noise precision.
    """
    count, dim = features.shape
    weights_eig = beta * (right @ (features.T @ target)) / (alpha + beta * spectrum)
    residual = float(np.sum((target - features @ (right.T @ weights_eig)) ** 2))
    energy = beta / 2 * residual + alpha / 2 * float(np.sum(weights_eig**2))
    log_det = float(np.sum(np.log(alpha + beta * spectrum))) + (dim - len(spectrum)) * math.log(
        alpha
    )
    return (
        dim / 2 * math.log(alpha)
        + count / 2 * math.log(beta)
        - energy
        - log_det / 2
        - count / 2 * math.log(2 * math.pi)
    )


def evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """The log evidence of a Bayesian linear model at given precisions (closed form; the
    reference `spectral_evidence` is tested against).

    `log p(y | F, alpha, beta) = d/2 log alpha + n/2 log beta - E(m) - 1/2 log |A| - n/2 log 2 pi`
    with `A = alpha I + beta F^T F`, `m = beta A^-1 F^T y` and
    `E(m) = beta/2 |y - F m|^2 + alpha/2 |m|^2` (Bishop, PRML, eq. 3.86).
    """
    count, dim = features.shape
    precision = alpha * np.eye(dim) + beta * features.T @ features
    mean = beta * np.linalg.solve(precision, features.T @ target)
    energy = beta / 2 * np.sum((target - features @ mean) ** 2) + alpha / 2 * np.sum(mean**2)
    _, log_det = np.linalg.slogdet(precision)
    return float(
        dim / 2 * math.log(alpha)
        + count / 2 * math.log(beta)
        - energy
        - log_det / 2
        - count / 2 * math.log(2 * math.pi)
    )


def depth_scores(
    model: keras.Model,
    backbone: keras.Model,
    data: Dataset,
    depths: list[int],
    unit: str = "block",
    max_examples: int = 1000,
) -> dict[int, float]:
    """LogME of the frozen features below each depth's trained units, on the training data.

    Args:
        model: the full model (backbone, then the head).
        backbone: the nested backbone.
        data: the training data, fitted to the backbone's input.
        depths: the depths (`top_k`) to score.
        unit: what a depth counts (`schedule.unit`). Defaults to `"block"`.
        max_examples: the first rows of the training set used. Defaults to `1000`.

    Returns:
        The score of each depth that has a single-tensor cut (others are left out).
    """
    stages = tuple(StageSpec(f"top_{d}", d, 1, 1e-3) for d in depths)
    plans = plan_schedule(model, backbone, ScheduleSpec("scores", unit, "frozen", stages))  # type: ignore[arg-type]
    cuts: dict[int, keras.KerasTensor] = {}
    for depth, plan in zip(depths, plans, strict=True):
        split = split_at_cut(model, backbone, plan, "frozen", data)
        if not isinstance(split, str):
            cuts[depth] = split.lower.output
    images, labels = data.x_train[:max_examples], data.y_train[:max_examples]
    # One pass to every cut at once: the cuts share the backbone's layers.
    unique = list({id(tensor): tensor for tensor in cuts.values()}.values())
    reader = keras.Model(backbone.inputs, unique)
    outputs = reader.predict(images, batch_size=64, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    pooled = {id(t): _pool(np.asarray(o)) for t, o in zip(unique, outputs, strict=True)}
    scores = {id(t): log_me(pooled[id(t)], labels, data.num_classes) for t in unique}
    return {depth: scores[id(tensor)] for depth, tensor in cuts.items()}


def _pool(features: np.ndarray) -> np.ndarray:
    """Spatial maps averaged to one vector per example (global average pooling)."""
    return features.reshape(features.shape[0], -1, features.shape[-1]).mean(axis=1)
