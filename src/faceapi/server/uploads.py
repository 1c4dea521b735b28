"""The one upload reader: a request body read with a size limit, and an image sent as the raw body or as
the file of a multipart form (Starlette's multipart parser, with limits). Nothing is written to disk.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from faceapi.errors import ImageError
from faceapi.server.errors import RequestTooLarge

#: Multipart framing (boundaries, part headers, small text fields) may add this much to an upload's body.
MULTIPART_SLACK = 64 * 1024
#: Largest text field of an upload form (a name, a flag) and how many such fields a form may have.
MAX_FORM_FIELD_BYTES = 4096
MAX_FORM_FIELDS = 8
#: Where the size limit of images comes from, for messages.
FRAME_LIMIT_HINT = " (server option --max-frame-bytes)"

#: OpenAPI description of an upload's body (the routes read it themselves, so FastAPI cannot infer it).
UPLOAD_OPENAPI: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the image (one file)"}}}},
}}}


@dataclass(frozen=True)
class Upload:
    """An uploaded image, the text fields of its form (none for a raw body), and a name for messages."""

    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    label: str = "the image"


async def read_body(request: Request, limit: int, hint: str = "") -> bytes:
    """The whole body, refusing (by Content-Length, else while reading) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"body is {int(declared)} bytes, over the limit of {limit}{hint}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"body is over the limit of {limit} bytes{hint}")
        chunks.append(chunk)
    return b"".join(chunks)


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser with files kept in memory up to `spool_max_size` (set to the body limit): an
    upload never rolls over into a temporary file on disk, as `Request.form()` does past 1 MB."""


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The image of a request: the raw body, or the one file of a ``multipart/form-data`` body (with at
    most `MAX_FORM_FIELDS` text fields of `MAX_FORM_FIELD_BYTES` each).

    Raises:
        RequestTooLarge: the body, the image or a form field is over its limit (413).
        ImageError: no image (empty body, a form without a file or with two files, a broken form) (400).
    """
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/"):
        data = await read_body(request, max_bytes, FRAME_LIMIT_HINT)
        if not data:
            raise ImageError("no image in the request (empty body); send the image bytes or a multipart form "
                             "with a file")
        return Upload(data)
    body = await read_body(request, max_bytes + MULTIPART_SLACK, FRAME_LIMIT_HINT)

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield body

    parser = _InMemoryMultiPartParser(request.headers, chunks(), max_files=1, max_fields=MAX_FORM_FIELDS,
                                      max_part_size=MAX_FORM_FIELD_BYTES)
    parser.spool_max_size = len(body) + 1
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if "exceeded maximum size" in exc.message:  # a text field over MAX_FORM_FIELD_BYTES
            raise RequestTooLarge(f"multipart form: a field is over the limit of {MAX_FORM_FIELD_BYTES} bytes "
                                  f"({exc.message})") from None
        raise ImageError(f"multipart form refused: {exc.message} Send one image as a file field "
                         f"(e.g. 'file').") from None
    try:
        fields: dict[str, str] = {}
        files: list[UploadFile] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append(value)
            else:
                fields[key] = value
        if not files:
            raise ImageError("multipart form has no file; send the image as a file field (e.g. 'file')")
        data = await files[0].read()
        label = files[0].filename or "the image"
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise RequestTooLarge(f"image is {len(data)} bytes, over the limit of {max_bytes}{FRAME_LIMIT_HINT}")
    if not data:
        raise ImageError(f"{label}: the uploaded file is empty")
    return Upload(data, fields, label)
