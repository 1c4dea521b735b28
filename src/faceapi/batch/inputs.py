"""What `faceapi analyze` is given, expanded: files as named, folders recursively (sorted), each file
classified by extension. Nothing is dropped silently: a missing path or an empty folder becomes an
"error" item, a folder's file with another extension a "skip" item."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from faceapi.video.decode import VIDEO_SUFFIXES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}

#: "auto": a named file with neither an image nor a video extension (tried as both, see `batch.jobs.plan`).
InputKind = Literal["image", "video", "auto", "skip", "error"]


@dataclass(frozen=True)
class InputItem:
    """One thing to analyse, or to report as skipped or failed (`reason`)."""

    path: str
    kind: InputKind
    reason: str | None = None
    root: str | None = None  # the folder argument it was found under, if any

    @property
    def relative(self) -> Path:
        """The path relative to the folder it was found in (just the name for a named file)."""
        if self.root is None:
            return Path(Path(self.path).name)
        return Path(self.path).relative_to(self.root)


def kind_of(path: Path) -> Literal["image", "video"] | None:
    """"image" or "video" by the file's extension, None for any other."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[InputItem]:
    """Files as given; folders recursively (sorted), keeping images and videos by extension.

    Nothing is dropped silently: a missing path becomes an "error" item, a folder's file with another
    extension a "skip" item (reported, not counted as a failure), a folder without any file an "error" item.
    """
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted((f for f in p.rglob("*") if f.is_file()), key=lambda f: f.as_posix())
            if not found:
                items.append(InputItem(str(p), "error", "folder contains no files"))
            for f in found:
                kind = kind_of(f)
                if kind is None:
                    items.append(InputItem(str(f), "skip", "not an image or video extension", str(p)))
                else:
                    items.append(InputItem(str(f), kind, root=str(p)))
        elif p.is_file():
            items.append(InputItem(str(p), kind_of(p) or "auto"))
        elif p.exists():
            items.append(InputItem(str(p), "error", "not a regular file or folder"))
        else:
            items.append(InputItem(str(p), "error", "no such file or folder"))
    return items


__all__ = ["IMAGE_SUFFIXES", "InputItem", "InputKind", "expand_inputs", "kind_of"]
