"""Batch analysis of collections (what `faceapi analyze` runs): inputs expanded into typed jobs, run by one
loop that writes their JSON records (and CSV) and counts them, locally or in a pool of worker processes.

Modules: `inputs` (paths -> items), `jobs` (ImageJob, VideoJob, SkipJob, ErrorJob; `plan_jobs`),
`records` (the record shapes, built only there), `writers` (JSON lines, CSV), `progress` (the progress
bar), `pool` (the local spawn pool), `runner` (`run_jobs`, the one loop; `Tally`), `ray_runner` (the same
jobs on a Ray cluster: `analyze_on_ray`, imported on first use so that Ray stays an optional extra).
"""

from __future__ import annotations

from typing import Any

from faceapi.batch.inputs import IMAGE_SUFFIXES, InputItem, expand_inputs, kind_of
from faceapi.batch.jobs import (
    ErrorJob,
    ImageJob,
    ImageOutcome,
    Job,
    JobContext,
    JobSettings,
    SkipJob,
    VideoJob,
    plan_jobs,
)
from faceapi.batch.pool import ImagePool
from faceapi.batch.progress import ProgressBar
from faceapi.batch.records import Record, error_record, frame_record, image_record, skipped_record
from faceapi.batch.runner import StopBetweenRecords, Tally, run_jobs
from faceapi.batch.writers import CSV_COLUMNS, RecordWriter, csv_rows

__all__ = ["CSV_COLUMNS", "IMAGE_SUFFIXES", "ErrorJob", "ImageJob", "ImageOutcome", "ImagePool", "InputItem", "Job",
           "JobContext", "JobSettings", "ProgressBar", "Record", "RecordWriter", "SkipJob", "StopBetweenRecords",
           "Tally", "VideoJob", "analyze_on_ray", "csv_rows", "error_record", "expand_inputs", "frame_record",
           "image_record", "kind_of", "plan_jobs", "run_jobs", "skipped_record"]


def __getattr__(name: str) -> Any:
    # Lazily, so that importing faceapi.batch never imports Ray (an optional extra).
    if name == "analyze_on_ray":
        from faceapi.batch.ray_runner import analyze_on_ray

        return analyze_on_ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
