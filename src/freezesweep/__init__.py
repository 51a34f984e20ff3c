"""freezesweep: how much of a pretrained Keras backbone to unfreeze, and at what learning rate."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
