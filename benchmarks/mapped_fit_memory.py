"""Why feature files are float32 on JAX and torch: the memory `fit` takes on a memory-mapped array.

For float16 and float32, a file of `--rows` x 256 ones is written by a child process (so its pages
never count here), then opened with `np.load(mmap_mode="r")` in another child, which compiles a
one-layer model on 64 rows in memory first and then fits one shuffled step of 32 rows on the
memory-mapped array. Each child prints how much its peak resident memory grew during that step:
Keras's array adapter casts an array that is not float32 whole, in memory, before its first batch;
a float32 one is gathered a batch at a time. (On TensorFlow that adapter converts any array
whole; freezesweep feeds memory maps there through its own `tf.data` pipeline instead, in
`freezesweep.data.feed`.) Run it under the backend you care about:

    KERAS_BACKEND=jax python benchmarks/mapped_fit_memory.py --rows 200000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 256


def _write(path: Path, dtype: str, rows: int) -> None:
    import numpy as np

    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows, WIDTH))
    array[:] = 1
    array.flush()


def _fit(path: Path) -> str:
    import keras
    import numpy as np

    x = np.load(path, mmap_mode="r")
    y = np.zeros(len(x), dtype="int32")
    model = keras.Sequential([keras.Input((WIDTH,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    warm = np.ones((64, WIDTH), "float32")
    model.fit(warm, y[:64], batch_size=32, epochs=1, steps_per_epoch=1, verbose=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.fit(x, y, batch_size=32, epochs=1, steps_per_epoch=1, shuffle=True, verbose=0)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return (
        f"{keras.backend.backend()}: one step on a {x.dtype.name} memory map of {x.nbytes} "
        f"bytes: peak resident memory +{grown:.0f} MiB"
    )


def main() -> None:
    """Print one line per dtype, each measured in a fresh process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--child", nargs=3, metavar=("ACTION", "PATH", "DTYPE"), help="internal")
    args = parser.parse_args()
    if args.child:
        action, path, dtype = args.child
        if action == "write":
            _write(Path(path), dtype, args.rows)
        else:
            print(_fit(Path(path)), flush=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        for dtype in ("float16", "float32"):
            path = str(Path(folder) / f"{dtype}.npy")
            for action in ("write", "fit"):
                command = [sys.executable, __file__, "--rows", str(args.rows)]
                subprocess.run([*command, "--child", action, path, dtype], check=True)


if __name__ == "__main__":
    main()
