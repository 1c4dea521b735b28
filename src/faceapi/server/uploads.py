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
import codecs
import json
import math
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable
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
#: `JsonText`). A 64 MB gallery export holds about 23,500 descriptors: 3.0 million numbers, 47,000
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
#: Bytes inside strings, all strings together (names, hashes, dates: about 3 MB in a 64 MB export). A
#: parsed string takes up to 4 bytes a character (one emoji in it is enough), and the parser copies a
#: string in C without letting other threads run: one 64 MB string took 1.4 s and 256 MB.
MAX_JSON_STRING_BYTES = 8 * 1024 * 1024
#: Backslashes (escapes in strings): each is looked at once by `JsonText`'s string scan.
MAX_JSON_ESCAPES = 1_000_000
_HIGH_BYTES = bytes(range(128, 256))
_JSON_ESCAPES = "faceapi-json-escapes"
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


async def read_body(request: Request, limit: int, hint: str = "",
                    sink: Callable[[bytes], Awaitable[None]] | None = None) -> bytes:
    """The whole body, refusing (by Content-Length, else while reading) anything over `limit` bytes, and a
    body that takes longer than `BODY_TIMEOUT_S` to arrive. With `sink`, each chunk goes to `sink` as it
    arrives instead of being kept (the answer is then ``b""``); when `sink` raises OptionsError, the rest of
    the body (within `limit`) is read and dropped, so that the client, still sending, gets the answer."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"body is {int(declared)} bytes, over the limit of {limit}{hint}")
    chunks: list[bytes] = []
    size = 0
    refused: OptionsError | None = None

    async def receive() -> None:
        nonlocal size, refused
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"body is over the limit of {limit} bytes{hint}")
            if sink is None:
                chunks.append(chunk)
            elif refused is None:
                try:
                    await sink(chunk)
                except OptionsError as exc:
                    refused = exc

    try:
        await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    if refused is not None:
        raise refused
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


def _incomplete_tail(data: bytes) -> int:
    """Where a UTF-8 sequence cut off at the end of `data` begins (``len(data)`` when none is)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or the first byte of a sequence
            need = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if need > back else len(data)
    return len(data)


def _json_escapes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the characters ASCII cannot encode, as JSON \\u escapes."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return json.dumps(exc.object[exc.start:exc.end])[1:-1], exc.end


codecs.register_error(_JSON_ESCAPES, _json_escapes)


