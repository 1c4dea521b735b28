"""What the gallery accepts as a person's name and as a descriptor (shared by the store and the import
formats, so that a name is checked the same way whichever door it comes in by)."""

from __future__ import annotations

import unicodedata

import numpy as np

from faceapi.errors import GalleryError

DESCRIPTOR_SIZE = 128
#: The range real descriptors occupy. Measured on face-api.js's own outputs, the reference data of this
#: project (shared/reference/*/result.json and canvas-result.json: every 128-number "descriptor", 172 of them
#: from 74 outputs, photos and crops of the test images): components from -0.418 to 0.562, Euclidean norms
#: from 1.23 to 1.60. The bounds below leave about twice that (a descriptor of an unusual face is not
#: refused) and stop what is not a descriptor at all: +-3.4e38 (which overflowed the matcher's arithmetic
#: and failed every match), NaN, or vectors far from every face.
DESCRIPTOR_MAX_ABS = 1.0
DESCRIPTOR_NORM_RANGE = (0.5, 3.0)
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


def descriptor_problem(a: np.ndarray) -> str | None:
    """What makes `a` (a 128-vector of numbers) not a face descriptor, or None when it is one."""
    if not np.isfinite(a).all():
        return "contains NaN or infinite values"
    biggest = float(np.abs(a).max())
    if biggest > DESCRIPTOR_MAX_ABS:
        return (f"a value of {biggest:.3g} is outside the range face descriptors occupy "
                f"(-{DESCRIPTOR_MAX_ABS} to {DESCRIPTOR_MAX_ABS})")
    norm = float(np.linalg.norm(a))
    lo, hi = DESCRIPTOR_NORM_RANGE
    if not lo <= norm <= hi:
        return f"its length {norm:.3g} is outside the range face descriptors occupy ({lo} to {hi})"
    return None


def valid_rows(matrix: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows of an ``(N, 128)`` matrix that are face descriptors (`descriptor_problem`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        m = np.asarray(matrix, dtype=np.float64)
        finite = np.isfinite(m).all(axis=1)
        small = np.abs(np.where(np.isfinite(m), m, np.inf)).max(axis=1, initial=0.0) <= DESCRIPTOR_MAX_ABS
        norms = np.linalg.norm(np.where(np.isfinite(m), m, 0.0), axis=1)
    lo, hi = DESCRIPTOR_NORM_RANGE
    mask: np.ndarray = finite & small & (norms >= lo) & (norms <= hi)
    return mask


def check_descriptor(vector: object, where: str = "descriptor") -> np.ndarray:
    """A face descriptor (128 finite numbers in the range real descriptors occupy) as float32, or GalleryError."""
    if isinstance(vector, np.ndarray):
        if vector.dtype.kind not in "fiu":
            raise GalleryError(f"{where}: not a list of numbers (an array of {vector.dtype})")
    elif not isinstance(vector, (list, tuple)) or not all(
            isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) for x in vector):
        raise GalleryError(f"{where}: not a list of numbers")
    try:
        a = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise GalleryError(f"{where}: not a list of numbers ({exc})") from exc
    if a.shape != (DESCRIPTOR_SIZE,):
        raise GalleryError(f"{where}: expected {DESCRIPTOR_SIZE} numbers, got shape {a.shape}")
    problem = descriptor_problem(a)
    if problem is not None:
        raise GalleryError(f"{where}: not a face descriptor: {problem}")
    return a.astype(np.float32)
