"""The gallery's store interface (`GalleryStore`) and its SQLite implementation (`Gallery`, the default).

Both stores (SQLite here, PostgreSQL in `faceapi.gallery.postgres`) hold the same tables::

    people(id, name, name_key UNIQUE, created, revision)
    descriptors(id, person_id, vector, image_sha256, created)       vector = 128 little-endian float32
    removed(person_id, revision)                                    who was removed, at which change
    gallery_state(version, reset_version)                           the change version

and share every rule, which lives once, in `GalleryStore`: names (`name_key` is the one equality rule,
enforced by the unique key), descriptors checked, the distance check on append, every write one
transaction (all or nothing), the change version. Each write transaction bumps ``gallery_state.version``
first (which also serialises writers), marks the people it touched with that version (``revision``) and
records removals, so a reader that knows version v loads only what changed since (`matcher`). Emptying the
gallery sets ``reset_version``: readers older than it load everything.

SQLite: the schema version is ``PRAGMA user_version`` (``PRAGMA application_id`` marks the file as a faceapi
gallery); writes are ``BEGIN IMMEDIATE`` ... ``COMMIT``, WAL journal, ``synchronous=FULL``: a crash or kill in
the middle leaves the gallery exactly as it was. A new gallery file and its folder are private (0600 /
0700): descriptors are biometric data. A `GalleryStore` is safe to share between threads (one connection
behind a lock) and between processes (a write by another process is noticed by `matcher`).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from faceapi.errors import (
    GalleryError,
    GalleryFullError,
    GalleryStorageError,
    NameTakenError,
    SampleMismatchError,
    UnknownPersonError,
)
from faceapi.gallery import interchange
from faceapi.gallery.interchange import DescriptorRow, now_iso
from faceapi.gallery.validation import (
    DESCRIPTOR_SIZE,
    check_descriptor,
    check_name,
    name_key,
    normalise_name,
    valid_rows,
)
from faceapi.matching import FaceMatcher
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD, MATCH_STRATEGIES

SCHEMA_VERSION = 2
#: ``PRAGMA application_id``: "FAPI".
APPLICATION_ID = 0x46415049
#: Matchers kept per gallery version (one per distance threshold and strategy asked for): a small LRU, so
#: that client-chosen thresholds cannot grow memory.
MATCHER_CACHE_SIZE = 4

_SQLITE_SCHEMA = """
CREATE TABLE people (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL,
    name_key TEXT    NOT NULL,
    created  TEXT    NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX people_name_key ON people(name_key);
CREATE INDEX people_revision ON people(revision);
CREATE TABLE descriptors (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector       BLOB    NOT NULL CHECK (length(vector) = 512),
    image_sha256 TEXT,
    created      TEXT    NOT NULL
);
CREATE INDEX descriptors_person ON descriptors(person_id);
CREATE TABLE removed (person_id INTEGER PRIMARY KEY, revision INTEGER NOT NULL);
CREATE TABLE gallery_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,
                            reset_version INTEGER NOT NULL);
