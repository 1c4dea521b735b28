"""Arguments shared by the subcommands, declared once so that they read the same everywhere."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from faceapi.options import AnalyzeOptions

MODELS_DIR_HELP = "model folder (default: $FACEAPI_MODELS, else the user cache folder)"

if TYPE_CHECKING:
    from faceapi.engine.runtime import RuntimeConfig


def add_models_dir_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup, *, old_name: str | None = None) -> None:
    """``--models-dir DIR``; `old_name` (e.g. ``--dir``) is accepted too, without being shown in the help."""
    p.add_argument("--models-dir", metavar="DIR", help=MODELS_DIR_HELP)
    if old_name:
        p.add_argument(old_name, dest="models_dir", metavar="DIR", help=argparse.SUPPRESS)


def gallery_help(use: str) -> str:
    """The help of a ``--gallery`` option: what the gallery is used for there and where it is by default."""
    from faceapi.gallery.store import user_gallery_path

    return (f"{use}: a SQLite file, or a PostgreSQL database postgresql://user@host:port/db "
            f"(default: $FACEAPI_GALLERY, else {user_gallery_path()})")


def add_gallery_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup, use: str) -> None:
    """``--gallery FILE|URL``: the people gallery (a SQLite file or a PostgreSQL URL) and what this command
    uses it for."""
    p.add_argument("--gallery", metavar="FILE|URL", help=gallery_help(use))


def add_detector_args(p: argparse.ArgumentParser) -> None:
    """The detector's flags (`add_detector_choice_args`), the models folder and the runtime flags."""
    add_detector_choice_args(p)
    add_models_dir_arg(p)
    add_runtime_args(p)


def add_detector_choice_args(p: argparse.ArgumentParser) -> None:
    """``--detector``, ``--input-size``, ``--min-score``, ``--max-results`` (`analyze_options` reads them)."""
    p.add_argument("--detector", choices=("ssd", "tiny"), default="ssd",
                   help="SSD MobileNetV1 (default, more accurate) or Tiny Face Detector (faster)")
    p.add_argument("--input-size", type=int, default=416, metavar="N",
                   help="tiny detector input size, a multiple of 32 (default 416)")
    p.add_argument("--min-score", type=float, default=0.5, metavar="X", help="minimum detection score (default 0.5)")
    p.add_argument("--max-results", type=int, default=100, metavar="N", help="SSD: at most N faces (default 100)")


def add_runtime_args(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--threads`` and ``--precision``: how the nets run (`runtime_config` reads them back)."""
    p.add_argument("--threads", type=int, default=None, metavar="N", help="onnxruntime threads (default: all cores)")
    p.add_argument("--precision", choices=("float", "int8"), default="float",
                   help="float (default: face-api.js's numbers) or int8: the quantised SSD detector and "
                        "descriptor net (2-4x faster, small documented differences; the other nets stay float)")


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """The `RuntimeConfig` of ``--threads`` and ``--precision``: the one place the CLI builds it. Thread
    pools as the library's (each net's own, spinning briefly; ``$FACEAPI_SHARED_POOL``/``$FACEAPI_SPIN_US``
    change that): measured as fast as the shared pool for one stream and faster for several
    (docs/design-notes.md, "Thread pools")."""
    from faceapi.engine.runtime import RuntimeConfig

    return RuntimeConfig(threads=getattr(args, "threads", None), precision=getattr(args, "precision", "float"))


def add_net_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--landmarks", choices=("full", "tiny"), default=None, help="68 landmarks (full or tiny net)")
    p.add_argument("--expressions", action="store_true", help="expression probabilities")
    p.add_argument("--age-gender", action="store_true", help="age and gender")
    p.add_argument("--descriptors", action="store_true", help="128-d descriptors (need landmarks: full by default)")
    p.add_argument("--all", action="store_true", help="full landmarks, expressions, age/gender, descriptors")
    p.add_argument("--expression-model", default="faceapi", metavar="NAME",
                   help="expression model (`faceapi`, the default: face-api.js's net, its numbers exactly; "
                        "others in docs/accuracy.md)")
    p.add_argument("--calibrated", action="store_true",
                   help="add calibrated expression probabilities (same dominant label; the raw ones stay)")
    p.add_argument("--liveness", action="store_true",
                   help="liveness (MiniFASNet): each face's live-face score and verdict (photos of photos)")
    p.add_argument("--require-live", action="store_true",
                   help="with --recognize: name only live faces ('not live' otherwise); turns --liveness on")


def add_crop_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "the images") -> None:
    """``--crop``: the images are face crops (no detector; every net on the whole image)."""
    p.add_argument("--crop", action="store_true",
                   help=f"{what} are face crops already: no detector, each image is one face and every net sees "
                        f"the whole image (as face-api.js's per-net calls); the detector options are not used")


def analyze_options(args: argparse.Namespace, **overrides: Any) -> AnalyzeOptions:
    d: dict[str, Any] = {"detector": args.detector, "input_size": args.input_size, "min_score": args.min_score,
                         "max_results": args.max_results}
    if getattr(args, "crop", False):
        d["crop"] = True
    if hasattr(args, "landmarks"):
        everything = getattr(args, "all", False)
        d.update(landmarks=args.landmarks or ("full" if everything else None),
                 expressions=args.expressions or everything, age_gender=args.age_gender or everything,
                 descriptors=args.descriptors or everything,
                 expression_model=args.expression_model, calibrated=args.calibrated)
    if hasattr(args, "liveness"):
        d.update(liveness=args.liveness, require_live=getattr(args, "require_live", False))
    d.update(overrides)
    return AnalyzeOptions.from_dict(d)
