"""The exceptions faceapi raises. Every message says where the problem is and what was expected."""

from __future__ import annotations


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