class JsonText:
    """A JSON text taken in as its bytes arrive (`feed`, a chunk at a time; `text` at the end), bounded as
    it goes: OptionsError (400) as soon as it would make over `MAX_JSON_VALUES` values,
    `MAX_JSON_CONTAINERS` objects and arrays or `MAX_JSON_SCALARS` strings and literals, or holds over
    `MAX_JSON_NON_ASCII_BYTES` of non-ASCII text. Nothing is parsed to know: characters are counted (C speed
    per chunk), and since characters inside strings only raise the counts, they are upper bounds:

    - every value is the document, an array's first element (at most one per ``[``), an element after a
      ``,``, or an object member's key or value (two per ``:``): values <= 1 + ``[`` + ``,`` + 2 ``:``;
    - every object or array starts with its own ``{`` or ``[``;
    - every string has two ``"`` of its own; every literal is its own word ``true``, ``false`` or ``null``
      (counted across chunk borders too, some twice).

    The bytes inside strings are summed exactly (`MAX_JSON_STRING_BYTES`) by a walk over the quotes and
    backslashes, which the counts bound before each chunk is walked.

    So a 64 MB ``[{},{},...]`` (22 million objects, 2 GB once parsed: issue 19) is refused after its first
    600 KB. The text is kept as ASCII str pieces, non-ASCII characters (valid only inside strings) written
    as the JSON \\\\u escapes of the same characters: Python's str takes 1, 2 or 4 bytes a character by the
    widest it holds, and one emoji would make a 64 MB body a 256 MB str. No copy of the whole body as bytes
    is ever made."""

    _WORDS = (b"true", b"false", b"null")

    def __init__(self, hint: str = "") -> None:
        self.hint = hint
        self.size = 0
        self.values = 1
        self.containers = 0
        self.quotes = 0
        self.literals = 0
        self.non_ascii = 0
        self.escapes = 0
        self.string_bytes = 0
        self._in_string = False
        self._skip = 0  # bytes at the start of the next chunk that a backslash escaped
        self._pieces: list[str] = []
        self._tail = b""  # the last bytes of the last chunk (a word across the border)
        self._carry = b""  # a UTF-8 sequence cut by the border

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        count = chunk.count
        self.values += count(b"[") + count(b",") + 2 * count(b":")
        self.containers += count(b"[") + count(b"{")
        self.quotes += count(b'"')
        border = self._tail + chunk[:4]
        self.literals += sum(count(w) + border.count(w) for w in self._WORDS)
        self._tail = chunk[-4:]
        self.escapes += count(b"\\")
        self._check()
        self._scan_strings(chunk)
        if chunk.isascii() and not self._carry:
            self._pieces.append(chunk.decode("ascii"))
        else:
            self.non_ascii += len(chunk) - len(chunk.translate(None, _HIGH_BYTES))
            data = self._carry + chunk
            cut = _incomplete_tail(data)
            self._carry = data[cut:]
            try:
                self._pieces.append(data[:cut].decode("utf-8").encode("ascii", _JSON_ESCAPES).decode("ascii"))
            except UnicodeDecodeError as exc:
                raise OptionsError(f"not valid JSON: not UTF-8 ({exc.reason}){self.hint}") from None
        self._check()

    def _check(self) -> None:
        for what, n, limit in (("values", self.values, MAX_JSON_VALUES),
                               ("objects and arrays", self.containers, MAX_JSON_CONTAINERS),
                               ("strings and literals", self.quotes // 2 + self.literals, MAX_JSON_SCALARS),
                               ("bytes of non-ASCII text", self.non_ascii, MAX_JSON_NON_ASCII_BYTES),
                               ("escapes", self.escapes, MAX_JSON_ESCAPES),
                               ("bytes in strings", self.string_bytes, MAX_JSON_STRING_BYTES)):
            if n > limit:
                raise OptionsError(f"JSON has too many {what} (over {limit:,}){self.hint}")

    def _scan_strings(self, chunk: bytes) -> None:
        """Add the bytes of `chunk` that are inside strings to `string_bytes`: a walk from quote to quote
        (``bytes.find``; an escaping backslash skips the byte after it), the state carried across chunks.
        Its steps are the quotes and backslashes, which the counts bound before each chunk is walked."""
        n, i, start = len(chunk), self._skip, 0
        backslash = chunk.find(b"\\", i)
        while i < n:
            if not self._in_string:
                quote = chunk.find(b'"', i)
                if quote == -1:
                    break
                self._in_string, start, i = True, quote + 1, quote + 1
                continue
            if -1 < backslash < i:
                backslash = chunk.find(b"\\", i)
            quote = chunk.find(b'"', i)
            if backslash != -1 and (quote == -1 or backslash < quote):
                i = backslash + 2  # the escaped byte (maybe a quote) is part of the string
                continue
            if quote == -1:
                break
            self.string_bytes += quote - start
            self._in_string, i = False, quote + 1
        if self._in_string:
            self.string_bytes += n - start
        self._skip = max(0, i - n)

    def text(self) -> str:
        """The whole text (ASCII); OptionsError when it ends inside a UTF-8 sequence."""
        if self._carry:
            raise OptionsError(f"not valid JSON: not UTF-8 (the text ends inside a character){self.hint}")
        text = "".join(self._pieces)
        self._pieces = [text]
        return text

    def parse(self) -> Any:
        """The value of the text: finite, short numbers only; OptionsError (400) for anything else, never a
        crash (nesting deeper than the parser's recursion limit, about 1000 levels, is answered 400 too)."""
        text = self.text()
        self._pieces = []  # the parse below holds the one copy
        try:
            return json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise OptionsError(f"not valid JSON: {exc}{self.hint}") from None
        except RecursionError:
            raise OptionsError(f"JSON nested too deeply{self.hint}") from None
        except OptionsError as exc:  # from the number hooks
            raise OptionsError(f"{exc}{self.hint}") from None
        except ValueError as exc:
            raise OptionsError(f"not valid JSON: {exc}{self.hint}") from None


def parse_json(data: bytes | str, hint: str = "") -> Any:
    """A JSON text (a small body, a WebSocket message) with `JsonText`'s bounds, finite short numbers and
    bounded nesting; OptionsError (400) for anything else. Every JSON the server takes is parsed by `JsonText`."""
    doc = JsonText(hint)
    doc.feed(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return doc.parse()


async def read_json(request: Request, limit: int, hint: str = "", *, empty: Any = None,
                    then: Callable[[Any], Any] | None = None) -> Any:
    """A JSON body (``Content-Type: application/json``, else 415) taken in as it arrives, with a size limit
    and `JsonText`'s bounds checked chunk by chunk (a hostile body is refused before it is all there), then
    parsed off the event loop when large. An empty body gives `empty` when that is not None (a body that
    may be left out). `then(value)`: run in the same worker thread as the parse, its result returned, so a
    large value is made, used and dropped there (freeing 3 million floats holds the GIL too)."""
    kind = media_type(request)
    doc = JsonText(hint)

    async def feed(chunk: bytes) -> None:
        # past the first chunks, in a thread: the event loop answers others while a large body is counted
        if doc.size + len(chunk) > PARSE_IN_THREAD_BYTES:
            await asyncio.to_thread(doc.feed, chunk)
        else:
            doc.feed(chunk)

    body = await read_body(request, limit, sink=feed if kind == "application/json" else None)
    if empty is not None and (doc.size == 0 if kind == "application/json" else not body.strip()):
        return empty
    if kind != "application/json":
        raise UnsupportedMediaType(f"send the body as JSON with 'Content-Type: application/json' "
                                   f"(got {kind or 'no Content-Type'!r})")
    if empty is not None and doc.size <= PARSE_IN_THREAD_BYTES and not doc.text().strip():
        return empty
    if then is not None:
        use = then

        def parse_and_use() -> Any:
            try:
                return use(doc.parse())
            except BaseException as exc:  # drop the value here: the traceback's frames would keep it
                traceback.clear_frames(exc.__traceback__)
                raise

        return await asyncio.to_thread(parse_and_use)
    if doc.size > PARSE_IN_THREAD_BYTES:  # joined and parsed in a thread: the event loop keeps answering
        return await asyncio.to_thread(doc.parse)
    return doc.parse()


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
