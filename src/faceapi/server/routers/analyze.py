"""``POST /api/analyze``: one image (raw body or multipart file) -> the engine's JSON or the annotated image."""

from __future__ import annotations

import io
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.server.context import ServerContext, get_ctx
from faceapi.server.decoding import run_for_client, with_decode_time
from faceapi.server.params import AnalyzeParams
from faceapi.server.uploads import UPLOAD_OPENAPI, read_upload

router = APIRouter(tags=["analyze"])


def annotated_image(analyzer: FaceAnalyzer, image: np.ndarray, options: AnalyzeOptions, fmt: str,
                    gallery: object) -> bytes:
    """The image (decoded) with its faces drawn (as `faceapi analyze --annotate`), encoded as JPEG or PNG."""
    from faceapi.draw import annotate

    result = analyzer.analyze(image, options, matcher=gallery)  # type: ignore[arg-type]
    out = io.BytesIO()
    im = annotate(image, result)
    if fmt == "png":
        im.save(out, format="PNG")
    else:
        im.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


@router.post("/api/analyze", openapi_extra=UPLOAD_OPENAPI, responses={
    200: {"description": "the engine's JSON, or the annotated image with annotate=true",
          "content": {"application/json": {}, "image/jpeg": {}, "image/png": {}}},
    400: {"description": "not an image, too many pixels, or a bad option"},
    413: {"description": "body over the size limit (--max-frame-bytes)"},
    503: {"description": "model weights missing (`command` says what to run)"}})
async def analyze(request: Request, params: Annotated[AnalyzeParams, Query()],
                  ctx: Annotated[ServerContext, Depends(get_ctx)]) -> Response:
    """Analyse one image: the raw body, or the file of a multipart form. The options are the CLI's
    (`faceapi analyze`); ``recognize=true`` names the faces from the gallery (each face gets ``match``:
    label and distance); ``annotate=true`` answers with the annotated image (``format=jpeg|png``)."""
    options = params.options(ctx.recognition_available)
    upload = await read_upload(request, ctx.max_frame_bytes)

    async def work() -> Response:  # abandoned if the client leaves (decode worker killed, inference dropped)
        decoded = await ctx.decoder.decode(upload.data, ctx.analyzer.max_pixels)
        if params.annotate:
            fmt = "png" if params.format == "png" else "jpeg"
            image = await ctx.run(annotated_image, ctx.analyzer, decoded.pixels, options, fmt, ctx.gallery)
            return Response(image, media_type=f"image/{fmt}")
        result = await ctx.run(ctx.analyzer.analyze, decoded.pixels, options, ctx.gallery)
        return JSONResponse(with_decode_time(result, decoded.ms).to_dict(descriptors=options.descriptors))

    return await run_for_client(request, work())
