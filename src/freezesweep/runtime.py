"""Where and how a trial computes: seeds, backend, device, mixed precision, XLA/jit. Pure Keras.

Mixed precision follows the Keras guide: a global dtype policy while the model is built (layers
take the policy at construction), the classifier's softmax in float32, loss scaling for
`mixed_float16` (Keras wraps the optimizer itself at compile time), and the float32 policy restored
afterwards so the next trial in the same process starts clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keras

PRECISIONS = ("off", "mixed_float16", "mixed_bfloat16")


def seed_everything(seed: int) -> None:
    """Fresh Keras state and deterministic ops, so one seed gives one result.

    Args:
        seed: seeds Python, numpy and the backend.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextmanager
def precision(policy: str) -> Iterator[None]:
    """Build models under a mixed-precision policy; restore `float32` on exit.

    Args:
        policy: `"off"`, `"mixed_float16"` or `"mixed_bfloat16"`.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if policy == "off" else policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def with_global_policy(model: keras.Model) -> keras.Model:
    """A loaded model rebuilt under the current global dtype policy, with the same weights.

    A `.keras` file records each layer's dtype policy (float32 when it was trained that way), so
    loading it under `mixed_float16` keeps float32 layers; rebuilding each layer from its config
    with the global policy is what makes mixed precision reach a loaded backbone.

    Args:
        model: a Functional or Sequential model.
    """
    policy = keras.config.dtype_policy()
    if all(layer.dtype_policy.name == policy.name for layer in model.layers):
        return model

    def rebuild(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy.name})

    clone = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


def device() -> str:
    """The accelerator Keras computes on: `gpu`, `tpu` or `cpu`, with a count when > 1."""
    backend = keras.backend.backend()
    kinds: list[str] = []
    if backend == "tensorflow":
        import tensorflow as tf

        kinds = [d.device_type.lower() for d in tf.config.list_logical_devices()]
        kinds = [kind for kind in kinds if kind in ("gpu", "tpu")] or ["cpu"]
    elif backend == "jax":
        import jax

        kinds = [d.platform for d in jax.devices()]
    elif backend == "torch":
        import torch

        kinds = ["gpu"] * torch.cuda.device_count() or ["cpu"]
    else:
        kinds = ["cpu"]
    kind = kinds[0]
    count = kinds.count(kind)
    return kind if count == 1 else f"{kind}x{count}"


def describe(policy: str, jit_compile: str | bool) -> dict[str, str]:
    """What a run logs about its compute: backend, device, precision, jit setting.

    Args:
        policy: the trainer's mixed-precision setting.
        jit_compile: the trainer's jit setting (`"auto"`, `True`, `False`).
    """
    return {
        "backend": keras.backend.backend(),
        "device": device(),
        "precision": "float32" if policy == "off" else policy,
        "jit_compile": str(jit_compile).lower(),
        "keras_version": keras.__version__,
    }