INSERT INTO gallery_state (id, version, reset_version) VALUES (1, 0, 0);
"""

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


def _sort_key(name: str) -> tuple[str, str]:
    """People are listed and exported in this order, the same in every store (databases collate differently)."""
    return name_key(name), name


@dataclass(frozen=True)
class Person:
    """A person in the gallery: id (for paths: names are not), name, creation time (ISO 8601, UTC) and how
    many descriptors they have."""

    id: int
    name: str
    created: str
    descriptors: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created, "descriptors": self.descriptors}


@dataclass(frozen=True)
class EnrolResult:
    """What `GalleryStore.enrol` did: the person afterwards, descriptors added, and exact duplicates skipped."""

    person: Person
    added: int
    skipped: int = 0
    created_person: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.person.to_dict(), "added": self.added, "skipped": self.skipped,
                "created_person": self.created_person}


class _Loaded:
    """What a reader has of the gallery for matching: each person's name and valid descriptors, as of
    `version`, and the arrays built from them (rebuilt when something changed)."""

    def __init__(self) -> None:
        self.version = -1
        self.people: dict[int, tuple[str, np.ndarray]] = {}
        self.arrays: tuple[list[str], np.ndarray, list[int]] | None = None


class GalleryStore(ABC):
    """The gallery interface: enrol, append, rename, remove, list, export/import, the matcher's data and a
    change version, with every rule in one place. Subclasses give the connection and the SQL dialect
    (statements here are written with ``?`` placeholders and SQL both SQLite and PostgreSQL run).

    Attributes:
        location: where the gallery is, for messages (a path, or a database URL without its password).
        poll_interval: `matcher` asks the database whether another connection changed something at most this
            often (seconds; 0: every call). Writes through this object are seen at once whatever it is.
        migration_report: what opening the gallery changed or found when it migrated an older schema
            (name collisions and how they were resolved), empty otherwise; also logged as warnings.
    """

    location: str
    poll_interval: float = 0.0

    def __init__(self, on_row_written: Callable[[], None] | None = None) -> None:
        self._on_row_written = on_row_written
        self._lock = threading.RLock()
        self._writes = 0  # bumped by every write of this object
        self._seen_writes = -1
        self._checked = 0.0
        self._loaded = _Loaded()
        self._matchers: OrderedDict[tuple[float, str], FaceMatcher] = OrderedDict()
        self._matchers_version = -1
        self.migration_report: list[str] = []

    # -- what a store provides ----------------------------------------------------------------------
    @abstractmethod
    def _q(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement (``?`` placeholders); returns a cursor (fetchone, fetchall, iteration)."""

    @abstractmethod
    def _begin(self, write: bool) -> None:
        """Start a transaction: a write one (serialised with other writers) or a read snapshot."""

    @abstractmethod
    def _end(self, commit: bool) -> None:
        """COMMIT (True) or ROLLBACK (False) the transaction."""

    @abstractmethod
    def _db_error(self, exc: BaseException) -> GalleryError | None:
        """The GalleryError a database error means (None: not a database error)."""

    @abstractmethod
    def _is_unique_violation(self, exc: BaseException) -> bool:
        """Whether `exc` is the database refusing a second row with the same unique key."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the stored gallery."""

    # -- plumbing -----------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[int]:
        """One transaction; yields the change version it writes (write) or reads. Any exception rolls back;
        database errors come out as GalleryError."""
        with self._lock:
            try:
                self._begin(write)
            except Exception as exc:
                err = self._db_error(exc)
                if err is None:
                    raise
                raise err from exc
            try:
                if write:
                    version = int(self._q("UPDATE gallery_state SET version = version + 1 RETURNING version")
                                  .fetchone()[0])
                else:
                    version = int(self._q("SELECT version FROM gallery_state").fetchone()[0])
                yield version
            except BaseException as exc:
                with suppress(Exception):  # the connection is gone: the database rolls back itself
                    self._end(False)
                err = self._db_error(exc)
                if err is not None:
                    raise err from exc
                raise
            else:
                try:
                    self._end(True)
                except Exception as exc:
                    with suppress(Exception):
                        self._end(False)
                    err = self._db_error(exc)
                    if err is None:
                        raise
                    raise err from exc
            finally:
                if write:
                    self._writes += 1

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def _report(self, message: str) -> None:
        self.migration_report.append(message)
        log.warning("gallery %s: %s", self.location, message)

    def _person_row(self, name: str) -> tuple[int, str, str]:
        row = self._q("SELECT id, name, created FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
        if row is None:
            known = sorted((str(r[0]) for r in self._q("SELECT name FROM people")), key=_sort_key)
            hint = f"; known: {', '.join(known)}" if known and len(known) <= 20 else (
                f"; {len(known)} people known (see `faceapi people list`)" if known else "; the gallery is empty")
            raise UnknownPersonError(f"no person called {name!r} in gallery {self.location}{hint}")
        return int(row[0]), str(row[1]), str(row[2])

    def _person(self, pid: int) -> Person:
        row = self._q("SELECT id, name, created FROM people WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise UnknownPersonError(f"no person with id {pid} in gallery {self.location}")
        n = self._q("SELECT count(*) FROM descriptors WHERE person_id = ?", (pid,)).fetchone()[0]
        return Person(int(row[0]), str(row[1]), str(row[2]), int(n))

    def _touch(self, pid: int, version: int) -> None:
        self._q("UPDATE people SET revision = ? WHERE id = ?", (version, pid))

    def _insert_person(self, clean: str, version: int, created: str | None = None) -> int:
        key = name_key(clean)
        existing = self._q("SELECT name FROM people WHERE name_key = ?", (key,)).fetchone()
        if existing is not None:
            raise NameTakenError(f"there is already a person called {existing[0]!r}")
        try:
            row = self._q("INSERT INTO people (name, name_key, created, revision) VALUES (?, ?, ?, ?) RETURNING id",
                          (clean, key, created or now_iso(), version)).fetchone()
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise NameTakenError(f"there is already a person called {clean!r}") from exc
            raise
        return int(row[0])

    def _add_descriptors(self, pid: int, rows: Sequence[DescriptorRow], now: str) -> tuple[int, int]:
        """Insert rows for a person inside the caller's transaction, skipping vectors the person already
        has; a row without a creation time gets `now`. Returns (added, skipped)."""
        have = {bytes(r[0]) for r in self._q("SELECT vector FROM descriptors WHERE person_id = ?", (pid,))}
        added = skipped = 0
        for row in rows:
            blob = _blob(row.vector)
            if blob in have:
                skipped += 1
                continue
            have.add(blob)
            self._q("INSERT INTO descriptors (person_id, vector, image_sha256, created) VALUES (?, ?, ?, ?)",
                    (pid, blob, row.image_sha256, row.created or now))
            added += 1
            if self._on_row_written is not None:
                self._on_row_written()
        return added, skipped

    def _delete_everyone(self, version: int) -> None:
        self._q("DELETE FROM descriptors")
        self._q("DELETE FROM people")
        self._q("DELETE FROM removed")
        self._q("UPDATE gallery_state SET reset_version = ?", (version,))

    # -- reading ------------------------------------------------------------------------------------
    @property
    def change_version(self) -> int:
        """The gallery's change version: bumped by every write, by any connection."""
        with self._transaction(write=False) as version:
            return version

    def reachable(self) -> bool:
        """Whether the store answers now (for health checks): a read of the change version succeeds."""
        try:
            _ = self.change_version
        except GalleryError:
            return False
        return True

    def people(self) -> list[Person]:
        """Everyone, by name (the order of `name_key`)."""
        with self._transaction(write=False):
            rows = self._q("SELECT p.id, p.name, p.created, count(d.id) FROM people p LEFT JOIN descriptors d "
                           "ON d.person_id = p.id GROUP BY p.id, p.name, p.created").fetchall()
        people = [Person(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
        return sorted(people, key=lambda p: _sort_key(p.name))

    def person(self, name: str) -> Person:
        """The person called `name` (by `name_key`: any case); UnknownPersonError if there is none."""
        with self._lock:
            return self._person(self._person_row(name)[0])

    def person_by_id(self, pid: int) -> Person:
        """The person with id `pid`; UnknownPersonError if there is none."""
        with self._lock:
            return self._person(pid)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            return self._q("SELECT 1 FROM people WHERE name_key = ?", (name_key(name),)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._q("SELECT count(*) FROM people").fetchone()[0])

    @property
    def num_descriptors(self) -> int:
        with self._lock:
            return int(self._q("SELECT count(*) FROM descriptors").fetchone()[0])

    def descriptors(self, name: str) -> np.ndarray:
        """``(n, 128)`` float32: the person's descriptors, oldest first."""
        with self._lock:
            pid = self._person_row(name)[0]
            vecs = [_vector(bytes(r[0])) for r in
                    self._q("SELECT vector FROM descriptors WHERE person_id = ? ORDER BY id", (pid,))]
        return np.stack(vecs) if vecs else np.zeros((0, DESCRIPTOR_SIZE), np.float32)

    # -- writing (each method is one transaction) ---------------------------------------------------
    def add_person(self, name: str) -> Person:
        """A new person without descriptors (they match nothing until enrolled). NameTakenError if the name
        is taken."""
        clean = check_name(name)
        with self._transaction() as version:
            return self._person(self._insert_person(clean, version))

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
        with self._transaction() as version:
            row = self._q("SELECT id, name FROM people WHERE name_key = ?", (name_key(clean),)).fetchone()
            created_person = row is None
            if row is None:
                if not create:
                    self._person_row(clean)  # raises the unknown-name error
                pid = self._insert_person(clean, version)
            else:
                pid = int(row[0])
                if not append:
                    raise NameTakenError(f"there is already a person called {row[1]!r}; to add these samples to "
                                         f"them, ask to append (API: append=true; CLI: --append)")
                if max_distance is not None:
                    self._check_same_person(pid, str(row[1]), vecs, max_distance)
                self._touch(pid, version)
            added, skipped = self._add_descriptors(pid, [DescriptorRow(v, h) for v, h in zip(vecs, hashes)],
                                                   now_iso())
            return EnrolResult(self._person(pid), added, skipped, created_person)

    def _check_same_person(self, pid: int, name: str, vecs: list[np.ndarray], max_distance: float) -> None:
        """Every new sample lies within `max_distance` of one of the person's valid samples (none: no check)."""
        blobs = [bytes(r[0]) for r in self._q("SELECT vector FROM descriptors WHERE person_id = ?", (pid,))]
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
        with self._lock:
            return self._rename(self._person_row(old)[0], new, old)

    def rename_id(self, pid: int, new: str) -> Person:
        """`rename` of the person with id `pid`."""
        return self._rename(pid, new, None)

    def _rename(self, pid: int, new: str, old: str | None) -> Person:
        clean = check_name(new)
        with self._transaction() as version:
            current = self._person(pid)
            other = self._q("SELECT id, name FROM people WHERE name_key = ?", (name_key(clean),)).fetchone()
            if other is not None and int(other[0]) != pid:
                raise NameTakenError(f"cannot rename {old or current.name!r} to {clean!r}: there is already a "
                                     f"person called {other[1]!r}")
            self._q("UPDATE people SET name = ?, name_key = ?, revision = ? WHERE id = ?",
                    (clean, name_key(clean), version, pid))
            return self._person(pid)

    def remove(self, name: str) -> Person:
        """Remove a person and all their descriptors; returns who was removed. UnknownPersonError if unknown."""
        with self._lock:
            return self.remove_id(self._person_row(name)[0])

    def remove_id(self, pid: int) -> Person:
        """`remove` of the person with id `pid`."""
        with self._transaction() as version:
            person = self._person(pid)
            self._q("DELETE FROM descriptors WHERE person_id = ?", (pid,))
            self._q("DELETE FROM people WHERE id = ?", (pid,))
            self._q("INSERT INTO removed (person_id, revision) VALUES (?, ?) ON CONFLICT (person_id) "
                    "DO UPDATE SET revision = excluded.revision", (pid, version))
            return person

    def clear(self) -> int:
        """Remove everyone; returns how many people were removed."""
        with self._transaction() as version:
            n = self._q("SELECT count(*) FROM people").fetchone()[0]
            self._delete_everyone(version)
            return int(n)

    # -- export / import (formats in faceapi.gallery.interchange) -----------------------------------
    def export_json(self) -> dict[str, Any]:
        """The whole gallery as a JSON-ready dict (the export format of `faceapi.gallery.interchange`), people
        in `people`'s order, each one's descriptors oldest first: the same document from every store."""
        with self._transaction(write=False):
            people = self._q("SELECT id, name, created FROM people").fetchall()
            rows: dict[int, list[dict[str, Any]]] = {int(p[0]): [] for p in people}
            for pid, vector, sha, created in self._q(
                    "SELECT person_id, vector, image_sha256, created FROM descriptors ORDER BY person_id, id"):
                rows[int(pid)].append(interchange.descriptor_entry(_vector(bytes(vector)), sha, created))
        out = [{"name": name, "created": created, "descriptors": rows[int(pid)]}
               for pid, name, created in sorted(people, key=lambda p: _sort_key(str(p[1])))]
        return interchange.export_document(out, SCHEMA_VERSION)

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write `export_json` to a file (atomically, private: 0600); returns how many people were written."""
        data = self.export_json()
        interchange.write_export(path, data)
        return len(data["people"])

    def import_json(self, data: Any, *, replace: bool = False) -> dict[str, int]:
        """Merge people from `data` (any shape `interchange.parse_import` accepts) into the gallery: new
        people are added, existing ones (same `name_key`) get the descriptors they lack. With
        ``replace=True`` the gallery is emptied first. One transaction: all or nothing. Returns counts."""
        people = interchange.parse_import(data, SCHEMA_VERSION)
        added_people = added = skipped = 0
        with self._transaction() as version:
            if replace:
                self._delete_everyone(version)
            now = now_iso()
            for person in people:
                row = self._q("SELECT id FROM people WHERE name_key = ?", (name_key(person.name),)).fetchone()
                if row is None:
                    pid = self._insert_person(person.name, version, person.created)
                    added_people += 1
                else:
                    pid = int(row[0])
                a, k = self._add_descriptors(pid, person.descriptors, now)
                if a:
                    self._touch(pid, version)
                added += a
                skipped += k
        return {"people": len(people), "added_people": added_people, "added_descriptors": added,
                "skipped_descriptors": skipped}

    def import_file(self, path: str | os.PathLike[str], *, replace: bool = False) -> dict[str, int]:
        """`import_json` from a JSON file."""
        return self.import_json(interchange.read_import_file(path), replace=replace)

    # -- matching -----------------------------------------------------------------------------------
    def _load(self, people: Sequence[Any], descriptor_rows: Sequence[Any]) -> dict[int, tuple[str, np.ndarray]]:
        """``{id: (name, valid descriptors)}`` from ``(id, name)`` rows and ``(person_id, vector)`` rows ordered
        by person; rows that are not face descriptors (written by an older faceapi or by hand: NaN, +-3.4e38)
        are left out of matching, so one bad row cannot break every match, and the log says so."""
        out = {int(p[0]): (str(p[1]), np.zeros((0, DESCRIPTOR_SIZE), np.float32)) for p in people}
        if descriptor_rows:
            pids = np.fromiter((int(r[0]) for r in descriptor_rows), dtype=np.int64, count=len(descriptor_rows))
            matrix = np.frombuffer(b"".join(bytes(r[1]) for r in descriptor_rows), dtype="<f4") \
                .astype(np.float32).reshape(-1, DESCRIPTOR_SIZE)
            ok = valid_rows(matrix)
            if not ok.all():
                log.warning("gallery %s: %d stored descriptor(s) of %d person(s) are not face descriptors and are "
                            "left out of matching (remove those people and enrol them again)", self.location,
                            int((~ok).sum()), len(set(pids[~ok].tolist())))
            starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]])
            for a, b in zip(starts, [*starts[1:], len(pids)]):
                pid = int(pids[a])
                if pid in out:
                    out[pid] = (out[pid][0], matrix[a:b][ok[a:b]])
        return out

    def _refresh(self) -> _Loaded:
        """The loaded gallery, brought up to date: everything on the first call or after the gallery was
        emptied, else only the people changed since the version loaded (one read snapshot)."""
        loaded = self._loaded
        now = time.monotonic()
        if (loaded.version >= 0 and self._writes == self._seen_writes
                and now - self._checked < self.poll_interval):
            return loaded
        with self._transaction(write=False) as version:
            self._checked, self._seen_writes = now, self._writes
            if version == loaded.version:
                return loaded
            reset = int(self._q("SELECT reset_version FROM gallery_state").fetchone()[0])
            if loaded.version < 0 or reset > loaded.version:
                people = self._q("SELECT id, name FROM people").fetchall()
                rows = self._q("SELECT person_id, vector FROM descriptors ORDER BY person_id, id").fetchall()
                loaded.people = self._load(people, rows)
            else:
                since = loaded.version
                for (pid,) in self._q("SELECT person_id FROM removed WHERE revision > ?", (since,)).fetchall():
                    loaded.people.pop(int(pid), None)
                people = self._q("SELECT id, name FROM people WHERE revision > ?", (since,)).fetchall()
                rows = self._q("SELECT d.person_id, d.vector FROM descriptors d JOIN people p ON p.id = d.person_id "
                               "WHERE p.revision > ? ORDER BY d.person_id, d.id", (since,)).fetchall()
                loaded.people.update(self._load(people, rows))
            loaded.version = version
            loaded.arrays = None
        return loaded

    def arrays(self) -> tuple[list[str], np.ndarray, list[int]]:
        """``(labels, (N, 128) float32 matrix, counts)``: every valid descriptor, grouped by person in id order
        (people without descriptors left out). Kept until the gallery changes; a change loads only the people
        it touched."""
        with self._lock:
            loaded = self._refresh()
            if loaded.arrays is None:
                people = [loaded.people[pid] for pid in sorted(loaded.people) if len(loaded.people[pid][1])]
                matrix = (np.concatenate([v for _, v in people]) if people
                          else np.zeros((0, DESCRIPTOR_SIZE), np.float32))
                loaded.arrays = ([n for n, _ in people], matrix, [len(v) for _, v in people])
            return loaded.arrays

    def matcher(self, distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: str = "mean") -> FaceMatcher:
        """A `FaceMatcher` over everyone enrolled (face-api.js semantics; "mean" or "nearest"). Cached (a few
        per gallery version): cheap to call for every frame; rebuilt after any write (by this or another
        connection)."""
        if strategy not in MATCH_STRATEGIES:
            raise GalleryError(f"strategy must be 'mean' or 'nearest', got {strategy!r}")
        with self._lock:
            labels, matrix, counts = self.arrays()
            if self._matchers_version != self._loaded.version:
                self._matchers.clear()
                self._matchers_version = self._loaded.version
            # one matcher is built per gallery version; other thresholds and strategies are shallow copies of
            # it sharing its arrays, so what is kept does not grow with the thresholds clients ask for (issue 19)
            key = (DEFAULT_DISTANCE_THRESHOLD, "mean")
            base = self._matchers.get(key)
            if base is None:
                base = FaceMatcher.from_arrays(labels, matrix, counts)
                self._matchers[key] = base
            found = base.matcher(distance_threshold, strategy)
            return found


def _create_schema(db: sqlite3.Connection) -> None:
    """The current schema in an empty database, marked as a faceapi gallery, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for stmt in _SQLITE_SCHEMA.split(";"):
            if stmt.strip():
                db.execute(stmt)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _migrate_1_to_2(store: Gallery, db: sqlite3.Connection) -> None:
    """Version 1 compared names case-insensitively for ASCII only; version 2 has the `name_key` unique key.
    People whose names now collide are never merged: the later one (by id) is renamed ``NAME (2)`` (or the
    next free number) and the report says so. Names today's rule would refuse are kept and reported."""
    db.execute("ALTER TABLE people ADD COLUMN name_key TEXT")
    db.execute("ALTER TABLE people ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    taken: dict[str, str] = {}
    for pid, name in db.execute("SELECT id, name FROM people ORDER BY id").fetchall():
        try:
            check_name(name)
        except GalleryError as exc:
            store._report(f"person {pid} {name!r}: today's name rule would refuse this name ({exc}); rename them")
        key, new = name_key(name), str(name)
        n = 1
        while key in taken:
            n += 1
            new = f"{normalise_name(name)} ({n})"
            key = name_key(new)
        if new != name:
            store._report(f"person {pid} {name!r} is the same name as {taken[name_key(name)]!r} under the one name "
                          f"rule (Unicode case folding); kept apart and renamed {new!r} (rename or merge them "
                          f"yourself: export, edit, import)")
        taken[key] = str(new)
        db.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?", (new, key, pid))
    db.execute("CREATE UNIQUE INDEX people_name_key ON people(name_key)")
    db.execute("CREATE INDEX people_revision ON people(revision)")
    db.execute("CREATE TABLE removed (person_id INTEGER PRIMARY KEY, revision INTEGER NOT NULL)")
    db.execute("CREATE TABLE gallery_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, "
               "reset_version INTEGER NOT NULL)")
    db.execute("INSERT INTO gallery_state (id, version, reset_version) VALUES (1, 0, 0)")


#: Migrations: MIGRATIONS[n] turns a version-n SQLite gallery into version n+1 (run inside one transaction).
MIGRATIONS: dict[int, Callable[[Gallery, sqlite3.Connection], None]] = {1: _migrate_1_to_2}


class Gallery(GalleryStore):
    """The gallery in a SQLite file (the default store).

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
        super().__init__(on_row_written)
        self.path = Path(path) if path is not None else default_gallery_path()
        self.location = str(self.path)
        memory = str(self.path) == ":memory:"
        version = SCHEMA_VERSION
        if not memory:
            if not self.path.exists():
                if not create:
                    raise GalleryError(f"gallery {self.path} does not exist")
                if not self.path.parent.exists():
                    self.path.parent.mkdir(mode=0o700, parents=True)
                self._create_file()
            elif self.path.is_dir():
                raise GalleryError(f"gallery {self.path} is a folder, expected a file")
        try:
            self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise GalleryError(f"cannot open gallery {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 10000")
            if memory:
                _create_schema(self._db)
            else:
                # everything that refuses a file reads only: a file that is not a gallery this faceapi can
                # use is left exactly as it is (bytes, mode, mtime), whatever it holds
                version = self._check_file()
                self._db.execute("PRAGMA journal_mode = WAL")
                self._make_private()
            self._db.execute("PRAGMA synchronous = FULL")
            if not memory:
                self._migrate(version)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._open_error(exc) from exc
        except BaseException:
            self._db.close()
            raise

    def _create_file(self) -> None:
        """A new gallery file appears whole or not at all: made private (0600) under a temporary name in
        its folder, its schema committed and flushed, then linked to its name (a link never replaces a
        file: if another process made the gallery meanwhile, theirs is kept). A kill in between leaves at
        most a stray ``.part`` file, never an empty or half-made gallery, so an existing empty file is
        never ours: it is refused (`_check_file`), not silently turned into a new gallery."""
        try:
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
            os.close(fd)
        except OSError as exc:
            raise self._open_error(exc, creating=True) from exc
        tmp = Path(name)
        try:
            db = sqlite3.connect(name, isolation_level=None)
            try:
                _create_schema(db)
            finally:
                db.close()
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links: a rename, unless the name appeared meanwhile
                if not self.path.exists():
                    os.replace(tmp, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise self._open_error(exc, creating=True) from exc
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{name}-journal").unlink(missing_ok=True)

    def _open_error(self, exc: BaseException, creating: bool = False) -> GalleryError:
        """What opening (or creating) the gallery failed of, for the user: full disk, damage or not a gallery."""
        err = self._db_error(exc)
        if creating:
            if isinstance(err, GalleryFullError) or getattr(exc, "errno", None) == errno.ENOSPC:
                return GalleryFullError(f"cannot create gallery {self.path}: the disk is full ({exc})")
            return GalleryError(f"cannot create gallery {self.path}: {exc}")
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            return GalleryError(f"{self.path} is not a faceapi gallery ({exc}); it is left as it is")
        if isinstance(err, GalleryStorageError) and not isinstance(err, GalleryFullError):
            return GalleryStorageError(f"{err}. It is left as it is")
        return err or GalleryError(f"cannot open gallery {self.path}: {exc}")

    def _check_file(self) -> int:
        """Refuse an existing file that is not a faceapi gallery this version can use -- empty, not SQLite,
        damaged, another application's database, a newer schema -- reading only. Returns its schema version."""
        db = self._db
        if int(db.execute("PRAGMA page_count").fetchone()[0]) == 0:
            raise GalleryError(
                f"gallery {self.path} is an empty file (0 bytes), not a faceapi gallery (faceapi never leaves one: "
                f"a new gallery appears complete). If it held people it was truncated: restore it from a backup "
                f"or import an export into a new gallery; to start an empty gallery, remove the file. It is left "
                f"as it is")
        app = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if app != APPLICATION_ID:
            raise GalleryError(f"{self.path} is an SQLite file but not a faceapi gallery (another application's "
                               f"database?); it is left as it is")
        if version > SCHEMA_VERSION:
            raise GalleryError(f"gallery {self.path} has schema version {version}, written by a newer faceapi; "
                               f"this one reads versions up to {SCHEMA_VERSION}. It is left as it is: use the "
                               f"newer faceapi (its `faceapi people export` can be imported here)")
        problems = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise GalleryStorageError(
                f"gallery {self.path} is damaged (SQLite's check: {'; '.join(problems)}): restore it from a backup, "
                f"or import an export into a new gallery. It is left as it is")
        return version

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

    def _migrate(self, version: int) -> None:
        """Bring an older schema up to `SCHEMA_VERSION`, in one transaction (all or nothing)."""
        db = self._db
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            try:
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](self, db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self.migration_report.clear()
                raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _q(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, tuple(params))

    def _begin(self, write: bool) -> None:
        self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _end(self, commit: bool) -> None:
        self._db.execute("COMMIT" if commit else "ROLLBACK")

    def _db_error(self, exc: BaseException) -> GalleryError | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        code = getattr(exc, "sqlite_errorname", "") or ""
        # ENOSPC on a write is SQLITE_FULL; on the shared-memory index or a journal it may come as an I/O error
        if code.startswith("SQLITE_FULL") or (code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN"))
                                              and self._disk_full()):
            return GalleryFullError(f"gallery {self.path}: the disk is full ({exc}); nothing was written and the "
                                    f"gallery is as it was: free some space and try again")
        if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return GalleryStorageError(f"gallery {self.path} is damaged ({exc}): restore it from a backup, or import "
                                       f"an export into a new gallery")
        if code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
            return GalleryStorageError(f"gallery {self.path}: the storage failed ({exc}); nothing of this change "
                                       f"was written")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY")) or "locked" in str(exc):
            return GalleryError(f"gallery {self.path} is busy or read-only: {exc}")
        return GalleryError(f"gallery {self.path}: {exc}")

    def _disk_full(self) -> bool:
        """Whether the file system holding the gallery has (next to) no room left: under 1 MiB for us (root
        may use the blocks reserved for it)."""
        try:
            st = os.statvfs(self.path.parent)
        except (OSError, AttributeError):  # no statvfs (Windows): say what SQLite said
            return False
        free = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
        return free * st.f_frsize < 1 << 20

    def _is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Gallery:
        return self


def open_gallery(where: str | os.PathLike[str] | None = None, *, create: bool = True) -> GalleryStore:
    """The gallery at `where`: a ``postgresql://`` (or ``postgres://``) URL opens `PostgresGallery`, anything
    else is a SQLite file (`Gallery`; None: ``$FACEAPI_GALLERY``, else `user_gallery_path()`)."""
    if where is None:
        where = os.environ.get("FACEAPI_GALLERY") or None
    if isinstance(where, str) and where.startswith(("postgresql://", "postgres://")):
        from faceapi.gallery.postgres import PostgresGallery

        return PostgresGallery(where, create=create)
    return Gallery(where, create=create)


__all__ = ["APPLICATION_ID", "MATCHER_CACHE_SIZE", "MIGRATIONS", "SCHEMA_VERSION", "EnrolResult", "Gallery",
           "GalleryStore", "Person", "default_gallery_path", "open_gallery", "user_gallery_path"]
