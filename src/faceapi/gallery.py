"""The people gallery: named people and their 128-d face descriptors, persisted in SQLite.

face-api.js recognises people by comparing descriptors with labelled references (`FaceMatcher`); the
gallery is where those references live between runs::

    gallery = Gallery()                                   # the default file, or Gallery("people.sqlite3")
    enrol_images(analyzer, gallery, "amy", ["amy1.png", "amy2.png"], crop=True)
    result = analyzer.analyze("bbt4.jpg", matcher=gallery.matcher())   # each face's .match

Storage: tables ``people(id, name, created)`` and ``descriptors(id, person_id, vector, image_sha256,
created)`` (vector = 128 little-endian float32, 512 bytes). The schema version is ``PRAGMA user_version``
(and ``PRAGMA application_id`` marks the file as a faceapi gallery). Every write is one transaction
(``BEGIN IMMEDIATE`` ... ``COMMIT``, WAL journal, ``synchronous=FULL``): a crash or kill in the middle leaves
the gallery exactly as it was before the write. Names are unique regardless of case; "unknown" is
reserved (it is what the matcher calls a face that matches nobody).

A `Gallery` is safe to share between threads (one connection behind a lock) and between processes (SQLite
locking; a write from another process is noticed by `matcher`, which rebuilds its cached matrix then).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.errors import GalleryError
from faceapi.image import ImageInput, describe, load_image
from faceapi.matching import DEFAULT_DISTANCE_THRESHOLD, FaceMatcher
from faceapi.options import DetectorOptions, SsdMobilenetv1Options

SCHEMA_VERSION = 1
DESCRIPTOR_SIZE = 128
#: ``PRAGMA application_id``: "FAPI".
APPLICATION_ID = 0x46415049
EXPORT_FORMAT = "faceapi-gallery"
MAX_NAME_LENGTH = 100
RESERVED_NAMES = ("unknown",)
#: Test hook: seconds to sleep after each descriptor row written inside a transaction (0: off).
WRITE_DELAY_ENV = "FACEAPI_GALLERY_WRITE_DELAY"

_SCHEMA = """
CREATE TABLE people (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    created TEXT    NOT NULL
);
CREATE TABLE descriptors (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector       BLOB    NOT NULL CHECK (length(vector) = 512),
    image_sha256 TEXT,
    created      TEXT    NOT NULL
);
CREATE INDEX descriptors_person ON descriptors(person_id);
"""

#: Migrations: MIGRATIONS[n] turns a version-n gallery into version n+1 (run inside one transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


class UnknownPersonError(GalleryError):
    """No person has that name (a server answers 404)."""


class NameTakenError(GalleryError):
    """Another person already has that name (a server answers 409)."""


class FaceCountError(GalleryError):
    """An enrolment image does not show exactly one face; `faces` says how many were found."""

    def __init__(self, message: str, faces: int):
        super().__init__(message)
        self.faces = faces


def default_gallery_path() -> Path:
    """``$FACEAPI_GALLERY``, else ``gallery.sqlite3`` in the user data folder (platformdirs)."""
    env = os.environ.get("FACEAPI_GALLERY")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("faceapi")) / "gallery.sqlite3"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_name(name: object) -> str:
    """The name, stripped and NFC-normalised; GalleryError if it is empty, too long, has control
    characters or is reserved."""
    if not isinstance(name, str):
        raise GalleryError(f"a person's name must be a string, got {type(name).__name__}")
    clean = unicodedata.normalize("NFC", name).strip()
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


def _blob(v: np.ndarray) -> bytes:
    return v.astype("<f4").tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def image_sha256(source: ImageInput, pixels: np.ndarray | None = None) -> str:
    """SHA-256 of an image's file bytes (paths, bytes), else of its decoded RGB pixels and shape."""
    if isinstance(source, (str, os.PathLike)):
        h = hashlib.sha256()
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()
    arr = pixels if pixels is not None else load_image(source)
    return hashlib.sha256(repr(arr.shape).encode() + np.ascontiguousarray(arr).tobytes()).hexdigest()


