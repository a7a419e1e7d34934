"""facetalk: speech to expressive, lip-synced 3D facial animation."""

from facetalk.animate import Animation, animate, write_animation

__version__ = "0.1.0"
__all__ = ["Animation", "__version__", "animate", "write_animation"]
