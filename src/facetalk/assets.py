"""Where the small data files that facetalk ships (`assets/` in the repository) are found."""

from __future__ import annotations

from pathlib import Path

from facetalk.errors import MissingDependencyError

_CANDIDATES = (
    Path(__file__).resolve().parent / "assets",  # installed wheel: assets are packaged inside
    Path(__file__).resolve().parents[2] / "assets",  # source checkout / editable install
)


def asset_path(relative: str) -> Path:
    """The path of a shipped asset, e.g. `asset_path("face/canonical_face_mesh.npz")`."""
    for root in _CANDIDATES:
        path = root / relative
        if path.exists():
            return path
    raise MissingDependencyError(f"assets/{relative}: shipped asset not found; reinstall facetalk")
