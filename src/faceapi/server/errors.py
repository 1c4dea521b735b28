"""The one table from errors to HTTP answers. Every route raises; nothing else maps an error to a status.

`ERROR_STATUS` maps each `FaceApiError` subclass to its HTTP status (the most specific class listed in an
exception's MRO wins); the body is always ``{"error": message}``, plus ``faces`` for `FaceCountError`,
``command`` for a `ModelError` (what to run to fetch the weights) and ``conflict`` for a 409
(``name_taken`` or ``sample_mismatch``: what the page asks the person about). The WebSocket sends the same body
(`error_payload`) inside its ``{"type": "error"}`` messages. Request validation errors (FastAPI's, for
declared parameters) answer 400 with a message naming the parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceapi.errors import (
    EvaluationError,
    FaceApiError,
    FaceCountError,
    GalleryError,
    GalleryFullError,
    GalleryStorageError,
    GalleryUnreachableError,
    ImageError,
    ModelError,
    ModelNotFoundError,
    NameTakenError,
    NotLiveError,
    OptionsError,
    SampleMismatchError,
    UnknownPersonError,
    VideoError,
)
from faceapi.option_schema import SPECS

log = logging.getLogger("faceapi.server")

#: What a user runs when weights are missing or corrupt (sent with every ModelError).
DOWNLOAD_COMMAND = "faceapi models download"


class RequestTooLarge(FaceApiError):
    """A request body, an uploaded image or a form part over its limit (answered 413)."""


class UnsupportedMediaType(FaceApiError):
    """A body of a Content-Type the route does not take (answered 415): JSON routes take application/json,
    uploads an image type, application/octet-stream or a multipart form."""


class RequestTimeout(FaceApiError):
    """A request body that did not arrive in time (answered 408)."""


class NotOnTheLan(FaceApiError):
    """``GET /api/phone`` on a server not started with ``--lan`` (answered 404)."""


class ClientGone(FaceApiError):  # noqa: N818 - a state of the request, not a fault
    """The client closed its connection before its answer was ready; its work was abandoned (answered 499,
    nginx's "client closed request", which nobody receives: for the access log)."""


class TokenRequired(FaceApiError):
    """An operation that the session cookie alone may not do (export of descriptors, import with replace):
    it needs ``Authorization: Bearer TOKEN`` (answered 403)."""


class GalleryUnavailable(FaceApiError):
    """The server runs without a gallery (``--no-gallery``) and the request needs one (answered 503)."""

    def __init__(self, message: str = "this server has no gallery of people (it was started with --no-gallery)"):
        super().__init__(message)


#: Each error class -> HTTP status. Order does not matter: an exception takes the entry of the first class
#: of its MRO that is listed, so a subclass may refine its base's status.
ERROR_STATUS: dict[type[FaceApiError], int] = {
    FaceApiError: 500,  # a project error no entry below covers: a server bug to map, shown with its message
    ImageError: 400,
    OptionsError: 400,
    RequestTooLarge: 413,
    UnsupportedMediaType: 415,
    RequestTimeout: 408,
    ClientGone: 499,
    ModelError: 503,
    ModelNotFoundError: 503,
    GalleryUnavailable: 503,
    NotOnTheLan: 404,
    TokenRequired: 403,
    GalleryError: 422,
    UnknownPersonError: 404,
    NameTakenError: 409,
    GalleryUnreachableError: 503,
    GalleryStorageError: 503,  # an I/O error or a damaged file under the server: nothing written
    GalleryFullError: 507,  # Insufficient Storage: the disk is full; the write was rolled back whole
    SampleMismatchError: 409,
    NotLiveError: 422,  # a face judged a photo is not enrolled (the message says its score)
    EvaluationError: 400,  # `faceapi eval`'s data errors (no route raises them today)
    FaceCountError: 422,
    VideoError: 422,
}


def status_of(exc: FaceApiError) -> int:
    """The HTTP status of a project error (from `ERROR_STATUS`)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500  # not reached: FaceApiError is in the table


def error_payload(exc: FaceApiError) -> dict[str, Any]:
    """The JSON body of a project error: ``{"error": message}`` and what helps the client act on it."""
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, FaceCountError):
        body["faces"] = exc.faces
    if isinstance(exc, SampleMismatchError):  # for the page: offer "add anyway" (force=true)
        body["conflict"] = "sample_mismatch"
    elif isinstance(exc, NameTakenError):  # for the page: ask before adding to that person (append=true)
        body["conflict"] = "name_taken"
    if isinstance(exc, ModelError):
        body["command"] = DOWNLOAD_COMMAND
    if isinstance(exc, NotLiveError):  # the score that refused the enrolment
        body["liveness"] = exc.liveness.to_dict()
    return body


def error_response(exc: FaceApiError) -> JSONResponse:
    return JSONResponse(error_payload(exc), status_code=status_of(exc))


#: What each analysis option must be, said whole when one is refused (pydantic names one broken constraint;
#: a user needs all of them, e.g. both the step and the range of input_size): the option schema's rules.
RULES = {name: s.rule for name, s in SPECS.items()}


def validation_message(errors: Sequence[Any]) -> str:
    """One line naming each refused parameter (``option 'min_score' ...``) or the unknown ones, from
    pydantic's (or FastAPI's) error list."""
    unknown: list[str] = []
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        name = ".".join(loc) or "request"
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            unknown.append(name)
        elif name in RULES:
            parts.append(f"option {name!r} {RULES[name]}, got {err.get('input')!r}")
        elif kind in ("bool_parsing", "bool_type"):
            parts.append(f"option {name!r} must be true or false, got {err.get('input')!r}")
        elif kind == "missing":
            parts.append(f"option {name!r} is required")
        else:
            msg = str(err.get("msg", "invalid")).replace("Input should", "should")
            parts.append(f"option {name!r} {msg}, got {err.get('input')!r}")
    if unknown:
        parts.insert(0, f"unknown option(s) {sorted(unknown)} (the options are listed at /docs)")
    return "; ".join(parts) or "invalid request"


async def _on_project_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FaceApiError)
    if isinstance(exc, (ModelError, GalleryStorageError)):  # the operator must act (fetch weights, free disk)
        log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc)
    elif status_of(exc) >= 500 and not isinstance(exc, (GalleryUnavailable, GalleryUnreachableError)):
        log.error("unmapped %s on %s: %s", type(exc).__name__, request.url.path, exc)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"error": validation_message(exc.errors())}, status_code=400)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal error (see the server log)"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Every error answer of the app comes from here, as ``{"error": ...}``."""
    app.add_exception_handler(FaceApiError, _on_project_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
