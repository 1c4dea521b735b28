"""Writing records: JSON lines (a stream or a file) and CSV, each record as whole lines, flushed.

CSV: one row per face of an ok record; one row with empty face columns for an ok record without faces
(so "no face" differs from "not processed"); one row per failed or skipped input, with its reason in
``error``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from typing import IO, Any

from faceapi.batch.records import Record
from faceapi.errors import OptionsError
from faceapi.fileio import PRIVATE, PUBLIC, create_text
from faceapi.results import EXPRESSION_LABELS

CSV_COLUMNS = ["source", "status", "frame", "time", "face", "track", "x", "y", "width", "height", "score",
               "dominant", *EXPRESSION_LABELS, "age", "gender", "gender_probability", "person", "distance", "error"]


#: A CSV cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd|..., @SUM): a
#: file name or a person's name could run one when the CSV is opened. Such cells get a leading apostrophe,
#: which spreadsheets show as text (OWASP "CSV injection"). Numbers are written by us, never escaped.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v: Any) -> str:
    """A CSV cell: numbers as written, None empty, text escaped when a spreadsheet would run it (`FORMULA_STARTS`)."""
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    text = str(v)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(record: Record) -> list[list[str]]:
    """The CSV rows of one record (see the module docstring)."""
    base = {"source": record.get("source"), "status": record.get("status"), "frame": record.get("frame"),
            "time": record.get("time")}
    if record.get("status") != "ok":
        row = dict(base, error=record.get("error") or record.get("reason"))
        return [[csv_cell(row.get(c)) for c in CSV_COLUMNS]]
    faces = record.get("faces", [])
    if not faces:
        return [[csv_cell(base.get(c)) for c in CSV_COLUMNS]]
    rows = []
    for i, f in enumerate(faces):
        row = dict(base, face=i, track=f.get("track"), score=f.get("score"), age=f.get("age"),
                   gender=f.get("gender"), gender_probability=f.get("gender_probability"), **f["box"])
        if f.get("match"):
            row.update(person=f["match"]["label"], distance=f["match"]["distance"])
        expr = f.get("expressions")
        if expr:
            row["dominant"] = expr["dominant"]
            row.update(expr["probabilities"])
        rows.append([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return rows


class RecordWriter:
    """JSON lines (a stream or a file) and/or CSV; every record is written as whole lines and flushed."""

    def __init__(self, jsonl: IO[str] | None = None, csv_file: IO[str] | None = None):
        self.jsonl = jsonl
        self.csv_file = csv_file
        if csv_file is not None:
            self._write_csv_row(csv_file, CSV_COLUMNS)

    @classmethod
    def open(cls, out: str | None, csv_path: str | None, *, private: bool = False) -> RecordWriter:
        """JSON lines to `out` ("-" or, without `out` and `csv_path`, stdout) and CSV to `csv_path` ("-":
        stdout, as for every output flag of the CLI; not both on stdout). `private`: the files hold
        biometric data (descriptors) and are created 0600."""
        if out == "-" and csv_path == "-":
            raise OptionsError("--out - and --csv - both name stdout: give one of them a file")
        mode = PRIVATE if private else PUBLIC
        jsonl: IO[str] | None = None
        if out == "-" or (out is None and csv_path is None):
            jsonl = sys.stdout
        elif out:
            jsonl = create_text(out, mode)
        csv_file = None
        if csv_path == "-":
            csv_file = sys.stdout
        elif csv_path:
            try:
                csv_file = create_text(csv_path, mode)
            except BaseException:
                if jsonl is not None and jsonl is not sys.stdout:
                    jsonl.close()
                raise
        return cls(jsonl, csv_file)

    @staticmethod
    def _write_csv_row(f: IO[str], row: list[str]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        f.write(buf.getvalue())

    def write(self, record: Record) -> None:
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(record) + "\n")
            self.jsonl.flush()
        if self.csv_file is not None:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerows(csv_rows(record))
            self.csv_file.write(buf.getvalue())  # one write call per record: its rows all or none
            self.csv_file.flush()

    def close(self) -> None:
        for f in (self.jsonl, self.csv_file):
            if f is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                f.flush()
            if f is not sys.stdout:
                f.close()


__all__ = ["CSV_COLUMNS", "FORMULA_STARTS", "RecordWriter", "csv_cell", "csv_rows"]
