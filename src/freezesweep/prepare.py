"""One way to build a trial: backbone, data, model and stage plans from a `TrialSpec`.

The trial (`freezesweep.trial.run_trial`), the sweeper's preflight hook, the benchmarks and the
tests all build through here, so what they measure or check is what a trial runs. The order
fails cheapest first: the backbone (a missing `imagenet` file or a bad `feature_layer` fails
before any data is read), then the data fitted to the backbone's input, the head sized to the
data's classes, every stage's plan and every stage's optimizer: all before anything trains or
is tracked.

Example:

```python
from hydra import compose, initialize_config_dir
from freezesweep import runtime
from freezesweep.prepare import prepare_trial
from freezesweep.spec.read import trial_spec

with initialize_config_dir(config_dir="/path/to/conf", version_base="1.3"):
    spec = trial_spec(compose("config", overrides=["finetune.top_k=1"]))
runtime.seed_everything(spec.seed)
trial = prepare_trial(spec)
print(trial.trainable_params, trial.total_params)
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

from freezesweep.data import TrainingData
from freezesweep.data.fit import ArrayCache
from freezesweep.data.load import check_data, load_data
from freezesweep.freeze import StagePlan, check_depths, count_params, plan_schedule
from freezesweep.model.assemble import build_backbone, build_model
from freezesweep.spec import BackboneSpec, TrialSpec
from freezesweep.train import build_optimizer

__all__ = ["PreparedTrial", "check_trial", "prepare_trial"]


@dataclass(frozen=True)
class PreparedTrial:
    """A trial built and planned, not trained: what `prepare_trial` returns.

    Attributes:
        spec: the trial spec it was built from.
        backbone: the backbone, nested in `model`.
        model: the full model (backbone, then the head).
        data: the training and validation data, fitted to the backbone's input.
        plans: each stage's freeze plan, in order (`gradual` stages expanded).
    """

    spec: TrialSpec
    backbone: keras.Model
    model: keras.Model
    data: TrainingData
    plans: tuple[StagePlan, ...]

    @property
    def trainable_params(self) -> int:
        """The most parameters any stage trains: the trial's trainable count, known untrained."""
        return max(plan.trainable_params for plan in self.plans)

    @property
    def total_params(self) -> int:
        """Every parameter of the model (adapters included once planned)."""
        return count_params(self.model.weights)


def check_trial(
    spec: TrialSpec,
    *,
    backbones: dict[BackboneSpec, keras.Model] | None = None,
    data_checked: set[tuple[object, ...]] | None = None,
) -> None:
    """The checks that need no training (a sweep's preflight runs them on every sample job):
    each stage's optimizer is built, its arguments included, each stage's depth is checked
    against the backbone's units, and the user's data is checked (`check_data`: a `.npz`
    file's labels and pixels, an image folder's images), without building the model.

    A `keras_app` backbone is built with random weights for this: its units do not depend on
    them, and no weights file is read.

    Args:
        spec: the trial spec.
        backbones: backbones already built, by backbone spec, shared over calls (the backbone
            this call builds is added). Defaults to `None` (build it for this call only).
        data_checked: the data settings already checked, shared over calls (this call's is
            added), so a sweep reads its data once. Defaults to `None` (check it).

    Raises:
        ConfigError: naming the key of a bad optimizer, depth, pattern or method setting, or
            the data file or folder that cannot train.
    """
    _build_optimizers(spec)
    config = spec.backbone
    if config.source == "keras_app":
        config = dataclasses.replace(config, weights=None)
    built = {} if backbones is None else backbones
    if config not in built:
        built[config] = build_backbone(dataclasses.replace(spec, backbone=config))[0]
    check_depths(built[config], spec.schedule)
    image_shape = tuple(built[config].input_shape[1:])
    data = spec.data
    key = (data.kind, data.path, data.directory, spec.backbone.source, image_shape)
    checked = set() if data_checked is None else data_checked
    if key not in checked:
        check_data(spec, image_shape)
        checked.add(key)


def prepare_trial(spec: TrialSpec, cache: ArrayCache | None = None) -> PreparedTrial:
    """Build a trial's backbone, data and model, and plan every stage, from its spec.

    Call it after `freezesweep.runtime.seed_everything(spec.seed)` (which clears the Keras
    session) and inside the trial's `freezesweep.runtime.precision` policy, if any: layers take
    the dtype policy when they are built.

    Args:
        spec: the validated trial spec (`freezesweep.spec.read.trial_spec`).
        cache: where images fitted to the backbone's input are kept between trials (the
            trial's feature-cache store). Defaults to `None` (fitted each time).

    Returns:
        The built, planned trial; nothing has trained.

    Raises:
        ConfigError: naming the key, for a backbone, data, head, depth or optimizer setting
            that does not fit.
    """
    backbone, preprocess = build_backbone(spec)
    data = load_data(spec, tuple(backbone.input_shape[1:]), preprocess, cache)
    model = build_model(spec, backbone, data.num_classes)
    plans = plan_schedule(model, backbone, spec.schedule)
    _build_optimizers(spec)  # a bad optimizer fails now, not after the first stage trained
    return PreparedTrial(spec, backbone, model, data, tuple(plans))


def _build_optimizers(spec: TrialSpec) -> None:
    for stage in spec.schedule.stages:
        build_optimizer(stage)
