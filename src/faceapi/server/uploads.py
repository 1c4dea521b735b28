"""The one body reader: a request body read with a size limit and a time limit before anything parses it;
an image sent as the raw body (``image/*`` or ``application/octet-stream``) or as the file of a multipart
form (Starlette's multipart parser, with limits); a JSON body (``application/json``) parsed with bounds on
nesting and numbers. Nothing is written to disk.

Content types are checked because a browser sends ``text/plain``, ``application/x-www-form-urlencoded``
and ``multipart/form-data`` bodies cross-site without asking first (a "simple" request): a JSON route that
accepted ``text/plain`` could be written to by any page. The access middleware refuses cross-site writes
already; this is the second lock.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from faceapi.errors import ImageError, OptionsError
from faceapi.server.errors import RequestTimeout, RequestTooLarge, UnsupportedMediaType

#: Multipart framing (boundaries, part headers, small text fields) may add this much to an upload's body.
MULTIPART_SLACK = 64 * 1024
#: Largest text field of an upload form (a name, a flag) and how many such fields a form may have.
MAX_FORM_FIELD_BYTES = 4096
MAX_FORM_FIELDS = 8
#: Where the size limit of images comes from, for messages.
FRAME_LIMIT_HINT = " (server option --max-frame-bytes)"
#: A body must arrive within this many seconds (a client trickling bytes must not hold a task for ever).
BODY_TIMEOUT_S = 60.0
#: JSON numbers of at most this many characters (a float's repr has at most 24; Python refuses to
#: convert integers of over 4300 digits with a ValueError, and 1e999 parses to infinity).
MAX_JSON_NUMBER_CHARS = 64
#: JSON bodies larger than this are parsed off the event loop (a 64 MB import takes about a second).
PARSE_IN_THREAD_BYTES = 256 * 1024
#: Raw-body image types besides image/* (the OpenAPI document lists them).
IMAGE_BODY_TYPES = ("application/octet-stream",)
UPLOAD_TYPES_HINT = ("send the image with 'Content-Type: image/jpeg' (or another image type, or "
                     "application/octet-stream), or as a multipart/form-data file")

#: OpenAPI description of an upload's body (the routes read it themselves, so FastAPI cannot infer it).
UPLOAD_OPENAPI: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the image (one file)"}}}},
}}}


def json_body_openapi(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """OpenAPI description of a JSON body a route reads itself (with `read_json`)."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


@dataclass(frozen=True)
class Upload:
    """An uploaded image, the text fields of its form (none for a raw body), and a name for messages."""

    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    label: str = "the image"


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lowercased ("" when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int, hint: str = "") -> bytes:
    """The whole body, refusing (by Content-Length, else while reading) anything over `limit` bytes, and a
    body that takes longer than `BODY_TIMEOUT_S` to arrive."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"body is {int(declared)} bytes, over the limit of {limit}{hint}")
    chunks: list[bytes] = []
    size = 0

    async def receive() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"body is over the limit of {limit} bytes{hint}")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    return b"".join(chunks)


def _number(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise OptionsError(f"JSON number {text[:20]}... has {len(text)} characters; at most {MAX_JSON_NUMBER_CHARS}")
    value = float(text)
    if not math.isfinite(value):
        raise OptionsError(f"JSON number {text[:20]!r} is out of range")
    return value


def _integer(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise OptionsError(f"JSON number {text[:20]}... has {len(text)} characters; at most {MAX_JSON_NUMBER_CHARS}")
    return int(text)


def _no_constant(name: str) -> Any:
    raise OptionsError(f"JSON value {name} is not allowed (numbers must be finite)")


def parse_json(data: bytes | str, hint: str = "") -> Any:
    """A JSON text with finite, short numbers; OptionsError (400) for anything else, never a crash: nesting
    deeper than the parser's recursion limit (about 1000 levels) is a RecursionError, answered 400 too."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise OptionsError(f"not valid JSON: not UTF-8 ({exc.reason}){hint}") from None
    try:
        return json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise OptionsError(f"not valid JSON: {exc}{hint}") from None
    except RecursionError:
        raise OptionsError(f"JSON nested too deeply{hint}") from None
    except OptionsError as exc:  # from the number hooks
        raise OptionsError(f"{exc}{hint}") from None
    except ValueError as exc:
        raise OptionsError(f"not valid JSON: {exc}{hint}") from None


async def read_json(request: Request, limit: int, hint: str = "", *, empty: Any = None) -> Any:
    """A JSON body (``Content-Type: application/json``, else 415) read with a size limit before it is
    parsed (`parse_json`). An empty body gives `empty` when that is not None (a body that may be left out)."""
    kind = media_type(request)
    body = await read_body(request, limit)
    if not body.strip() and empty is not None:
        return empty
    if kind != "application/json":
        raise UnsupportedMediaType(f"send the body as JSON with 'Content-Type: application/json' "
                                   f"(got {kind or 'no Content-Type'!r})")
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_json, body, hint)
    return parse_json(body, hint)


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser with files kept in memory up to `spool_max_size` (set to the body limit): an
    upload never rolls over into a temporary file on disk, as `Request.form()` does past 1 MB."""


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The image of a request: the raw body, or the one file of a ``multipart/form-data`` body (with at
    most `MAX_FORM_FIELDS` text fields of `MAX_FORM_FIELD_BYTES` each).

    Raises:
        RequestTooLarge: the body, the image or a form field is over its limit (413).
        ImageError: no image (empty body, a form without a file or with two files, a broken form) (400).
        UnsupportedMediaType: neither an image type, application/octet-stream nor a multipart form (415).
    """
    kind = media_type(request)
    if kind != "multipart/form-data":
        if not (kind.startswith("image/") or kind in IMAGE_BODY_TYPES):
            raise UnsupportedMediaType(f"{UPLOAD_TYPES_HINT} (got {kind or 'no Content-Type'!r})")
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
