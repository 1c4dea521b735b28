"""Arguments shared by the subcommands, declared once so that they read the same everywhere.

The analysis options' flags are made from the option schema (`faceapi.option_schema`): ``--min-score`` from
``min_score``, with its help, default and metavar. A flag left out is not passed on (argparse's default is
None), so the schema's default applies and an option of the other detector is refused only when given.
Values are checked by the schema, with the flag's name in the message.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from faceapi.option_schema import SPECS, THREADS, OptionSpec, flag_label
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


def _help(s: OptionSpec, help: str | None = None) -> str:
    """A flag's help: the schema's (backquotes dropped) and its default."""
    text = (help or s.help).replace("`", "")
    if s.kind == "bool" or s.default is None:
        return text
    return f"{text} (default {s.default})"


def add_option_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, *, flag: str | None = None,
                   help: str | None = None) -> None:
    """The flag of the schema option `name` (``--min-score`` for ``min_score``; `flag` to name it otherwise),
    default None: `analyze_options` passes on only the flags given and checks them by the schema."""
    s = SPECS[name]
    flag = flag or s.flag
    if s.kind == "bool":
        p.add_argument(flag, dest=name, action="store_true", default=None, help=_help(s, help))
    elif s.kind == "choice":  # checked by the schema (not argparse's choices): the refusal REST and the stream give
        p.add_argument(flag, dest=name, default=None, metavar="|".join(s.choices), help=_help(s, help))
    else:
        conv = {"int": int, "float": float, "name": str}[s.kind]
        p.add_argument(flag, dest=name, type=conv, default=None, metavar=s.metavar, help=_help(s, help))


def option_value(args: argparse.Namespace, name: str, flag: str | None = None) -> Any:
    """The value of schema option `name`'s flag, checked by the schema (named `flag`, default its own), or the
    schema's default when not given."""
    s = SPECS[name]
    value = getattr(args, name, None)
    return s.default if value is None else s.check(value, lambda _: flag or s.flag)


def add_detector_choice_args(p: argparse.ArgumentParser) -> None:
    """``--detector``, ``--input-size``, ``--min-score``, ``--max-results`` (`analyze_options` reads them)."""
    for name in ("detector", "input_size", "min_score", "max_results"):
        add_option_arg(p, name)


def add_runtime_args(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--threads`` and ``--precision``: how the nets run (`runtime_config` reads them back)."""
    p.add_argument("--threads", type=int, default=None, metavar=THREADS.metavar, help=THREADS.help)
    p.add_argument("--precision", choices=("float", "int8"), default="float",
                   help="float (default: face-api.js's numbers) or int8: the quantised SSD detector and "
                        "descriptor net (2-4x faster, small documented differences; the other nets stay float)")


def checked_threads(args: argparse.Namespace) -> int | None:
    """``--threads``, checked by the schema (None: not given)."""
    threads = getattr(args, "threads", None)
    return None if threads is None else int(THREADS.check(threads, flag_label))


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """The `RuntimeConfig` of ``--threads`` (checked by the schema) and ``--precision`` for the command's own
    process. ``analyze --workers`` and ``--ray`` run the nets elsewhere: they pass the same two values on,
    and batch/pool.py's worker processes and batch/ray_runner.py's actors build theirs from them. Thread
    pools as the library's (each net's own, spinning briefly; ``$FACEAPI_SHARED_POOL``/``$FACEAPI_SPIN_US``
    change that): measured as fast as the shared pool for one stream and faster for several
    (docs/design-notes.md, "Thread pools")."""
    from faceapi.engine.runtime import RuntimeConfig

    return RuntimeConfig(threads=checked_threads(args), precision=getattr(args, "precision", "float"))


def add_net_args(p: argparse.ArgumentParser) -> None:
    """The nets' flags: ``--landmarks``, ``--expressions``, ``--age-gender``, ``--descriptors``, ``--single``,
    ``--all``, ``--liveness``, ``--require-live``, ``--expression-model``, ``--calibrated``."""
    add_option_arg(p, "landmarks")
    add_option_arg(p, "expressions")
    add_option_arg(p, "age_gender")
    add_option_arg(p, "descriptors")
    add_option_arg(p, "single")
    p.add_argument("--all", action="store_true", help="full landmarks, expressions, age/gender, descriptors")
    add_option_arg(p, "liveness", help="liveness (MiniFASNet): each face's live-face score and verdict (photos "
                                       "of photos)")
    add_option_arg(p, "require_live", help="with --recognize: name only live faces ('not live' otherwise); turns "
                                           "--liveness on")
    add_option_arg(p, "expression_model", help="expression model (faceapi: face-api.js's net; `faceapi eval` "
                                               "and docs/accuracy.md compare them)")
    add_option_arg(p, "calibrated")


def add_crop_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "the images") -> None:
    """``--crop``: the images are face crops (no detector; every net on the whole image)."""
    p.add_argument("--crop", action="store_true",
                   help=f"{what} are face crops already: no detector, each image is one face and every net sees "
                        f"the whole image (as face-api.js's per-net calls); the detector options are not used")


#: The schema options the CLI has flags for (`add_detector_choice_args`, `add_net_args`, `add_crop_arg`);
#: recognition's (`--recognize`, `--distance-threshold`, `--match-strategy`) are the commands' own.
CLI_OPTIONS = ("detector", "input_size", "min_score", "max_results", "landmarks", "expressions", "age_gender",
               "descriptors", "single", "liveness", "require_live", "expression_model", "calibrated", "crop")


def analyze_options(args: argparse.Namespace, **overrides: Any) -> AnalyzeOptions:
    """The `AnalyzeOptions` of the flags given (`CLI_OPTIONS`; `overrides` over them), checked by the option
    schema with the flags' names in the messages."""
    d: dict[str, Any] = {name: getattr(args, name) for name in CLI_OPTIONS if getattr(args, name, None) is not None}
    if d.get("crop") is False:
        del d["crop"]
    if getattr(args, "all", False):
        d.update(landmarks=d.get("landmarks") or "full", expressions=True, age_gender=True, descriptors=True)
    d.update(overrides)
    checked_threads(args)
    return AnalyzeOptions.from_dict(d, label=flag_label)
