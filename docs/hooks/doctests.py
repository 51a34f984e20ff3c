"""Griffe extension: doctest examples in docstrings render as code on the API pages.

The docstrings follow Keras's style (`Example:`, a blank line, then `>>>` lines at the same
indentation), which Google-style parsing leaves as prose; each run of `>>>` lines and their output
becomes a fenced `pycon` block, so `[...]` in an output is never read as a Markdown link.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """`text` with each doctest run (a `>>>` line up to the next blank line) fenced."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if not inside and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(line)
    if inside:
        out.append("```")
    return "\n".join(out)


class FencedDoctests(griffe.Extension):
    """Fences the doctest examples of every docstring griffe loads."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
