"""``/api/people``: the gallery of enrolled people (list, enrol, match, show, rename, remove, export, import).

A person is addressed by id in paths (``/api/people/{id}``), never by name: a person called ``export`` or
``match`` stays reachable. Names go in queries and bodies (``GET /api/people?name=...``).

Every route answers 503 on a server without a gallery. Enrolment and matching describe the one face of an
image in the inference pool, as ``faceapi people add`` does (SSD MobileNetV1 + 68 landmarks + descriptor;
``crop=true`` describes the whole image, a face crop already).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from faceapi.errors import GalleryError, OptionsError
from faceapi.gallery import DescribedImage, UnknownPersonError, check_name, describe_face
from faceapi.liveness import NOT_LIVE
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD
from faceapi.results import FaceMatch
from faceapi.server.context import ServerContext, get_ctx
from faceapi.server.decoding import run_for_client
from faceapi.server.errors import validation_message
from faceapi.server.params import EnrolParams, ImportParams, MatchParams
from faceapi.server.security import require_token
from faceapi.server.uploads import UPLOAD_OPENAPI, Upload, json_body_openapi, read_json, read_upload

#: Largest body of POST /api/people/import (a gallery export) and of PATCH /api/people/{name}.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_RENAME_BYTES = 4096

router = APIRouter(tags=["people"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]
P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


def _with_form_fields(params: P, upload: Upload) -> P:
    """The query's parameters overridden by the upload form's text fields, validated by the same model."""
    if not upload.fields:
        return params
    try:
        return type(params).model_validate({**params.model_dump(exclude_unset=True), **upload.fields})
    except ValidationError as exc:
        raise OptionsError(validation_message(exc.errors())) from None


async def _describe(ctx: ServerContext, request: Request, upload: Upload, crop: bool, require_live: bool = False,
                    liveness: bool = False) -> DescribedImage:
    """The upload decoded by the decode workers and described in the inference pool; abandoned if the client
    leaves first."""
    async def work() -> DescribedImage:
        decoded = await ctx.decoder.decode(upload.data, ctx.analyzer.max_pixels)
        return await ctx.run(lambda: describe_face(ctx.analyzer, upload.data, crop=crop, label=upload.label,
                                                   liveness=liveness, require_live=require_live,
                                                   pixels=decoded.pixels))

    return await run_for_client(request, work())


async def _for_person(person_id: int, fn: Callable[[int], T]) -> T:
    """`fn(person_id)` off the event loop, with the gallery's "no such person" error reduced to the id asked
    for: the library's message names the gallery's location, which a client is not told. An id no database
    row can have (SQLite's and PostgreSQL's ids are signed 64-bit) is nobody, not an overflow."""
    if not 1 <= person_id <= 2**63 - 1:
        raise UnknownPersonError(f"no person with id {person_id}")
    try:
        return await asyncio.to_thread(fn, person_id)
    except UnknownPersonError:
        raise UnknownPersonError(f"no person with id {person_id}") from None


@router.get("/api/people")
async def people_list(ctx: Ctx, name: Annotated[str | None, Query(max_length=400)] = None) -> dict[str, Any]:
    """Everyone in the gallery, by name: id, name, created (ISO 8601 UTC), number of descriptors. ``?name=``:
    only the person of that name (by the gallery's one name rule: any case), an empty list when nobody has
    it. The other routes take the person's id."""
    gallery = ctx.need_gallery()
    if name is not None:
        found = await asyncio.to_thread(lambda: gallery.person(name) if name in gallery else None)
        people = [found] if found is not None else []
    else:
        people = await asyncio.to_thread(gallery.people)
    return {"people": [p.to_dict() for p in people], "count": len(people)}


@router.post("/api/people", status_code=201, openapi_extra=UPLOAD_OPENAPI, responses={
    201: {"description": "the person after enrolment, with how many descriptors were added"},
    400: {"description": "not an image, or a bad option"}, 413: {"description": "body over the size limit"},
    409: {"description": "the name exists (without append=true), or the new sample is farther than the match "
                        "threshold from the person's samples (without force=true)"},
    415: {"description": "neither an image type, application/octet-stream nor a multipart form"},
    422: {"description": "no face or several faces (`faces` says how many), a bad name, or (require_live=true) "
                        "a face judged not live (`liveness` has its score)"},
    503: {"description": "no gallery, or model weights missing"}})
async def people_enrol(request: Request, params: Annotated[EnrolParams, Query()], ctx: Ctx) -> JSONResponse:
    """Enrol the one face of an image under ``name``: the raw body with ``?name=``, or a multipart form with
    a file and ``name`` (field or query). ``crop=true``: the image is a face crop already (described whole,
    no detection). An existing name is refused (409) unless ``append=true``; then the new sample must lie
    within the match threshold (0.6) of one of the person's samples (409 saying the distance otherwise: it
    may be somebody else) unless ``force=true``."""
    gallery = ctx.need_gallery()
    upload = await read_upload(request, ctx.max_frame_bytes)
    params = _with_form_fields(params, upload)
    if params.name is None or not params.name.strip():
        raise GalleryError("give the person's name: ?name=... (or a 'name' form field)")
    name = check_name(params.name)
    described = await _describe(ctx, request, upload, params.crop, require_live=params.require_live)
    max_distance = None if params.force else DEFAULT_DISTANCE_THRESHOLD
    result = await asyncio.to_thread(lambda: gallery.enrol(name, [described.descriptor], [described.sha256],
                                                           append=params.append, max_distance=max_distance))
    return JSONResponse(result.to_dict(), status_code=201)


@router.post("/api/people/match", openapi_extra=UPLOAD_OPENAPI)
async def people_match(request: Request, params: Annotated[MatchParams, Query()], ctx: Ctx) -> dict[str, Any]:
    """Who is the one face of this image? ``{"match": {label, distance}, "distance_threshold", "strategy"}``
    ("unknown" when nobody is within ``distance_threshold``). ``crop=true`` for a face crop.
    ``require_live=true``: a face judged not live is not named (``"not live"``); the answer has ``liveness``."""
    gallery = ctx.need_gallery()
    params.match()  # refuse bad match options before reading the body
    upload = await read_upload(request, ctx.max_frame_bytes)
    params = _with_form_fields(params, upload)
    match_opts = params.match()
    described = await _describe(ctx, request, upload, params.crop, liveness=params.require_live)
    matcher = gallery.matcher(match_opts.distance_threshold, match_opts.strategy)
    match = matcher.match_descriptors(described.descriptor[None, :])[0]
    if described.liveness is not None and not described.liveness.live:
        match = FaceMatch(NOT_LIVE, float("inf"))
    out: dict[str, Any] = {"match": match.to_dict(), "distance_threshold": match_opts.distance_threshold,
                           "strategy": match_opts.strategy}
    if described.liveness is not None:
        out["liveness"] = described.liveness.to_dict()
    return out


@router.get("/api/people/export", responses={
    403: {"description": "the session cookie alone: export needs 'Authorization: Bearer TOKEN'"}})
async def people_export(request: Request, ctx: Ctx) -> JSONResponse:
    """The whole gallery as JSON (the format of ``faceapi people export``; import it elsewhere). Every
    descriptor leaves the server: this needs the token itself (a Bearer header), not the session cookie
    alone (403), so a cookie captured by another local server cannot take the gallery."""
    require_token(request, "exporting the gallery")
    data = await asyncio.to_thread(ctx.need_gallery().export_json)
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="faceapi-gallery.json"'})


_IMPORT_SCHEMA = {
    "description": "a gallery export (`faceapi people export`), or face-api.js's FaceMatcher.toJSON()",
    "type": "object", "properties": {
        "format": {"type": "string", "enum": ["faceapi-gallery"]}, "version": {"type": "integer"},
        "people": {"type": "array", "items": {"type": "object", "required": ["name", "descriptors"], "properties": {
            "name": {"type": "string"},
            "descriptors": {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                                        "minItems": 128, "maxItems": 128}}}}}}}
