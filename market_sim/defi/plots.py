"""Figures of the DeFi scenarios as PNG bytes (headless matplotlib)."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["subplots", "png_bytes"]


def subplots(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """matplotlib.pyplot.subplots on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def png_bytes(fig: Any) -> bytes:
    """Lay out, render and close a figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
