"""Mixed precision and jit_compile: validated, applied while the model is built, and logged."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
from mlflow.tracking import MlflowClient

from freezesweep.errors import ConfigError
from freezesweep.model.assemble import build_backbone, build_model
from freezesweep.runtime import describe, precision
from freezesweep.spec.read import trial_spec
from freezesweep.trial import run_trial
from tests.helpers.shrink import compose_config

pytestmark = pytest.mark.backend_portable  # also run under JAX and torch by .ci/run


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_loaded_backbone_computes_in_the_mixed_policy_with_a_float32_softmax(
    tmp_path: Path, policy: str
) -> None:
    spec = trial_spec(compose_config(tmp_path, f"trainer.mixed_precision={policy}"))
    with precision(spec.trainer.mixed_precision):
        backbone, _ = build_backbone(spec)
        model = build_model(spec, backbone, 5)
    # The embedded .keras file was saved in float32; rebuilt, its layers compute in the policy
    # while their variables stay float32 (what the optimizer updates).
    conv = backbone.get_layer("block1_conv1")
    assert conv.dtype_policy.name == policy
    assert conv.compute_dtype == policy.removeprefix("mixed_")
    assert conv.kernel.dtype == "float32"
    # The classifier computes its softmax in float32, as the Keras guide asks.
    assert model.get_layer("head_classifier").compute_dtype == "float32"
    # The global policy is float32 again afterwards.
    assert keras.config.dtype_policy().name == "float32"


def test_rebuilt_backbone_keeps_the_pretrained_weights(tmp_path: Path) -> None:
    spec = trial_spec(compose_config(tmp_path, "trainer.mixed_precision=mixed_bfloat16"))
    plain, _ = build_backbone(trial_spec(compose_config(tmp_path)))
    with precision("mixed_bfloat16"):
        mixed, _ = build_backbone(spec)
    # Rebuilding under the policy copies every weight exactly.
    for a, b in zip(plain.weights, mixed.weights, strict=True):
        assert a.path == b.path
        assert (keras.ops.convert_to_numpy(a) == keras.ops.convert_to_numpy(b)).all()


def test_a_mixed_precision_trial_passes_its_audit_and_logs_compute_settings(
    tmp_path: Path,
) -> None:
    value = run_trial(
        compose_config(
            tmp_path, "trainer.mixed_precision=mixed_bfloat16", "trainer.jit_compile=false"
        )
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("freezesweep")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    # The trial trained (the freeze audit passes, or the trial would have raised) and logged
    # where and how it computed.
    assert run.data.metrics["val_accuracy"] == pytest.approx(value)
    assert run.data.tags["freezesweep.precision"] == "mixed_bfloat16"
    assert run.data.tags["freezesweep.jit_compile"] == "false"
    assert run.data.tags["freezesweep.backend"] == keras.backend.backend()
    assert run.data.params["trainer.mixed_precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


def test_describe_names_backend_device_precision_and_jit() -> None:
    found = describe("off", "auto")
    # float32 when mixed precision is off; "auto" as configured; the CPU on CI machines.
    assert found["precision"] == "float32"
    assert found["jit_compile"] == "auto"
    assert found["backend"] in ("tensorflow", "jax", "torch")
    assert found["device"] in ("cpu", "gpu", "tpu") or "x" in found["device"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "trainer.mixed_precision=fp16",
            "trainer.mixed_precision must be one of off, mixed_float16, mixed_bfloat16; "
            "got 'fp16'.",
        ),
        (
            "trainer.jit_compile=maybe",
            "trainer.jit_compile must be auto, true or false; got 'maybe'.",
        ),
        ("trainer.jit_compile=1", "trainer.jit_compile must be auto, true or false; got 1."),
    ],
)
def test_bad_compute_settings_name_the_key(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        trial_spec(compose_config(tmp_path, override))
    assert str(caught.value) == message
