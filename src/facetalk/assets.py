"""Where the small data files that facetalk ships (`assets/` and `weights/` in the repository) are found."""

from __future__ import annotations

from pathlib import Path

from facetalk.errors import MissingDependencyError

_PACKAGE = Path(__file__).resolve().parent  # an installed wheel packages assets/ and weights/ inside
_CHECKOUT = Path(__file__).resolve().parents[2]  # a source checkout or editable install


def _shipped(folder: str, relative: str) -> Path | None:
    for root in (_PACKAGE, _CHECKOUT):
        path = root / folder / relative
        if path.exists():
            return path
    return None


def asset_path(relative: str) -> Path:
    """The path of a shipped asset, e.g. `asset_path("face/canonical_face_mesh.npz")`."""
    path = _shipped("assets", relative)
    if path is None:
        raise MissingDependencyError(f"assets/{relative}: shipped asset not found; reinstall facetalk")
    return path


def weights_path(name: str) -> Path | None:
    """The directory of a shipped trained model or recognizer under `weights/`, or None if there is none."""
    return _shipped("weights", name)
