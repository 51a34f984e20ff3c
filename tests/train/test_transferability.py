"""Zero-cost depth scores (LogME) against closed-form references (`train/transferability.py`)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from freezesweep.model.backbone import attach_head, default_backbone_path, load_backbone
from freezesweep.train.transferability import (
    _class_evidence,
    depth_scores,
    evidence,
    log_me,
    spectral_evidence,
)
from tests.train.test_schedule import NUM_CLASSES, random_rows

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run


def _problem(rows: int = 30, dim: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, dim))
    target = (features @ rng.normal(size=dim) + 0.3 * rng.normal(size=rows) > 0).astype(float)
    return features, target


def test_the_evidence_is_the_gaussian_marginal_likelihood() -> None:
    # y ~ N(0, I / beta + F F^T / alpha) once the weights are integrated out.
    features, target = _problem()
    for alpha, beta in ((0.5, 2.0), (3.0, 0.7)):
        covariance = np.eye(len(target)) / beta + features @ features.T / alpha
        expected = multivariate_normal(mean=np.zeros(len(target)), cov=covariance).logpdf(target)
        assert evidence(features, target, alpha, beta) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("rows", "dim"), [(30, 5), (8, 20)])
def test_the_evidence_from_the_spectrum_equals_the_closed_form(rows: int, dim: int) -> None:
    # More features than examples too: `alpha` alone on the null space of F.
    features, target = _problem(rows, dim)
    for alpha, beta in ((0.5, 2.0), (3.0, 0.7)):
        expected = evidence(features, target, alpha, beta)
        found = spectral_evidence(features, target, *_spectrum(features), alpha, beta)
        assert found == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("rows", "dim"), [(30, 5), (8, 20)])
def test_the_fixed_point_finds_the_evidence_maximum(rows: int, dim: int) -> None:
    # More features than examples too (8 x 20): the spectrum has zeros the iteration must skip.
    features, target = _problem(rows, dim)
    _, singular, right = np.linalg.svd(features, full_matrices=False)
    found = _class_evidence(features, target, singular**2, right)
    best = minimize(
        lambda logs: -evidence(features, target, float(np.exp(logs[0])), float(np.exp(logs[1]))),
        x0=np.zeros(2),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000},
    )
    assert found == pytest.approx(-best.fun, abs=1e-4)


def test_features_that_carry_the_labels_score_above_noise() -> None:
    rng = np.random.default_rng(1)
    labels = np.arange(200) % 4
    noise = rng.normal(size=(200, 16))
    informative = noise.copy()
    informative[:, :4] += 3 * np.eye(4)[labels]
    assert log_me(informative, labels, 4) > log_me(noise, labels, 4) + 0.1
    # The mean of per-class evidences, per example.
    per_class = [
        _class_evidence(noise, (labels == c).astype(float), *_spectrum(noise)) for c in range(4)
    ]
    assert log_me(noise, labels, 4) == pytest.approx(np.mean(per_class) / 200)


def _spectrum(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, singular, right = np.linalg.svd(features, full_matrices=False)
    return singular**2, right


def test_each_depth_is_scored_on_the_pooled_features_at_its_cut() -> None:
    backbone = load_backbone(default_backbone_path())
    model = attach_head(backbone, NUM_CLASSES)
    data = random_rows(rows=24)
    scores = depth_scores(model, backbone, data, [0, 1, 2])
    assert sorted(scores) == [0, 1, 2]
    assert len(set(scores.values())) == 3  # three cuts, three feature sets
    # Depth 0 trains the head only: its cut is the backbone's output.
    features = keras.ops.convert_to_numpy(backbone(data.x_train, training=False))
    pooled = features.reshape(len(features), -1, features.shape[-1]).mean(axis=1)
    assert scores[0] == pytest.approx(log_me(pooled, data.y_train, NUM_CLASSES), rel=1e-4)
