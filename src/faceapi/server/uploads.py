"""The one body reader: a request body read with a size limit and a time limit before anything parses it;
an image sent as the raw body (``image/*`` or ``application/octet-stream``) or as the file of a multipart
form (Starlette's multipart parser, with limits); a JSON body (``application/json``) parsed with bounds on
nesting, numbers and the number of values it makes (`parse_json`), off the event loop when it is large.
Nothing is written to disk.

Content types are checked because a browser sends ``text/plain``, ``application/x-www-form-urlencoded``
and ``multipart/form-data`` bodies cross-site without asking first (a "simple" request): a JSON route that
accepted ``text/plain`` could be written to by any page. The access middleware refuses cross-site writes
already; this is the second lock.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
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
#: JSON bodies larger than this are parsed off the event loop (a 64 MB import takes seconds).
PARSE_IN_THREAD_BYTES = 256 * 1024
#: Bounds on what one JSON text may make, checked by counting characters before anything is parsed (see
#: `json_bounds`). A 64 MB gallery export holds about 23,500 descriptors: 3.0 million numbers, 47,000
#: containers (an object and a list per descriptor), 120,000 strings.
MAX_JSON_VALUES = 4_000_000
#: Objects and arrays: the parser makes them in C without letting other threads run (500,000 empty objects
#: took 0.16 s on the 2-core test machine under load), so few enough to keep /api/health under 200 ms.
MAX_JSON_CONTAINERS = 200_000
#: Strings and true/false/null (made in C too; a string costs about 50 bytes).
MAX_JSON_SCALARS = 1_000_000
#: Bytes of non-ASCII text (people's names): rewritten as \u escapes so that the text the parser reads
#: stays one byte a character (one emoji in a 64 MB body would make Python's str 4 bytes a character).
MAX_JSON_NON_ASCII_BYTES = 2 * 1024 * 1024
_HIGH_BYTES = bytes(range(128, 256))
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]+")
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


def json_bounds(data: bytes | str, hint: str = "") -> None:
    """OptionsError (400) unless `data` would make at most `MAX_JSON_VALUES` values, `MAX_JSON_CONTAINERS`
    objects and arrays and `MAX_JSON_SCALARS` strings and literals, proven by counting characters (C speed,
    nothing parsed; characters inside strings only raise the counts, so these are upper bounds):

    - every value is the document, an array's first element (at most one per ``[``), an element after a
      ``,``, or an object member's key or value (two per ``:``): values <= 1 + ``[`` + ``,`` + 2 ``:``;
    - every object or array starts with its own ``{`` or ``[``;
    - every string has two ``"`` of its own; every literal is its own word ``true``, ``false`` or ``null``.

    So ``[{},{},...]`` of 64 MB (22 million objects, 2 GB once parsed) is refused before one is made."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data

    def count(*subs: bytes) -> int:
        return sum(raw.count(sub) for sub in subs)

    values = 1 + count(b"[", b",") + 2 * count(b":")
    containers = count(b"[", b"{")
    scalars = count(b'"') // 2 + count(b"true", b"false", b"null")
    for what, n, limit in (("values", values, MAX_JSON_VALUES),
                           ("objects and arrays", containers, MAX_JSON_CONTAINERS),
                           ("strings and literals", scalars, MAX_JSON_SCALARS)):
        if n > limit:
            raise OptionsError(f"JSON has too many {what} (up to {n:,}; at most {limit:,}){hint}")


def _ascii_text(data: bytes, hint: str) -> str:
    """UTF-8 `data` as a str of ASCII characters: each run of non-ASCII characters (in valid JSON they can
    only be inside strings) becomes the JSON \\u escapes of the same characters. Python's str takes 1, 2 or
    4 bytes a character, by the widest it holds; kept ASCII, a 64 MB body is a 64 MB str."""
    if data.isascii():
        return data.decode("ascii")
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    if high > MAX_JSON_NON_ASCII_BYTES:
        raise OptionsError(f"JSON has {high:,} bytes of non-ASCII text; at most {MAX_JSON_NON_ASCII_BYTES:,}{hint}")
    try:
        escaped = _NON_ASCII_RUN.sub(lambda m: json.dumps(m.group().decode("utf-8"))[1:-1].encode("ascii"), data)
    except UnicodeDecodeError as exc:
        raise OptionsError(f"not valid JSON: not UTF-8 ({exc.reason}){hint}") from None
    return escaped.decode("ascii")


def parse_json(data: bytes | str, hint: str = "") -> Any:
    """A JSON text with finite, short numbers and boundedly many values (`json_bounds`, checked before
    anything is parsed); OptionsError (400) for anything else, never a crash: nesting deeper than the
    parser's recursion limit (about 1000 levels) is a RecursionError, answered 400 too. Every JSON body and
    WebSocket message is parsed here."""
    json_bounds(data, hint)
    text = _ascii_text(data, hint) if isinstance(data, bytes) else data
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
    if len(body) > PARSE_IN_THREAD_BYTES:  # counted and parsed in a thread: the event loop keeps answering
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
