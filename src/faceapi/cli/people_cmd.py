"""`faceapi people add|list|rename|remove|export|import`: the gallery of known people.

Results go to stdout (JSON lines, or a table for `list`), messages to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from faceapi.cli.common import add_detector_args, add_gallery_arg, analyze_options, runtime_config
from faceapi.errors import GalleryError
from faceapi.gallery import GalleryStore, enrol_images, open_gallery
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD

GALLERY_USE = "the people gallery, created when missing"
EXISTING_GALLERY_USE = "the people gallery, which must exist"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("people", help="enrol, list, rename, remove, export and import known people")
    psub = p.add_subparsers(dest="people_command", metavar="ACTION", required=True)

    a = psub.add_parser("add", help="enrol a person from images that each show exactly one face")
    a.add_argument("name", metavar="NAME", help="the person's name (new; an existing one needs --append)")
    a.add_argument("images", nargs="+", metavar="IMAGE", help="photos of the person, each showing only them")
    a.add_argument("--crop", action="store_true",
                   help="the images are face crops already: describe each whole image (no detection)")
    a.add_argument("--append", action="store_true",
                   help="NAME exists already: add these images as more samples of that person (without it an "
                        "existing name is refused, so that a name typed again by mistake adds to nobody)")
    a.add_argument("--force", action="store_true",
                   help="with --append: add a sample even when it is farther than the match threshold (0.6) "
                        "from all of the person's samples (normally refused: it may be somebody else)")
    a.add_argument("--require-live", action="store_true",
                   help="enrol only live faces: an image whose face is judged a photo (liveness, MiniFASNet) "
                        "is refused with its score, and nothing is enrolled")
    add_gallery_arg(a, GALLERY_USE)
    add_detector_args(a)
    a.set_defaults(func=_add)

    ls = psub.add_parser("list", help="everyone in the gallery, with their number of descriptors")
    ls.add_argument("--json", action="store_true", help="one JSON object per person")
    add_gallery_arg(ls, GALLERY_USE)
    ls.set_defaults(func=_list)

    r = psub.add_parser("rename", help="rename a person")
    r.add_argument("old", metavar="OLD", help="the person's name now (any case)")
    r.add_argument("new", metavar="NEW", help="their new name")
    add_gallery_arg(r, EXISTING_GALLERY_USE)
    r.set_defaults(func=_rename)

    rm = psub.add_parser("remove", aliases=["rm"], help="remove people and their descriptors")
    rm.add_argument("names", nargs="+", metavar="NAME", help="who to remove (nobody is removed if one is unknown)")
    add_gallery_arg(rm, EXISTING_GALLERY_USE)
    rm.set_defaults(func=_remove)

    ex = psub.add_parser("export", help="write the gallery as JSON (FILE, or - for stdout)")
    ex.add_argument("file", metavar="FILE", help="the JSON file to write (private: 0600), or - for stdout")
    add_gallery_arg(ex, EXISTING_GALLERY_USE)
    ex.set_defaults(func=_export)

    im = psub.add_parser("import", help="merge people from a JSON export (or a face-api.js FaceMatcher JSON)")
    im.add_argument("file", metavar="FILE",
                    help="a `faceapi people export` file or a face-api.js FaceMatcher JSON, or - for stdin")
    im.add_argument("--replace", action="store_true", help="empty the gallery first")
    add_gallery_arg(im, GALLERY_USE)
    im.set_defaults(func=_import)


def _open(args: argparse.Namespace, create: bool = True) -> GalleryStore:
    return open_gallery(args.gallery, create=create)


def _add(args: argparse.Namespace) -> int:
    from faceapi.pipeline import FaceAnalyzer

    detector = analyze_options(args).detector
    analyzer = FaceAnalyzer(args.models_dir, runtime_config(args))
    with _open(args) as gallery:
        result = enrol_images(analyzer, gallery, args.name, args.images, crop=args.crop, detector=detector,
                              append=args.append, max_distance=None if args.force else DEFAULT_DISTANCE_THRESHOLD,
                              require_live=args.require_live)
        print(json.dumps(result.to_dict()), flush=True)
        skipped = f", {result.skipped} already there" if result.skipped else ""
        print(f"{result.person.name}: {result.added} descriptor(s) added{skipped}, "
              f"{result.person.descriptors} in total ({gallery.location})", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args) as gallery:
        people = gallery.people()
        if args.json:
            for person in people:
                print(json.dumps(person.to_dict()))
        else:
            width = max([4, *(len(p.name) for p in people)])
            for person in people:
                print(f"{person.name:{width}s}  {person.descriptors:5d} descriptor(s)  since {person.created}")
        total = sum(p.descriptors for p in people)
        print(f"{len(people)} people, {total} descriptors in {gallery.location}", file=sys.stderr)
    return 0


def _rename(args: argparse.Namespace) -> int:
    with _open(args, create=False) as gallery:
        person = gallery.rename(args.old, args.new)
        print(json.dumps(person.to_dict()))
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _open(args, create=False) as gallery:
        for name in args.names:
            gallery.person(name)  # every name must be known before anyone is removed
        for name in args.names:
            person = gallery.remove(name)
            print(json.dumps(person.to_dict()))
            print(f"removed {person.name} ({person.descriptors} descriptor(s))", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    with _open(args, create=False) as gallery:
        if args.file == "-":
            json.dump(gallery.export_json(), sys.stdout)
            print()
        else:
            n = gallery.export(args.file)
            print(f"exported {n} people to {args.file}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    with _open(args) as gallery:
        if args.file == "-":
            try:
                data = json.load(sys.stdin)
            except json.JSONDecodeError as exc:
                raise GalleryError(f"stdin is not JSON: {exc}") from exc
            counts = gallery.import_json(data, replace=args.replace)
        else:
            counts = gallery.import_file(args.file, replace=args.replace)
        print(json.dumps(counts))
        print(f"imported {counts['people']} people ({counts['added_people']} new), "
              f"{counts['added_descriptors']} descriptors ({counts['skipped_descriptors']} already there)",
              file=sys.stderr)
    return 0
