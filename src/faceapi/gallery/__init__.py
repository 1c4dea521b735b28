"""The people gallery: named people and their 128-d face descriptors, in SQLite (default) or PostgreSQL.

face-api.js recognises people by comparing descriptors with labelled references (`FaceMatcher`); the
gallery is where those references live between runs::

    gallery = Gallery()                                   # the default file, or Gallery("people.sqlite3")
    gallery = open_gallery("postgresql://faceapi@db:5432/faceapi")   # or a file path
    enrol_images(analyzer, gallery, "amy", ["amy1.png", "amy2.png"], crop=True)
    analyzer = FaceAnalyzer(matcher=gallery)              # then AnalyzeOptions(recognize=MatchOptions())

Modules: `store` (the store interface `GalleryStore` and the SQLite file, `Gallery`), `postgres`
(`PostgresGallery`), `interchange` (the JSON export/import formats), `enrol`
(descriptors from images), `validation` (names and descriptors). The gallery's errors are in
`faceapi.errors` (`GalleryError` and its subclasses) and re-exported here.
"""

from __future__ import annotations

from faceapi.errors import (
    FaceCountError,
    GalleryError,
    GalleryFullError,
    GalleryStorageError,
    GalleryUnreachableError,
    NameTakenError,
    UnknownPersonError,
)
from faceapi.gallery.enrol import DescribedImage, describe_face, enrol_images, image_sha256
from faceapi.gallery.interchange import EXPORT_FORMAT
from faceapi.gallery.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    EnrolResult,
    Gallery,
    GalleryStore,
    Person,
    default_gallery_path,
    open_gallery,
    user_gallery_path,
)
from faceapi.gallery.validation import (
    DESCRIPTOR_SIZE,
    MAX_NAME_LENGTH,
    RESERVED_NAMES,
    check_descriptor,
    check_name,
    name_key,
    normalise_name,
)

__all__ = ["APPLICATION_ID", "DESCRIPTOR_SIZE", "EXPORT_FORMAT", "MAX_NAME_LENGTH", "MIGRATIONS", "RESERVED_NAMES",
           "SCHEMA_VERSION", "DescribedImage", "EnrolResult", "FaceCountError", "Gallery", "GalleryError",
           "GalleryFullError", "GalleryStorageError", "GalleryStore", "GalleryUnreachableError", "NameTakenError",
           "Person", "UnknownPersonError",
           "check_descriptor", "check_name", "default_gallery_path", "describe_face", "enrol_images", "image_sha256",
           "name_key", "normalise_name", "open_gallery", "user_gallery_path"]
