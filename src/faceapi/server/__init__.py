"""The web app (`faceapi serve`): a static page, a REST API and the `/ws/stream` WebSocket."""

from faceapi.server.app import create_app

__all__ = ["create_app"]
