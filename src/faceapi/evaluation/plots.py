"""Pictures of the evaluations (``--plot FILE.png``): for expressions the row-normalised confusion matrix
(counts in the cells) beside the reliability diagram; for verification the distance histograms beside
the DET curve. matplotlib is optional (the ``eval`` extra): imported here only, with a clear error."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.errors import EvaluationError

if TYPE_CHECKING:
    from faceapi.evaluation.expressions import ExpressionEvaluation
    from faceapi.evaluation.verification import VerificationEvaluation


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise EvaluationError("--plot needs matplotlib: pip install 'faceapi[eval]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(ax: Any, result: ExpressionEvaluation) -> None:
    """Row-normalised confusion matrix (the colour: the share of the row; the text: the count)."""
    rows = list(result.confusion)
    cols = list(next(iter(result.confusion.values()))) if rows else []
    counts = np.array([[result.confusion[r][c] for c in cols] for r in rows], np.float64)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {result.accuracy.value:.1%}, balanced {result.balanced_accuracy.value:.1%}", fontsize=9)


def reliability_figure(ax: Any, result: ExpressionEvaluation) -> None:
    """Accuracy per confidence bin against the diagonal, bar widths the bins, with the ECE."""
    bins = [b for b in result.reliability if b.count]
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.bar([(b.low + b.high) / 2 for b in bins], [b.accuracy for b in bins],
           width=[b.high - b.low for b in bins], edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([b.confidence for b in bins], [b.accuracy for b in bins], "o", color="darkred", ms=3,
            label="at mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence" + (" (calibrated)" if result.calibrated else ""))
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {result.ece.value:.3f} (15 bins), mean confidence {result.mean_confidence:.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def plot_expressions(result: ExpressionEvaluation, path: str | os.PathLike[str]) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    confusion_figure(axes[0], result)
    reliability_figure(axes[1], result)
    fig.suptitle(f"{os.path.basename(result.dataset.rstrip('/'))}: {result.model}"
                 f"{' calibrated' if result.calibrated else ''}{' (crops)' if result.crop else ' (chain)'}, "
                 f"n={result.n}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")  # rotated tick labels would push the axis titles out
    plt.close(fig)


def plot_verification(result: VerificationEvaluation, path: str | os.PathLike[str]) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    g = np.array([d for d in result.genuine if math.isfinite(d)])
    i = np.array([d for d in result.impostor if math.isfinite(d)])
    edges = np.linspace(0, max(1.2, float(np.max(np.concatenate([g, i, [0.0]])))), 40)
    axes[0].hist(g, bins=edges, alpha=0.6, label=f"same person ({g.size})")
    axes[0].hist(i, bins=edges, alpha=0.6, label=f"different people ({i.size})")
    axes[0].axvline(result.threshold, color="black", lw=1, label=f"threshold {result.threshold:g}")
    axes[0].set_xlabel("descriptor distance")
    axes[0].set_ylabel("pairs")
    axes[0].legend(fontsize=7)
    from faceapi.evaluation.stats import det_curve

    curve = det_curve(np.array(result.genuine), np.array(result.impostor))
    floor = 0.5 / max(result.different, 1)
    axes[1].plot(np.maximum(curve.fmr, floor), np.maximum(curve.fnmr, 0.5 / max(result.same, 1)))
    axes[1].plot([result.fmr.value], [result.fnmr.value], "o", color="black", label=f"at {result.threshold:g}")
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("false-match rate")
    axes[1].set_ylabel("false-non-match rate")
    axes[1].set_title(f"DET; EER {result.eer:.1%}", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{os.path.basename(result.dataset.rstrip('/'))}: accuracy {result.accuracy.value:.1%} at "
                 f"{result.threshold:g}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")  # rotated tick labels would push the axis titles out
    plt.close(fig)


__all__ = ["plot_expressions", "plot_verification"]
