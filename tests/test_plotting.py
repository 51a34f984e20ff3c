"""Figures saved off-screen (`plotting.py`)."""

from __future__ import annotations

from pathlib import Path

from freezesweep.plotting import new_figure, save_figure


def test_a_figure_is_written_as_png_into_a_new_folder_and_closed(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = new_figure((3, 2))
    axes.plot([1, 2], [3, 4])
    path = save_figure(figure, tmp_path / "new" / "plot.png")
    assert path == tmp_path / "new" / "plot.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Closed: a sweep writing many plots keeps no figure alive.
    assert figure.number not in plt.get_fignums()
