"""The gallery's JSON formats: what `Gallery.export_json` writes and what `Gallery.import_json` reads.

Export (``faceapi people export``, ``GET /api/people/export``)::

    {"format": "faceapi-gallery", "version": 1, "exported": "...Z",
     "people": [{"name": ..., "created": ...,
                 "descriptors": [{"vector": [128 numbers], "image_sha256": ..., "created": ...}]}]}

Import accepts that, face-api.js's ``FaceMatcher.toJSON()`` (``{"labeledDescriptors": [{"label",
"descriptors": [[128 numbers]]}]}``) or a bare list of ``{"label"|"name", "descriptors": [[...]] |
[{"vector": [...]}]}``. Everything is checked before anything is written: a bad entry rejects the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.errors import GalleryError
from faceapi.fileio import PRIVATE, atomic_write_text
from faceapi.gallery.validation import check_descriptor, check_name, name_key

EXPORT_FORMAT = "faceapi-gallery"


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z`` (the gallery's timestamps)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DescriptorRow:
    """One descriptor to store: the vector and, when known, its image's SHA-256 and creation time."""

    vector: np.ndarray
    image_sha256: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class ImportedPerson:
    """A person read from an import file: checked name, creation time if given, descriptors."""

    name: str
    created: str | None
    descriptors: tuple[DescriptorRow, ...]


def descriptor_entry(vector: np.ndarray, image_sha256: str | None, created: str) -> dict[str, Any]:
    """One descriptor as the export format writes it."""
    return {"vector": [float(x) for x in vector], "image_sha256": image_sha256, "created": created}


def export_document(people: list[dict[str, Any]], version: int) -> dict[str, Any]:
    """The export envelope around ``[{"name", "created", "descriptors": [descriptor_entry, ...]}]``."""
    return {"format": EXPORT_FORMAT, "version": version, "exported": now_iso(), "people": people}


def write_export(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write an export atomically and privately (0600: descriptors are biometric data)."""
    try:
        atomic_write_text(path, json.dumps(document, indent=1), mode=PRIVATE)
    except OSError as exc:
        raise GalleryError(f"cannot write {path}: {exc}") from exc


def read_import_file(path: str | os.PathLike[str]) -> Any:
    """The JSON in `path`, or GalleryError saying why it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(f"{path} is not JSON: {exc}") from exc


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_import(data: Any, max_version: int) -> list[ImportedPerson]:
    """The people in an import document (see the module docstring for the accepted shapes), checked.

    Raises:
        GalleryError: an unknown shape, a newer export version than `max_version`, a bad name or
            descriptor, or a name given twice (compared by `name_key`).
    """
    if isinstance(data, dict):
        if data.get("format") == EXPORT_FORMAT:
            version = data.get("version", 1)
            if not isinstance(version, int) or version > max_version:
                raise GalleryError(f"import: file has format version {version!r}; this faceapi reads up to "
                                   f"{max_version}")
            entries = data.get("people")
        else:
            entries = data.get("people", data.get("labeledDescriptors", data.get("labeled_descriptors")))
    else:
        entries = data
    if not isinstance(entries, list):
        raise GalleryError("import: expected a faceapi gallery export, a face-api.js FaceMatcher JSON or a list "
                           "of {name, descriptors}")
    people: list[ImportedPerson] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise GalleryError(f"import: entry {i + 1} is not an object")
        try:
            name = check_name(entry.get("name", entry.get("label")))
        except GalleryError as exc:
            raise GalleryError(f"import: entry {i + 1}: {exc}") from None
        key = name_key(name)
        if key in seen:
            raise GalleryError(f"import: {name!r} appears twice (as {seen[key]!r}: names are compared by the gallery's "
                               f"one rule, Unicode case folding, so these are one person)")
        seen[key] = name
        descriptors = entry.get("descriptors", [])
        if not isinstance(descriptors, list):
            raise GalleryError(f"import: {name!r}: descriptors must be a list")
        rows = []
        for j, d in enumerate(descriptors):
            where = f"import: {name!r} descriptor {j + 1}"
            if isinstance(d, dict):
                rows.append(DescriptorRow(check_descriptor(d.get("vector"), where),
                                          _optional_str(d.get("image_sha256")), _optional_str(d.get("created"))))
            else:
                rows.append(DescriptorRow(check_descriptor(d, where)))
        people.append(ImportedPerson(name, _optional_str(entry.get("created")), tuple(rows)))
    return people


__all__ = ["EXPORT_FORMAT", "DescriptorRow", "ImportedPerson", "descriptor_entry", "export_document", "now_iso",
           "parse_import", "read_import_file", "write_export"]