_RENAME_SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}


@router.post("/api/people/import", openapi_extra=json_body_openapi(_IMPORT_SCHEMA), responses={
    403: {"description": "replace=true with the session cookie alone: it needs 'Authorization: Bearer TOKEN'"},
    413: {"description": "body over 64 MB"}, 415: {"description": "a body that is not application/json"},
    422: {"description": "not a gallery export, or a descriptor out of range"}})
async def people_import(request: Request, params: Annotated[ImportParams, Query()], ctx: Ctx) -> dict[str, Any]:
    """Merge people from a JSON body (a gallery export, or face-api.js's ``FaceMatcher.toJSON()``);
    ``replace=true`` empties the gallery first, and so needs the token itself (a Bearer header; the session
    cookie alone gets 403). All or nothing; answers with counts."""
    gallery = ctx.need_gallery()
    if params.replace:
        require_token(request, "importing with replace=true (it deletes everyone first)")
    counts: dict[str, Any] = await read_json(  # parsed, imported and let go in one worker thread
        request, MAX_IMPORT_BYTES, then=lambda payload: gallery.import_json(payload, replace=params.replace))
    return counts


@router.get("/api/people/{person_id:int}")
async def people_get(person_id: int, ctx: Ctx) -> dict[str, Any]:
    """One person, by id (names are never in paths, so no name can shadow a route); 404 when unknown."""
    person = await _for_person(person_id, ctx.need_gallery().person_by_id)
    return person.to_dict()


@router.delete("/api/people/{person_id:int}")
async def people_remove(person_id: int, ctx: Ctx) -> dict[str, Any]:
    """Remove a person and all their descriptors, by id; answers with who was removed (404 when unknown)."""
    person = await _for_person(person_id, ctx.need_gallery().remove_id)
    return {"removed": person.to_dict()}


@router.patch("/api/people/{person_id:int}", openapi_extra=json_body_openapi(_RENAME_SCHEMA))
async def people_rename(person_id: int, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Rename, by id: body ``{"name": "new name"}``. 404 unknown, 409 when the new name is taken (by the
    gallery's one name rule), 422 a bad name."""
    gallery = ctx.need_gallery()
    payload = await read_json(request, MAX_RENAME_BYTES, '; send {"name": "new name"}')
    if not isinstance(payload, dict) or "name" not in payload:
        raise OptionsError('body must be a JSON object {"name": "new name"}')
    new = payload["name"]
    person = await _for_person(person_id, lambda pid: gallery.rename_id(pid, new))
    return person.to_dict()
