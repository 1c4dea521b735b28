"""Reading labelled sets in the layouts people already have: torchvision's ImageFolder
(``DIR/<label>/<image>``) for expressions and LFW's ``pairs.txt`` + ``images/NAME/NAME_NNNN.jpg`` for
verification. Layout problems are `EvaluationError`s that say what was found and what was expected; an
image that cannot be decoded is not a layout problem (the evaluations count and name it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from faceapi.errors import EvaluationError
from faceapi.results import EXPRESSION_LABELS


def _visible_files(folder: Path) -> list[Path]:
    """Regular files of a folder (recursively), sorted, without hidden ones (``.DS_Store``, ``._x``)."""
    return sorted((f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")),
                  key=lambda f: f.as_posix())


def image_folder(root: str | os.PathLike[str], labels: tuple[str, ...] = EXPRESSION_LABELS,
                 limit: int | None = None) -> list[tuple[Path, str]]:
    """(image path, label) of an ImageFolder, label by label in `labels` order, files sorted.

    Every visible file under a label folder is an input (one that does not decode is counted as
    unreadable by the evaluation, not skipped here). `limit`: at most that many, taken round-robin over
    the labels so that a small slice still has every label.

    Raises:
        EvaluationError: `root` is not a folder, has subfolders that are not known labels, or no images.
    """
    base = Path(root)
    if not base.is_dir():
        raise EvaluationError(f"{base}: not a folder (expected DIR/<label>/<image>, labels: {', '.join(labels)})")
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit must be >= 1, got {limit}")
    subdirs = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    unknown = [d for d in subdirs if d not in labels]
    if unknown:
        raise EvaluationError(f"{base}: subfolder(s) {', '.join(unknown)} are not known labels; expected "
                              f"DIR/<label>/<image> with labels among: {', '.join(labels)}")
    loose = [f.name for f in base.iterdir() if f.is_file() and not f.name.startswith(".")
             and f.name not in ("README.md", "README.txt", "LICENSE")]
    if loose and not subdirs:
        raise EvaluationError(f"{base}: files but no label folders; expected DIR/<label>/<image> with labels "
                              f"among: {', '.join(labels)}")
    per_label = [[(f, lab) for f in _visible_files(base / lab)] for lab in labels if lab in subdirs]
    if not any(per_label):
        raise EvaluationError(f"{base}: no images under the label folders {', '.join(subdirs) or '(none)'}")
    if limit is None:
        return [item for group in per_label for item in group]
    picked: list[tuple[Path, str]] = []
    depth = 0
    while len(picked) < limit and any(depth < len(g) for g in per_label):
        for g in per_label:
            if depth < len(g) and len(picked) < limit:
                picked.append(g[depth])
        depth += 1
    return picked


@dataclass(frozen=True)
class Pair:
    """One verification pair: two image paths and whether they show the same person."""

    first: Path
    second: Path
    same: bool


def _lfw_image(root: Path, name: str, number: str) -> Path:
    return root / "images" / name / f"{name}_{int(number):04d}.jpg"


def lfw_pairs(root: str | os.PathLike[str], limit: int | None = None) -> list[Pair]:
    """The pairs of LFW's ``pairs.txt`` (``NAME i j`` same person, ``NAME1 i NAME2 j`` different; an optional
    first line ``folds pairs``), with the image paths under ``images/``. Paths are not checked here: a
    missing image is counted by the evaluation like an unreadable one. `limit`: the first that many of
    each kind.

    Raises:
        EvaluationError: no ``pairs.txt``, or a line that is neither form.
    """
    base = Path(root)
    path = base / "pairs.txt"
    if not path.is_file():
        raise EvaluationError(f"{base}: no pairs.txt (expected LFW's layout: pairs.txt and images/NAME/NAME_NNNN.jpg)")
    if limit is not None and limit < 1:
        raise EvaluationError(f"--limit must be >= 1, got {limit}")
    same: list[Pair] = []
    different: list[Pair] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) == 2 and lineno == 1 and all(p.isdigit() for p in parts):
                continue  # the header: number of folds, pairs per fold
            if len(parts) == 3:
                same.append(Pair(_lfw_image(base, parts[0], parts[1]), _lfw_image(base, parts[0], parts[2]), True))
            elif len(parts) == 4:
                different.append(Pair(_lfw_image(base, parts[0], parts[1]), _lfw_image(base, parts[2], parts[3]),
                                      False))
            else:
                raise ValueError(f"{len(parts)} fields")
        except ValueError as exc:
            raise EvaluationError(f"{path}:{lineno}: expected 'NAME i j' or 'NAME1 i NAME2 j', got {line!r} "
                                  f"({exc})") from None
    if not same and not different:
        raise EvaluationError(f"{path}: no pairs")
    if limit is not None:
        same, different = same[:limit], different[:limit]
    return same + different


__all__ = ["Pair", "image_folder", "lfw_pairs"]
