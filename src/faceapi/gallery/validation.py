"""What the gallery accepts as a person's name and as a descriptor (shared by the store and the import
formats, so that a name is checked the same way whichever door it comes in by)."""

from __future__ import annotations

import unicodedata

import numpy as np

from faceapi.errors import GalleryError

DESCRIPTOR_SIZE = 128
MAX_NAME_LENGTH = 100
#: "unknown" is what the matcher calls a face that matches nobody.
RESERVED_NAMES = ("unknown",)


def normalise_name(name: str) -> str:
    """The form names are stored and looked up in: NFC, stripped (case is kept; lookups ignore it)."""
    return unicodedata.normalize("NFC", name).strip()


def check_name(name: object) -> str:
    """The name, stripped and NFC-normalised; GalleryError if it is empty, too long, has control
    characters or is reserved."""
    if not isinstance(name, str):
        raise GalleryError(f"a person's name must be a string, got {type(name).__name__}")
    clean = normalise_name(name)
    if not clean:
        raise GalleryError("a person's name must not be empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise GalleryError(f"name {clean[:20]!r}... is {len(clean)} characters long; at most {MAX_NAME_LENGTH}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in clean):
        raise GalleryError(f"name {clean!r} contains control characters")
    if clean.casefold() in RESERVED_NAMES:
        raise GalleryError(f"{clean!r} is reserved: it is the label of faces that match nobody")
    return clean


def check_descriptor(vector: object, where: str = "descriptor") -> np.ndarray:
    """A 128-d finite descriptor as float32, or GalleryError."""
    try:
        a = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise GalleryError(f"{where}: not a list of numbers ({exc})") from exc
    if a.shape != (DESCRIPTOR_SIZE,):
        raise GalleryError(f"{where}: expected {DESCRIPTOR_SIZE} numbers, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise GalleryError(f"{where}: contains NaN or infinite values")
    return a
