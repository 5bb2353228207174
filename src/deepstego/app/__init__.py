"""The Gradio web app (optional ``[app]`` extra): hide and reveal images and videos in the browser."""

from .server import build_app, serve

__all__ = ["build_app", "serve"]