@dataclass(frozen=True)
class Person:
    """A person in the gallery: name, creation time (ISO 8601, UTC) and how many descriptors they have."""

    id: int
    name: str
    created: str
    descriptors: int

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "created": self.created, "descriptors": self.descriptors}


@dataclass(frozen=True)
class EnrolResult:
    """What `Gallery.enrol` did: the person afterwards, descriptors added, and exact duplicates skipped."""

    person: Person
    added: int
    skipped: int = 0
    created_person: bool = False

    def to_dict(self) -> dict:
        return {**self.person.to_dict(), "added": self.added, "skipped": self.skipped,
                "created_person": self.created_person}


class Gallery:
    """A SQLite file of people and their descriptors.

    Args:
        path: the file (default: `default_gallery_path()`); its folder is created. ``":memory:"`` works too.
        create: when False, a missing file is a GalleryError instead of a new empty gallery.

    Raises:
        GalleryError: the file is not a faceapi gallery, or was written by a newer faceapi.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_gallery_path()
        memory = str(self.path) == ":memory:"
        if not memory:
            if not self.path.exists():
                if not create:
                    raise GalleryError(f"gallery {self.path} does not exist")
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif self.path.is_dir():
                raise GalleryError(f"gallery {self.path} is a folder, expected a file")
        self._lock = threading.RLock()
        self._writes = 0  # bumped by every write of this connection (data_version only sees others')
        self._cache: dict[tuple, FaceMatcher] = {}
        self._cache_key: tuple | None = None
        self._matrix_cache: tuple[tuple, list[str], np.ndarray, list[int]] | None = None
        try:
            self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot open gallery {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 10000")
            if not memory:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise GalleryError(f"{self.path} is not a faceapi gallery ({exc})") from exc
        except GalleryError:
            self._db.close()
            raise

    # -- schema -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app = db.execute("PRAGMA application_id").fetchone()[0]
        if version == 0:
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise GalleryError(f"{self.path} is an SQLite file but not a faceapi gallery")
            with self._transaction():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if app != APPLICATION_ID:
            raise GalleryError(f"{self.path} is an SQLite file but not a faceapi gallery")
        if version > SCHEMA_VERSION:
            raise GalleryError(f"gallery {self.path} has schema version {version}, written by a newer faceapi; "
                               f"this one reads versions up to {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            with self._transaction():
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- plumbing -----------------------------------------------------------------------------------
    def _transaction(self):
        return _Transaction(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r})"

    def _person_row(self, name: str) -> tuple[int, str, str]:
        row = self._db.execute("SELECT id, name, created FROM people WHERE name = ?",
                               (unicodedata.normalize("NFC", name).strip(),)).fetchone()
        if row is None:
            known = [r[0] for r in self._db.execute("SELECT name FROM people ORDER BY name COLLATE NOCASE")]
            hint = f"; known: {', '.join(known)}" if known and len(known) <= 20 else (
                f"; {len(known)} people known (see `faceapi people list`)" if known else "; the gallery is empty")
            raise UnknownPersonError(f"no person called {name!r} in gallery {self.path}{hint}")
        return row

    def _person(self, pid: int) -> Person:
        pid, name, created = self._db.execute("SELECT id, name, created FROM people WHERE id = ?", (pid,)).fetchone()
        n = self._db.execute("SELECT count(*) FROM descriptors WHERE person_id = ?", (pid,)).fetchone()[0]
        return Person(pid, name, created, n)

    @staticmethod
    def _row_written() -> None:
        delay = os.environ.get(WRITE_DELAY_ENV)
        if delay:
            time.sleep(float(delay))

    def _add_descriptors(self, pid: int, rows: list[tuple[np.ndarray, object, object]], now: str) -> tuple[int, int]:
        """Insert (vector, image hash, created) rows for a person inside the caller's transaction, skipping
        vectors the person already has; hashes and times that are not strings become NULL / `now`.
        Returns (added, skipped)."""
        have = {bytes(r[0]) for r in self._db.execute("SELECT vector FROM descriptors WHERE person_id = ?",
                                                       (pid,))}
        added = skipped = 0
        for v, h, c in rows:
            blob = _blob(v)
            if blob in have:
                skipped += 1
                continue
            have.add(blob)
            self._db.execute("INSERT INTO descriptors (person_id, vector, image_sha256, created) VALUES (?, ?, ?, ?)",
                             (pid, blob, h if isinstance(h, str) else None, c if isinstance(c, str) else now))
            added += 1
            self._row_written()
        return added, skipped

    # -- reading ------------------------------------------------------------------------------------
    def people(self) -> list[Person]:
        """Everyone, by name (case-insensitive order)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.id, p.name, p.created, count(d.id) FROM people p LEFT JOIN descriptors d "
                "ON d.person_id = p.id GROUP BY p.id ORDER BY p.name COLLATE NOCASE").fetchall()
        return [Person(*r) for r in rows]

    def person(self, name: str) -> Person:
        """The person called `name` (any case); GalleryError if there is none."""
        with self._lock:
            return self._person(self._person_row(name)[0])

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            return self._db.execute("SELECT 1 FROM people WHERE name = ?",
                                    (unicodedata.normalize("NFC", name).strip(),)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM people").fetchone()[0])

    @property
    def num_descriptors(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM descriptors").fetchone()[0])

    def descriptors(self, name: str) -> np.ndarray:
        """``(n, 128)`` float32: the person's descriptors, oldest first."""
        with self._lock:
            pid = self._person_row(name)[0]
            rows = self._db.execute("SELECT vector FROM descriptors WHERE person_id = ? ORDER BY id", (pid,))
            vecs = [_vector(r[0]) for r in rows]
        return np.stack(vecs) if vecs else np.zeros((0, DESCRIPTOR_SIZE), np.float32)

    # -- writing (each method is one transaction) ---------------------------------------------------
    def add_person(self, name: str) -> Person:
        """A new person without descriptors (they match nothing until enrolled). GalleryError if the name
        is taken."""
        clean = check_name(name)
        with self._lock, self._transaction():
            self._insert_person(clean)
            pid = self._db.execute("SELECT id FROM people WHERE name = ?", (clean,)).fetchone()[0]
            return self._person(pid)

    def _insert_person(self, clean: str, created: str | None = None) -> int:
        try:
            cur = self._db.execute("INSERT INTO people (name, created) VALUES (?, ?)", (clean, created or _now()))
        except sqlite3.IntegrityError as exc:
            existing = self._db.execute("SELECT name FROM people WHERE name = ?", (clean,)).fetchone()
            raise NameTakenError(f"there is already a person called {existing[0] if existing else clean!r}") from exc
        return int(cur.lastrowid)

    def enrol(self, name: str, descriptors: Sequence[Sequence[float] | np.ndarray] | np.ndarray,
              image_hashes: Sequence[str | None] | None = None, *, create: bool = True) -> EnrolResult:
        """Add descriptors to `name` (created when missing, unless ``create=False``), all in one transaction.
        A descriptor identical to one the person already has is skipped.

        Args:
            descriptors: 128-d vectors.
            image_hashes: the SHA-256 of each descriptor's source image (or None), same length.
        """
        clean = check_name(name)
        vecs = [check_descriptor(d, f"descriptor {i + 1} for {clean!r}") for i, d in enumerate(descriptors)]
        if not vecs:
            raise GalleryError(f"nothing to enrol for {clean!r}: no descriptors given")
        hashes = list(image_hashes) if image_hashes is not None else [None] * len(vecs)
        if len(hashes) != len(vecs):
            raise GalleryError(f"enrol {clean!r}: {len(vecs)} descriptors but {len(hashes)} image hashes")
        with self._lock, self._transaction():
            row = self._db.execute("SELECT id FROM people WHERE name = ?", (clean,)).fetchone()
            created_person = row is None
            if row is None:
                if not create:
                    self._person_row(clean)  # raises the unknown-name error
                pid = self._insert_person(clean)
            else:
                pid = row[0]
            added, skipped = self._add_descriptors(pid, [(v, h, None) for v, h in zip(vecs, hashes)], _now())
            return EnrolResult(self._person(pid), added, skipped, created_person)

    def rename(self, old: str, new: str) -> Person:
        """Rename a person (a change of case only is allowed). GalleryError if `old` is unknown or `new`
        is taken by someone else."""
        clean = check_name(new)
        with self._lock, self._transaction():
            pid = self._person_row(old)[0]
            other = self._db.execute("SELECT id, name FROM people WHERE name = ?", (clean,)).fetchone()
            if other is not None and other[0] != pid:
                raise NameTakenError(f"cannot rename {old!r} to {clean!r}: there is already a person called "
                                   f"{other[1]!r}")
            self._db.execute("UPDATE people SET name = ? WHERE id = ?", (clean, pid))
            return self._person(pid)

    def remove(self, name: str) -> Person:
        """Remove a person and all their descriptors; returns who was removed. GalleryError if unknown."""
        with self._lock, self._transaction():
            row = self._person_row(name)
            person = self._person(row[0])
            self._db.execute("DELETE FROM descriptors WHERE person_id = ?", (row[0],))
            self._db.execute("DELETE FROM people WHERE id = ?", (row[0],))
            return person

    def clear(self) -> int:
        """Remove everyone; returns how many people were removed."""
        with self._lock, self._transaction():
            n = self._db.execute("SELECT count(*) FROM people").fetchone()[0]
            self._db.execute("DELETE FROM descriptors")
            self._db.execute("DELETE FROM people")
            return int(n)

    # -- export / import ----------------------------------------------------------------------------
    def export_json(self) -> dict:
        """The whole gallery as a JSON-ready dict::

            {"format": "faceapi-gallery", "version": 1, "exported": "...Z",
             "people": [{"name": ..., "created": ...,
                         "descriptors": [{"vector": [128 numbers], "image_sha256": ..., "created": ...}]}]}
        """
        with self._lock:
            self._db.execute("BEGIN")  # one consistent snapshot
            try:
                people = self._db.execute("SELECT id, name, created FROM people ORDER BY name COLLATE NOCASE")
                out = []
                for pid, name, created in people.fetchall():
                    rows = self._db.execute("SELECT vector, image_sha256, created FROM descriptors "
                                            "WHERE person_id = ? ORDER BY id", (pid,))
                    out.append({"name": name, "created": created, "descriptors": [
                        {"vector": [float(x) for x in _vector(v)], "image_sha256": h, "created": c}
                        for v, h, c in rows]})
            finally:
                self._db.execute("COMMIT")
        return {"format": EXPORT_FORMAT, "version": SCHEMA_VERSION, "exported": _now(), "people": out}

    def export(self, path: str | os.PathLike) -> int:
        """Write `export_json` to a file (atomically: a temporary file renamed over it); returns how many
        people were written."""
        data = self.export_json()
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise GalleryError(f"cannot write {target}: {exc}") from exc
        return len(data["people"])

    @staticmethod
    def _parse_import(data: Any) -> list[tuple[str, str | None, list[tuple[np.ndarray, str | None, str | None]]]]:
        """Accepts our export format, face-api.js's ``FaceMatcher.toJSON()`` (``labeledDescriptors``) or a
        bare list of ``{"label"|"name", "descriptors": [[...]] | [{"vector": [...]}]}``."""
        if isinstance(data, dict):
            if data.get("format") == EXPORT_FORMAT:
                version = data.get("version", 1)
                if not isinstance(version, int) or version > SCHEMA_VERSION:
                    raise GalleryError(f"import: file has format version {version!r}; this faceapi reads up to "
                                       f"{SCHEMA_VERSION}")
                entries = data.get("people")
            else:
                entries = data.get("people", data.get("labeledDescriptors", data.get("labeled_descriptors")))
        else:
            entries = data
        if not isinstance(entries, list):
            raise GalleryError("import: expected a faceapi gallery export, a face-api.js FaceMatcher JSON or a list "
                               "of {name, descriptors}")
        people = []
        seen: dict[str, str] = {}
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                raise GalleryError(f"import: entry {i + 1} is not an object")
            raw = e.get("name", e.get("label"))
            try:
                name = check_name(raw)
            except GalleryError as exc:
                raise GalleryError(f"import: entry {i + 1}: {exc}") from None
            if name.casefold() in seen:
                raise GalleryError(f"import: {name!r} appears twice (entries are matched by name regardless of case)")
            seen[name.casefold()] = name
            descs = e.get("descriptors", [])
            if not isinstance(descs, list):
                raise GalleryError(f"import: {name!r}: descriptors must be a list")
            rows = []
            for j, d in enumerate(descs):
                where = f"import: {name!r} descriptor {j + 1}"
                if isinstance(d, dict):
                    rows.append((check_descriptor(d.get("vector"), where), d.get("image_sha256"), d.get("created")))
                else:
                    rows.append((check_descriptor(d, where), None, None))
            created = e.get("created") if isinstance(e.get("created"), str) else None
            people.append((name, created, rows))
        return people

    def import_json(self, data: Any, *, replace: bool = False) -> dict:
        """Merge people from `data` (see `_parse_import` for the accepted shapes) into the gallery: new
        people are added, existing ones (same name, any case) get the descriptors they lack. With
        ``replace=True`` the gallery is emptied first. One transaction: all or nothing. Returns counts."""
        people = self._parse_import(data)
        added_people = added = skipped = 0
        with self._lock, self._transaction():
            if replace:
                self._db.execute("DELETE FROM descriptors")
                self._db.execute("DELETE FROM people")
            now = _now()
            for name, created, rows in people:
                row = self._db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
                if row is None:
                    pid = self._insert_person(name, created)
                    added_people += 1
                else:
                    pid = row[0]
                a, k = self._add_descriptors(pid, rows, now)
                added += a
                skipped += k
        return {"people": len(people), "added_people": added_people, "added_descriptors": added,
                "skipped_descriptors": skipped}

    def import_file(self, path: str | os.PathLike, *, replace: bool = False) -> dict:
        """`import_json` from a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise GalleryError(f"cannot read {path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise GalleryError(f"{path} is not JSON: {exc}") from exc
        return self.import_json(data, replace=replace)

    # -- matching -----------------------------------------------------------------------------------
    def _version_key(self) -> tuple:
        return (self._db.execute("PRAGMA data_version").fetchone()[0], self._writes)

    def arrays(self) -> tuple[list[str], np.ndarray, list[int]]:
        """``(labels, (N, 128) float32 matrix, counts)``: every descriptor, grouped by person (people without
        descriptors left out). Cached until the gallery changes."""
        with self._lock:
            key = self._version_key()
            if self._matrix_cache is not None and self._matrix_cache[0] == key:
                return self._matrix_cache[1:]
            self._db.execute("BEGIN")
            try:
                people = self._db.execute(
                    "SELECT p.id, p.name, count(d.id) FROM people p JOIN descriptors d ON d.person_id = p.id "
                    "GROUP BY p.id ORDER BY p.id").fetchall()
                blob = b"".join(r[0] for r in self._db.execute(
                    "SELECT d.vector FROM descriptors d ORDER BY d.person_id, d.id"))
            finally:
                self._db.execute("COMMIT")
            matrix = np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(-1, DESCRIPTOR_SIZE)
            labels, counts = [r[1] for r in people], [int(r[2]) for r in people]
            self._matrix_cache = (key, labels, matrix, counts)
            return labels, matrix, counts

    def matcher(self, distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: str = "mean") -> FaceMatcher:
        """A `FaceMatcher` over everyone enrolled (face-api.js semantics; "mean" or "nearest"). Cached: cheap
        to call for every frame; rebuilt after any write (by this or another process)."""
        if strategy not in ("mean", "nearest"):
            raise GalleryError(f"strategy must be 'mean' or 'nearest', got {strategy!r}")
        with self._lock:
            key = self._version_key()
            if key != self._cache_key:
                self._cache.clear()
                self._cache_key = key
            found = self._cache.get((distance_threshold, strategy))
            if found is None:
                labels, matrix, counts = self.arrays()
                found = FaceMatcher.from_arrays(labels, matrix, counts, distance_threshold, strategy)
                self._cache[(distance_threshold, strategy)] = found
            return found


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception); marks the gallery as written."""

    def __init__(self, gallery: Gallery):
        self.g = gallery

    def __enter__(self) -> None:
        self.g._lock.acquire()
        try:
            self.g._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.g._lock.release()
            raise GalleryError(f"gallery {self.g.path} is busy or read-only: {exc}") from exc

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                try:
                    self.g._db.execute("COMMIT")
                except sqlite3.Error as err:
                    self.g._db.execute("ROLLBACK")
                    raise GalleryError(f"gallery {self.g.path}: write failed: {err}") from err
            else:
                self.g._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, GalleryError):
                    raise GalleryError(f"gallery {self.g.path}: write failed: {exc}") from exc
        finally:
            self.g._writes += 1
            self.g._lock.release()
        return False


# -- enrolment from images ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DescribedImage:
    """One enrolment image: its name (for messages), SHA-256 and descriptor."""

    source: str
    sha256: str
    descriptor: np.ndarray


def describe_face(analyzer: Any, image: ImageInput, *, crop: bool = False,
                  detector: DetectorOptions | None = None, label: str | None = None) -> DescribedImage:
    """The descriptor of the one face in `image`.

    Without `crop`, the image must show exactly one face (detector, 68 landmarks, descriptor on the
    dlib-aligned crop, as face-api.js's ``detectSingleFace().withFaceLandmarks().withFaceDescriptor()``),
    else `FaceCountError` (a GalleryError) saying how many faces were found. With ``crop=True`` the image is
    taken to be a face crop already and described whole, as face-api.js's face recognition example does.
    `label` names the image in error messages (default: its path, or a short description).
    """
    from faceapi.options import AnalyzeOptions

    name = label or describe(image)
    pixels = load_image(image, getattr(analyzer, "max_pixels", 40_000_000))
    sha = image_sha256(image, pixels)
    if crop:
        desc = analyzer.net("face_recognition").predict([pixels])[0]
        return DescribedImage(name, sha, np.asarray(desc, dtype=np.float32))
    options = AnalyzeOptions(detector=detector or SsdMobilenetv1Options(), landmarks="full", descriptors=True)
    faces = analyzer.analyze(pixels, options).faces
    if len(faces) != 1:
        if not faces:
            raise FaceCountError(f"{name}: no face found; an enrolment image must show exactly one face "
                                 f"(if it is already a face crop, enrol it with --crop / crop=True)", 0)
        raise FaceCountError(f"{name}: {len(faces)} faces found; an enrolment image must show exactly one face "
                             f"(crop the person out first)", len(faces))
    if faces[0].descriptor is None:
        raise GalleryError(f"{name}: the face is too close to the edge to be described; use a photo with "
                           f"margin around the face")
    return DescribedImage(name, sha, np.asarray(faces[0].descriptor, dtype=np.float32))


def enrol_images(analyzer: Any, gallery: Gallery, name: str, images: Iterable[ImageInput], *, crop: bool = False,
                 detector: DetectorOptions | None = None,
                 progress: Callable[[DescribedImage, int, int], None] | None = None) -> EnrolResult:
    """Describe every image (see `describe_face`), then enrol all the descriptors under `name` in one
    transaction. Nothing is written unless every image is usable.

    Raises:
        GalleryError: an image without exactly one face (saying how many were found), a bad name.
        ImageError: an image that cannot be read.
    """
    clean = check_name(name)
    todo = list(images)
    if not todo:
        raise GalleryError(f"nothing to enrol for {clean!r}: no images given")
    described = []
    for i, image in enumerate(todo):
        d = describe_face(analyzer, image, crop=crop, detector=detector)
        described.append(d)
        if progress:
            progress(d, i, len(todo))
    return gallery.enrol(clean, [d.descriptor for d in described], [d.sha256 for d in described])


__all__ = ["DescribedImage", "EnrolResult", "FaceCountError", "Gallery", "GalleryError", "NameTakenError", "Person",
           "UnknownPersonError", "default_gallery_path", "describe_face", "enrol_images", "image_sha256"]
