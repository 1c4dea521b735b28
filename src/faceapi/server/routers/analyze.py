"""``POST /api/analyze``: one image (raw body or multipart file) -> the engine's JSON or the annotated image."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.server.context import ServerContext, get_ctx
from faceapi.server.params import AnalyzeParams
from faceapi.server.uploads import UPLOAD_OPENAPI, read_upload

router = APIRouter(tags=["analyze"])


def annotated_image(analyzer: FaceAnalyzer, data: bytes, options: AnalyzeOptions, fmt: str,
                    gallery: object) -> bytes:
    """The image with its faces drawn (as `faceapi analyze --annotate`), encoded as JPEG or PNG."""
    from faceapi.draw import annotate
    from faceapi.image import load_image

    image = load_image(data, analyzer.max_pixels)
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
    if params.annotate:
        fmt = "png" if params.format == "png" else "jpeg"
        image = await ctx.run(annotated_image, ctx.analyzer, upload.data, options, fmt, ctx.gallery)
        return Response(image, media_type=f"image/{fmt}")
    result = await ctx.run(ctx.analyzer.analyze, upload.data, options, ctx.gallery)
    return JSONResponse(result.to_dict(descriptors=options.descriptors))
