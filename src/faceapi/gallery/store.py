"""The gallery's SQLite store: named people and their 128-d face descriptors.

Storage: tables ``people(id, name, created)`` and ``descriptors(id, person_id, vector, image_sha256,
created)`` (vector = 128 little-endian float32, 512 bytes). The schema version is ``PRAGMA user_version``
(and ``PRAGMA application_id`` marks the file as a faceapi gallery). Every write is one transaction
(``BEGIN IMMEDIATE`` ... ``COMMIT``, WAL journal, ``synchronous=FULL``): a crash or kill in the middle leaves
the gallery exactly as it was before the write. Names are unique regardless of case; "unknown" is
reserved (it is what the matcher calls a face that matches nobody). A new gallery file and its folder are
private (0600 / 0700): descriptors are biometric data.

A `Gallery` is safe to share between threads (one connection behind a lock) and between processes (SQLite
locking; a write from another process is noticed by `matcher`, which rebuilds its cached matrix then).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from faceapi.errors import GalleryError, NameTakenError, SampleMismatchError, UnknownPersonError
from faceapi.gallery import interchange
from faceapi.gallery.interchange import DescriptorRow, now_iso
from faceapi.gallery.validation import DESCRIPTOR_SIZE, check_descriptor, check_name, normalise_name, valid_rows
from faceapi.matching import FaceMatcher
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD, MATCH_STRATEGIES

SCHEMA_VERSION = 1
#: ``PRAGMA application_id``: "FAPI".
APPLICATION_ID = 0x46415049

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

_VersionKey = tuple[int, int]
log = logging.getLogger("faceapi.gallery")


def user_gallery_path() -> Path:
    """``gallery.sqlite3`` in the user data folder (platformdirs), where the gallery is by default."""
    import platformdirs

    return Path(platformdirs.user_data_dir("faceapi")) / "gallery.sqlite3"


def default_gallery_path() -> Path:
    """``$FACEAPI_GALLERY``, else `user_gallery_path()`."""
    env = os.environ.get("FACEAPI_GALLERY")
    return Path(env) if env else user_gallery_path()


def _blob(v: np.ndarray) -> bytes:
    return v.astype("<f4").tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class Person:
    """A person in the gallery: name, creation time (ISO 8601, UTC) and how many descriptors they have."""

    id: int
    name: str
    created: str
    descriptors: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created, "descriptors": self.descriptors}


@dataclass(frozen=True)
class EnrolResult:
    """What `Gallery.enrol` did: the person afterwards, descriptors added, and exact duplicates skipped."""

    person: Person
    added: int
    skipped: int = 0
    created_person: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.person.to_dict(), "added": self.added, "skipped": self.skipped,
                "created_person": self.created_person}


class Gallery:
    """A SQLite file of people and their descriptors.

    Args:
        path: the file (default: `default_gallery_path()`); its folder is created. ``":memory:"`` works too.
        create: when False, a missing file is a GalleryError instead of a new empty gallery.
        on_row_written: called after each descriptor row is written inside a transaction, before the
            commit (tests use it to kill a process in the middle of a write; None in normal use).

    Raises:
        GalleryError: the file is not a faceapi gallery, or was written by a newer faceapi.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True,
                 on_row_written: Callable[[], None] | None = None):
        self.path = Path(path) if path is not None else default_gallery_path()
        self._on_row_written = on_row_written
        memory = str(self.path) == ":memory:"
        new_file = False
        if not memory:
            if not self.path.exists():
                if not create:
                    raise GalleryError(f"gallery {self.path} does not exist")
                if not self.path.parent.exists():
                    self.path.parent.mkdir(mode=0o700, parents=True)
                new_file = True
            elif self.path.is_dir():
                raise GalleryError(f"gallery {self.path} is a folder, expected a file")
        self._lock = threading.RLock()
        self._writes = 0  # bumped by every write of this connection (data_version only sees others')
        self._cache: dict[tuple[float, str], FaceMatcher] = {}
        self._cache_key: _VersionKey | None = None
        self._matrix_cache: tuple[_VersionKey, list[str], np.ndarray, list[int]] | None = None
        try:
            if new_file:  # created private before SQLite opens it (it keeps the mode of an existing file)
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise GalleryError(f"cannot open gallery {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 10000")
            if not memory:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._make_private()
            self._db.execute("PRAGMA synchronous = FULL")
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise GalleryError(f"{self.path} is not a faceapi gallery ({exc})") from exc
        except GalleryError:
            self._db.close()
            raise

    def _make_private(self) -> None:
        """The gallery holds biometric data: the file and its -wal/-shm companions 0600 (SQLite makes those
        with the database's mode; a file made by an older faceapi may be 0644), the default folder 0700.
        A folder the user chose is left as it is (it may be their home)."""
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            try:
                if path.exists() and path.stat().st_mode & 0o077:
                    os.chmod(path, 0o600)
            except OSError as exc:  # not ours: say so, do not fail
                log.warning("cannot make %s private (%s)", path, exc)
        folder = self.path.parent
        try:
            if folder == user_gallery_path().parent and folder.stat().st_mode & 0o077:
                os.chmod(folder, 0o700)
        except (OSError, ImportError) as exc:
            log.warning("cannot make %s private (%s)", folder, exc)

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
    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r})"

    def _person_row(self, name: str) -> tuple[int, str, str]:
        row = self._db.execute("SELECT id, name, created FROM people WHERE name = ?",
                               (normalise_name(name),)).fetchone()
        if row is None:
            known = [r[0] for r in self._db.execute("SELECT name FROM people ORDER BY name COLLATE NOCASE")]
            hint = f"; known: {', '.join(known)}" if known and len(known) <= 20 else (
                f"; {len(known)} people known (see `faceapi people list`)" if known else "; the gallery is empty")
            raise UnknownPersonError(f"no person called {name!r} in gallery {self.path}{hint}")
        return int(row[0]), str(row[1]), str(row[2])

    def _person(self, pid: int) -> Person:
        pid, name, created = self._db.execute("SELECT id, name, created FROM people WHERE id = ?", (pid,)).fetchone()
        n = self._db.execute("SELECT count(*) FROM descriptors WHERE person_id = ?", (pid,)).fetchone()[0]
        return Person(pid, name, created, n)

    def _add_descriptors(self, pid: int, rows: Sequence[DescriptorRow], now: str) -> tuple[int, int]:
        """Insert rows for a person inside the caller's transaction, skipping vectors the person already
        has; a row without a creation time gets `now`. Returns (added, skipped)."""
        have = {bytes(r[0]) for r in self._db.execute("SELECT vector FROM descriptors WHERE person_id = ?",
                                                       (pid,))}
        added = skipped = 0
        for row in rows:
            blob = _blob(row.vector)
            if blob in have:
                skipped += 1
                continue
            have.add(blob)
            self._db.execute("INSERT INTO descriptors (person_id, vector, image_sha256, created) VALUES (?, ?, ?, ?)",
                             (pid, blob, row.image_sha256, row.created or now))
            added += 1
            if self._on_row_written is not None:
                self._on_row_written()
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
        """The person called `name` (any case); UnknownPersonError if there is none."""
        with self._lock:
            return self._person(self._person_row(name)[0])

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            return self._db.execute("SELECT 1 FROM people WHERE name = ?",
                                    (normalise_name(name),)).fetchone() is not None

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
        """A new person without descriptors (they match nothing until enrolled). NameTakenError if the name
        is taken."""
        clean = check_name(name)
        with self._lock, self._transaction():
            return self._person(self._insert_person(clean))

    def _insert_person(self, clean: str, created: str | None = None) -> int:
        try:
            cur = self._db.execute("INSERT INTO people (name, created) VALUES (?, ?)", (clean, created or now_iso()))
        except sqlite3.IntegrityError as exc:
            existing = self._db.execute("SELECT name FROM people WHERE name = ?", (clean,)).fetchone()
            raise NameTakenError(f"there is already a person called {existing[0] if existing else clean!r}") from exc
        return int(cur.lastrowid or 0)

    def enrol(self, name: str, descriptors: Sequence[Sequence[float] | np.ndarray] | np.ndarray,
              image_hashes: Sequence[str | None] | None = None, *, create: bool = True, append: bool = True,
              max_distance: float | None = None) -> EnrolResult:
        """Add descriptors to `name` (created when missing, unless ``create=False``), all in one transaction.
        A descriptor identical to one the person already has is skipped.

        Args:
            descriptors: 128-d face descriptors (`check_descriptor`: finite, in the range real ones occupy).
            image_hashes: the SHA-256 of each descriptor's source image (or None), same length.
            append: an existing person may get more samples; False refuses an existing name
                (NameTakenError: the CLI and the server ask for ``--append`` / ``append=true``, so that a name
                typed again by mistake does not add to someone else).
            max_distance: refuse (SampleMismatchError) a new sample of an existing person that is farther
                than this from every one of their samples: it may be somebody else. None: no check (the
                CLI and the server pass the match threshold unless forced).
        """
        clean = check_name(name)
        vecs = [check_descriptor(d, f"descriptor {i + 1} for {clean!r}") for i, d in enumerate(descriptors)]
        if not vecs:
            raise GalleryError(f"nothing to enrol for {clean!r}: no descriptors given")
        hashes = list(image_hashes) if image_hashes is not None else [None] * len(vecs)
        if len(hashes) != len(vecs):
            raise GalleryError(f"enrol {clean!r}: {len(vecs)} descriptors but {len(hashes)} image hashes")
        with self._lock, self._transaction():
            row = self._db.execute("SELECT id, name FROM people WHERE name = ?", (clean,)).fetchone()
            created_person = row is None
            if row is None:
                if not create:
                    self._person_row(clean)  # raises the unknown-name error
                pid = self._insert_person(clean)
            else:
                pid = int(row[0])
                if not append:
                    raise NameTakenError(f"there is already a person called {row[1]!r}; to add these samples to "
                                         f"them, ask to append (API: append=true; CLI: --append)")
                if max_distance is not None:
                    self._check_same_person(pid, str(row[1]), vecs, max_distance)
            added, skipped = self._add_descriptors(pid, [DescriptorRow(v, h) for v, h in zip(vecs, hashes)],
                                                   now_iso())
            return EnrolResult(self._person(pid), added, skipped, created_person)

    def _check_same_person(self, pid: int, name: str, vecs: list[np.ndarray], max_distance: float) -> None:
        """Every new sample lies within `max_distance` of one of the person's valid samples (none: no check)."""
        blobs = [r[0] for r in self._db.execute("SELECT vector FROM descriptors WHERE person_id = ?", (pid,))]
        if not blobs:
            return
        known = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float64).reshape(-1, DESCRIPTOR_SIZE)
        known = known[valid_rows(known)]
        if not len(known):
            return
        for i, v in enumerate(vecs):
            nearest = float(np.sqrt(((known - v.astype(np.float64)) ** 2).sum(axis=1)).min())
            if nearest > max_distance:
                which = f"sample {i + 1}" if len(vecs) > 1 else "the new sample"
                raise SampleMismatchError(
                    f"{which} is {nearest:.2f} from the nearest of the {len(known)} sample(s) of {name!r}, beyond the "
                    f"match threshold {max_distance:g}: it may be somebody else (a typo in the name?). Enrol them "
                    f"under their own name, or add it anyway (API: force=true; CLI: --force)")

    def rename(self, old: str, new: str) -> Person:
        """Rename a person (a change of case only is allowed). UnknownPersonError if `old` is unknown,
        NameTakenError if `new` is taken by someone else."""
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
        """Remove a person and all their descriptors; returns who was removed. UnknownPersonError if unknown."""
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

    # -- export / import (formats in faceapi.gallery.interchange) -----------------------------------
    def export_json(self) -> dict[str, Any]:
        """The whole gallery as a JSON-ready dict (the export format of `faceapi.gallery.interchange`)."""
        with self._lock:
            self._db.execute("BEGIN")  # one consistent snapshot
            try:
                people = self._db.execute("SELECT id, name, created FROM people ORDER BY name COLLATE NOCASE")
                out = []
                for pid, name, created in people.fetchall():
                    rows = self._db.execute("SELECT vector, image_sha256, created FROM descriptors "
                                            "WHERE person_id = ? ORDER BY id", (pid,))
                    out.append({"name": name, "created": created, "descriptors": [
                        interchange.descriptor_entry(_vector(v), h, c) for v, h, c in rows]})
            finally:
                self._db.execute("COMMIT")
        return interchange.export_document(out, SCHEMA_VERSION)

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write `export_json` to a file (atomically, private: 0600); returns how many people were written."""
        data = self.export_json()
        interchange.write_export(path, data)
        return len(data["people"])

    def import_json(self, data: Any, *, replace: bool = False) -> dict[str, int]:
        """Merge people from `data` (any shape `interchange.parse_import` accepts) into the gallery: new
        people are added, existing ones (same name, any case) get the descriptors they lack. With
        ``replace=True`` the gallery is emptied first. One transaction: all or nothing. Returns counts."""
        people = interchange.parse_import(data, SCHEMA_VERSION)
        added_people = added = skipped = 0
        with self._lock, self._transaction():
            if replace:
                self._db.execute("DELETE FROM descriptors")
                self._db.execute("DELETE FROM people")
            now = now_iso()
            for person in people:
                row = self._db.execute("SELECT id FROM people WHERE name = ?", (person.name,)).fetchone()
                if row is None:
                    pid = self._insert_person(person.name, person.created)
                    added_people += 1
                else:
                    pid = int(row[0])
                a, k = self._add_descriptors(pid, person.descriptors, now)
                added += a
                skipped += k
        return {"people": len(people), "added_people": added_people, "added_descriptors": added,
                "skipped_descriptors": skipped}

    def import_file(self, path: str | os.PathLike[str], *, replace: bool = False) -> dict[str, int]:
        """`import_json` from a JSON file."""
        return self.import_json(interchange.read_import_file(path), replace=replace)

    # -- matching -----------------------------------------------------------------------------------
    def _version_key(self) -> _VersionKey:
        return (int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._writes)

    def arrays(self) -> tuple[list[str], np.ndarray, list[int]]:
        """``(labels, (N, 128) float32 matrix, counts)``: every descriptor, grouped by person (people without
        descriptors left out). Cached until the gallery changes."""
        with self._lock:
            key = self._version_key()
            if self._matrix_cache is not None and self._matrix_cache[0] == key:
                _, labels, matrix, counts = self._matrix_cache
                return labels, matrix, counts
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
            labels, matrix, counts = self._without_invalid_rows(labels, matrix, counts)
            self._matrix_cache = (key, labels, matrix, counts)
            return labels, matrix, counts

    def _without_invalid_rows(self, labels: list[str], matrix: np.ndarray, counts: list[int]
                              ) -> tuple[list[str], np.ndarray, list[int]]:
        """Leave stored rows that are not face descriptors (written by an older faceapi or by hand: NaN,
        +-3.4e38, ...) out of matching, so one bad row cannot break every match; say so in the log."""
        ok = valid_rows(matrix)
        if ok.all():
            return labels, matrix, counts
        bounds = np.cumsum([0, *counts])
        kept = [(label, int(ok[a:b].sum())) for label, a, b in zip(labels, bounds[:-1], bounds[1:])]
        bad_people = sum(1 for (_, n), c in zip(kept, counts) if n < c)
        log.warning("gallery %s: %d stored descriptor(s) of %d person(s) are not face descriptors and are left out "
                    "of matching (remove those people and enrol them again)", self.path, int((~ok).sum()), bad_people)
        return ([label for label, n in kept if n], np.ascontiguousarray(matrix[ok]), [n for _, n in kept if n])

    def matcher(self, distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: str = "mean") -> FaceMatcher:
        """A `FaceMatcher` over everyone enrolled (face-api.js semantics; "mean" or "nearest"). Cached: cheap
        to call for every frame; rebuilt after any write (by this or another process)."""
        if strategy not in MATCH_STRATEGIES:
            raise GalleryError(f"strategy must be 'mean' or 'nearest', got {strategy!r}")
        with self._lock:
            key = self._version_key()
            if key != self._cache_key:
                self._cache.clear()
                self._cache_key = key
            # one matcher is kept; other thresholds and strategies are shallow copies of it, so what is kept
            # does not grow with the thresholds clients ask for (issue 19: 300 thresholds held 393 MB)
            found = self._cache.get((DEFAULT_DISTANCE_THRESHOLD, "mean"))
            if found is None:
                labels, matrix, counts = self.arrays()
                found = FaceMatcher.from_arrays(labels, matrix, counts)
                self._cache[(DEFAULT_DISTANCE_THRESHOLD, "mean")] = found
            return found.matcher(distance_threshold, strategy)


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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                try:
                    self.g._db.execute("COMMIT")
                except sqlite3.Error as err:
                    self.g._db.execute("ROLLBACK")
                    raise GalleryError(f"gallery {self.g.path}: write failed: {err}") from err
            else:
                self.g._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise GalleryError(f"gallery {self.g.path}: write failed: {exc}") from exc
        finally:
            self.g._writes += 1
            self.g._lock.release()


__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "EnrolResult", "Gallery", "Person",
           "default_gallery_path", "user_gallery_path"]
