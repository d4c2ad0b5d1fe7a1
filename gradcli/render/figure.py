"""``descend -o run.png`` (or .svg, .pdf): the loss curve and |grad| of each run on a log
scale, and with two parameters the contour plot of the loss with each run's path, drawn with
matplotlib (an optional extra: ``pip install matplotlib``, or ``.[plot]`` in a checkout)."""

from __future__ import annotations

import io

from ..errors import MissingDependencyError
from ..results.descent import DescendResult


def render(result: DescendResult, fmt: str) -> bytes:
    """The figure as the bytes of a ``fmt`` file (png, svg or pdf)."""
    try:
        # (here, not at the top: matplotlib is optional and slow to load)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # (matplotlib)
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "drawing the plot needs matplotlib, which is not installed",
            hint="pip install matplotlib (the plot extra: pip install '.[plot]' in a checkout)",
        ) from None
    runs = result.all_runs
    panels = 3 if result.contour is not None else 2
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), constrained_layout=True)
    for run in runs:
        name = run.settings.optimizer + ("" if run.zero_grad else " (no zero_grad)")
        steps = range(len(run.losses))
        positive = all(v > 0 for v in run.losses)
        axes[0].plot(steps, run.losses, label=name)
        if positive:
            axes[0].set_yscale("log")
        axes[1].plot(steps, run.gradient_norms, label=name)
    axes[1].set_yscale("log")
    axes[0].set(title=f"loss of {result.expression[:60]}", xlabel="step")
    axes[1].set(title="|grad|", xlabel="step")
    axes[0].legend()
    if result.contour is not None:
        c = result.contour
        ax = axes[2]
        ax.contourf(c.xs, c.ys, c.values, levels=30, cmap="viridis")
        ax.contour(c.xs, c.ys, c.values, levels=15, colors="white", linewidths=0.4)
        for run in runs:
            if run.path:
                xs = [p[0] for p in run.path]
                ys = [p[1] for p in run.path]
                ax.plot(xs, ys, ".-", markersize=3, label=run.settings.optimizer)
                ax.plot(xs[0], ys[0], "wo")
        ax.set(title="loss and the path", xlabel=c.names[0], ylabel=c.names[1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    plt.close(figure)
    return buffer.getvalue()
