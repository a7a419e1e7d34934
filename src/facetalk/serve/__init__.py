"""`facetalk serve`: the HTTP and WebSocket server and the browser viewer it serves."""

from facetalk.serve.app import ServeSettings, create_app, serve

__all__ = ["ServeSettings", "create_app", "serve"]
