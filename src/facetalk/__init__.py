"""facetalk: speech to expressive, lip-synced 3D facial animation."""

__version__ = "0.1.0"
