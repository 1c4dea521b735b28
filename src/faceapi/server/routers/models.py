"""``GET /api/models`` (every net: available, verified, loaded) and ``POST /api/models/load``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from faceapi.errors import OptionsError
from faceapi.models import MODELS, model_dir
from faceapi.nets import NET_SPECS, net_names
from faceapi.pipeline import FaceAnalyzer
from faceapi.server.context import ServerContext, get_ctx
from faceapi.server.errors import DOWNLOAD_COMMAND
from faceapi.server.stream import stream_options, tracking_settings
from faceapi.server.uploads import json_body_openapi, read_json

#: Largest body of POST /api/models/load.
MAX_LOAD_BODY = 4096

router = APIRouter(tags=["models"])


def _net_entries(ctx: ServerContext, verify: bool) -> list[dict[str, Any]]:
    root = model_dir(ctx.analyzer.models_dir)
    loaded = set(ctx.analyzer.loaded)
    out = []
    for net in NET_SPECS:
        spec = MODELS.get(net.model)
        available = spec is not None and all((root / f).is_file() for f in spec.files)
        entry: dict[str, Any] = {"name": net.name, "label": net.label, "model": net.model, "available": available,
                                 "loaded": net.name in loaded, "verified": None, "problem": None}
        if spec is None:
            entry["problem"] = "no model files registered"
        elif verify:
            st = ctx.verify_cache.check(net.model, root)
            entry["verified"], entry["problem"] = st.verified, st.problem
        elif not available:
            entry["problem"] = "model files missing"
        out.append(entry)
    return out


@router.get("/api/models")
async def models(ctx: Annotated[ServerContext, Depends(get_ctx)],
                 verify: Annotated[bool, Query(description="hash the files (cached by size and mtime)")] = True,
                 ) -> dict[str, Any]:
    """Every net with a human ``label``, whether its model files are ``available`` (present), ``verified``
    (SHA-256 as pinned) and ``loaded``; and the state of the last load request (``load``)."""
    nets = await asyncio.to_thread(_net_entries, ctx, verify)  # hashing reads files: not on the event loop
    missing = [n["name"] for n in nets if not n["available"]]
    # no folder path: a client is not told where the server keeps its files (`faceapi models list` says)
    return {"nets": nets, "loaded": ctx.analyzer.loaded,
            "available": [n["name"] for n in nets if n["available"]],
            "verified": [n["name"] for n in nets if n["verified"]],
            "missing": missing, "download_command": DOWNLOAD_COMMAND if missing else None,
            "load": ctx.loader.snapshot()}


def _nets_to_load(ctx: ServerContext, payload: Any) -> list[str]:
    """The nets a load request names: ``{"nets": [...]}``, ``{"settings": {...}}`` or all (empty body)."""
    if not isinstance(payload, dict):
        raise OptionsError("body must be a JSON object: {\"nets\": [...]} or {\"settings\": {...}}")
    names = list(net_names())
    if "nets" in payload:
        nets = payload["nets"]
        if not isinstance(nets, list) or not all(isinstance(n, str) for n in nets):
            raise OptionsError("'nets' must be a list of net names")
        unknown = [n for n in nets if n not in names]
        if unknown:
            raise OptionsError(f"unknown net(s) {unknown}; known: {names}")
        return nets
    if "settings" in payload:
        settings = payload["settings"]
        if not isinstance(settings, dict):
            raise OptionsError("'settings' must be a JSON object")
        settings = {k: v for k, v in settings.items() if k != "type"}
        tracking_settings(settings)  # a stream's tracking keys need no nets: checked and set aside
        opts = stream_options(settings, ctx.recognition_available)
        return FaceAnalyzer.nets_for(opts)
    return names


_LOAD_SCHEMA = {"type": "object", "properties": {
    "nets": {"type": "array", "items": {"type": "string"}, "description": "net names (GET /api/models)"},
    "settings": {"type": "object", "description": "stream settings: the nets they need"}}}


@router.post("/api/models/load", status_code=202, openapi_extra=json_body_openapi(_LOAD_SCHEMA, required=False),
             responses={
    200: {"description": "loading ended (with wait=true)"},
    400: {"description": "bad body"}, 413: {"description": "body over 4096 bytes"},
    415: {"description": "a body that is not application/json"},
    503: {"description": "loading failed (with wait=true): `error` and the `command` to run"}})
async def models_load(request: Request, ctx: Annotated[ServerContext, Depends(get_ctx)],
                      wait: Annotated[bool, Query(description="answer when loading ends")] = False,
                      ) -> JSONResponse:
    """Load nets: a JSON body ``{"nets": [...]}`` or ``{"settings": {...}}`` (the nets those settings need;
    no body: all). Answers at once (202) with the load state; poll ``GET /api/models`` for progress. A
    request while a load runs joins it. With ``wait=true`` answers when loading ends: 200, or 503 with the
    error and the command to run."""
    nets = _nets_to_load(ctx, await read_json(request, MAX_LOAD_BODY, empty={}))
    job = ctx.loader.start(nets)
    if not wait:
        return JSONResponse(ctx.loader.state_of(job), status_code=202)
    state = await ctx.loader.wait(job)
    return JSONResponse(state, status_code=503 if state["state"] == "error" else 200)
