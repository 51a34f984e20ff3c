"""Out of memory inside a trial: recognised on every backend, reported with the batch size, and
the trial's memory handed back so the next trial of the process can run.

A sweep runs many trials in one process (Hydra's basic launcher); an out-of-memory error must end
only its own trial, as a FAIL whose reason says what to change.
"""

from __future__ import annotations

import gc

import keras

from freezesweep.errors import OutOfMemory

# The backends' own out-of-memory errors, by class name so no backend is imported to check:
# TensorFlow's tf.errors.ResourceExhaustedError, torch's torch.OutOfMemoryError
# (torch.cuda.OutOfMemoryError is the same class).
_OUT_OF_MEMORY_CLASSES = ("ResourceExhaustedError", "OutOfMemoryError")
# JAX raises a generic XlaRuntimeError whose message starts with the status code.
_XLA_STATUS = "RESOURCE_EXHAUSTED"


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an out-of-memory error of Python or of any Keras backend."""
    if isinstance(error, MemoryError):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & set(_OUT_OF_MEMORY_CLASSES)) or _XLA_STATUS in str(error)[:200]


def out_of_memory(error: BaseException, batch_size: int) -> OutOfMemory:
    """The trial's error: `out of memory at trainer.batch_size=N (<the backend's first line>)`.

    Args:
        error: the backend's error (see `is_out_of_memory`).
        batch_size: the trial's `trainer.batch_size`.
    """
    if isinstance(error, OutOfMemory):
        return error
    # The backend's messages run to pages of allocator statistics; the first line says what.
    first = (str(error).strip().splitlines() or [""])[0][:200]
    detail = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return OutOfMemory(
        f"out of memory at trainer.batch_size={batch_size} ({detail}); "
        "a smaller trainer.batch_size needs less"
    )


def release_memory() -> None:
    """Frees what the failed trial held: Keras's graphs and layers, then unreachable objects.

    Call it once nothing refers to the trial's model or data any more (the error's traceback
    frames do: raise a fresh error outside the `except` block).
    """
    keras.backend.clear_session(free_memory=True)
    gc.collect()
