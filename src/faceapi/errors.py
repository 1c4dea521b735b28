"""The exceptions faceapi raises. Every message says where the problem is and what was expected."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceapi.results import Liveness


class FaceApiError(Exception):
    """Base class of every error raised by faceapi."""


class ModelError(FaceApiError):
    """A model's weights are missing, corrupt or do not fit the network."""


class ModelNotFoundError(ModelError):
    """The weights of a model are not in the model folder."""


class ImageError(FaceApiError, ValueError):
    """An input could not be turned into an RGB image (corrupt, empty, too large, wrong type)."""


class OptionsError(FaceApiError, ValueError):
    """An option has a value face-api.js would reject (e.g. a tiny-detector input size not a multiple of 32)."""


class GalleryError(FaceApiError):
    """The people gallery refused an operation: an unknown or duplicate name, an enrolment image without
    exactly one face, a file that is not a gallery (or is from a newer faceapi), a bad import file."""


class UnknownPersonError(GalleryError):
    """No person in the gallery has that name (a server answers 404)."""


class NameTakenError(GalleryError):
    """Another person in the gallery already has that name (a server answers 409)."""


class GalleryUnreachableError(GalleryError):
    """The gallery's database cannot be reached (PostgreSQL down or restarting): nothing was written, the
    operation may be retried (a server answers 503)."""


class GalleryStorageError(GalleryError):
    """The gallery's storage failed under a write or a read (an I/O error, a file damaged while in use):
    nothing of the operation was kept, the gallery is as it was before it (a server answers 503)."""


class GalleryFullError(GalleryStorageError):
    """The disk (or quota, or file-size limit) holding the gallery is full: the write was rolled back whole
    and the gallery is as it was; it works again once there is room (a server answers 507)."""


class SampleMismatchError(GalleryError):
    """A new sample of an existing person is farther than the match threshold from all their samples: it
    may be somebody else (a typo in the name must not merge two people); a server answers 409."""


class FaceCountError(GalleryError):
    """An enrolment image does not show exactly one face; `faces` says how many were found."""

    def __init__(self, message: str, faces: int):
        super().__init__(message)
        self.faces = faces


class NotLiveError(GalleryError):
    """Enrolment required a live face and the face was judged a photo of one; `liveness` has the score (a
    server answers 422 with it)."""

    def __init__(self, message: str, liveness: Liveness):
        super().__init__(message)
        self.liveness = liveness


class VideoError(FaceApiError):
    """A video file could not be opened, decoded or written (PyAV's message, without its error number).
    `frame` is the index of the frame decoding failed at (None when the file could not be opened)."""

    def __init__(self, message: str, frame: int | None = None):
        super().__init__(message)
        self.frame = frame


class EvaluationError(FaceApiError):
    """A labelled evaluation set is not in the layout `faceapi eval` reads (unknown label folders, no
    images, a malformed ``pairs.txt``)."""
