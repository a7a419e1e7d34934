"""The embedded face's mesh: the MediaPipe canonical face mesh, its landmarks and named regions.

The mesh comes from the npm package `@mediapipe/face_mesh` (Apache-2.0; see assets/face/NOTICE and
assets/face/extract_canonical_mesh.py). It has 468 vertices and 898 triangles, in centimetres, +Y
up, looking down +Z; facetalk converts it to metres (the glTF and FLAME convention). +X is the
subject's left.

facetalk appends 10 iris points after the 468 mesh vertices, numbered as in MediaPipe's refined
landmarks (468-472 the right iris, 473-477 the left: centre, then 4 points on the iris rim), so that
gaze is part of the vertex data. The canonical mesh closes the mouth and eye slits with triangles;
the animated face opens them so that the jaw can open and the eyelids can part.

The canonical mesh rests with its lips parted (5.8 mm between the inner-lip landmarks 13 and 14,
the lower lip 1.9 mm in front of the upper one), but a blendshape rig's neutral (ARKit's with every
weight 0) has them closed and relaxed. The animated face therefore bakes a "lips together" offset
into its neutral vertices: each pair of inner-lip contour points is brought to `REST_LIP_GAP`
(0.1 mm) apart, straight up and down, the upper lip taking `UPPER_LIP_SHARE` (30%) of the way and
the lower lip the rest: in the middle the upper lip moves 1.5 mm down and 0.6 mm forward, the lower
lip 3.6 mm up and 1.3 mm back. The offset fades smoothly (a smoothstep bump of the distance to the
inner contour) to 0 at 1.4 cm above the slit and 2.2 cm below it, and linearly along the slit to 0
at the shared corner points, so nothing outside the `mouth` region moves. Regions are computed on
the canonical positions. `canonical_mesh` stays exactly as published.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from facetalk.assets import asset_path

CM = 0.01  # the canonical mesh is in centimetres; facetalk works in metres
NUM_MESH_VERTICES = 468
NUM_CANONICAL_TRIANGLES = 898
EYEBALL_RADIUS = 1.2 * CM
IRIS_RADIUS = 0.58 * CM
IRIS_DEPTH = 0.25 * CM  # how far the iris sits behind the eyelid opening
REST_LIP_GAP = 0.01 * CM  # closed lips at rest: touching, not intersecting
UPPER_LIP_SHARE = 0.3  # the upper lip moves this fraction of the closing, the lower lip the rest
UPPER_LIP_REACH = 1.4 * CM  # the closing offset fades to 0 this far from the upper inner lip ...
LOWER_LIP_REACH = 2.2 * CM  # ... and this far from the lower inner lip

# Landmark contours of the MediaPipe face mesh, each ordered from one corner to the other.
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)

LANDMARKS: dict[str, int] = {
    "nose_tip": 1,
    "nose_bottom": 2,
    "between_eyes": 168,
    "forehead": 10,
    "chin": 152,
    "mouth_corner_right": 61,
    "mouth_corner_left": 291,
    "upper_lip_top": 0,
    "upper_lip_inner": 13,
    "lower_lip_inner": 14,
    "lower_lip_bottom": 17,
    "right_eye_outer": 33,
    "right_eye_inner": 133,
    "left_eye_outer": 263,
    "left_eye_inner": 362,
}
RIGHT_IRIS = tuple(range(468, 473))
LEFT_IRIS = tuple(range(473, 478))
NUM_VERTICES = NUM_MESH_VERTICES + len(RIGHT_IRIS) + len(LEFT_IRIS)


@dataclass(frozen=True)
class FaceTopology:
    """A face mesh: neutral vertices, triangles and named vertex regions.

    Attributes:
        vertices: neutral positions in metres, shape (V, 3).
        triangles: vertex indices, shape (F, 3), counter-clockwise seen from the front.
        regions: region name -> sorted vertex indices.
        uvs: texture coordinates, shape (V, 2), when the mesh has them.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    uvs: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def region(self, name: str) -> np.ndarray:
        try:
            return self.regions[name]
        except KeyError:
            raise KeyError(f"unknown face region {name!r} (known: {', '.join(sorted(self.regions))})") from None

    def mask(self, name: str) -> np.ndarray:
        """Boolean vertex mask of a region, shape (V,)."""
        out = np.zeros(self.num_vertices, dtype=bool)
        out[self.region(name)] = True
        return out


@functools.cache
def canonical_mesh() -> FaceTopology:
    """The MediaPipe canonical mesh as published: 468 vertices, 898 triangles, no regions, metres."""
    with np.load(asset_path("face/canonical_face_mesh.npz")) as data:
        return FaceTopology(
            vertices=(data["vertices_cm"] * CM).astype(np.float32),
            triangles=data["triangles"].astype(np.int32),
            uvs=data["uvs"].astype(np.float32),
        )


@functools.cache
def face_topology() -> FaceTopology:
    """The animated face: the canonical mesh with open mouth and eye slits, plus 10 iris points."""
    mesh = canonical_mesh()
    closed = (mesh.vertices + _lip_closing_offset(mesh.vertices)).astype(np.float32)
    vertices = np.concatenate([closed, _iris_points(closed)]).astype(np.float32)
    slits = [set(UPPER_INNER_LIP + LOWER_INNER_LIP), set(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER), set(LEFT_EYE_UPPER + LEFT_EYE_LOWER)]
    keep = [not any(set(tri) <= slit for slit in slits) for tri in mesh.triangles.tolist()]
    assert mesh.uvs is not None
    uvs = np.concatenate([mesh.uvs, np.zeros((NUM_VERTICES - NUM_MESH_VERTICES, 2), np.float32)])
    regions = _regions(np.concatenate([mesh.vertices, _iris_points(mesh.vertices)]))
    return FaceTopology(vertices, mesh.triangles[keep], regions, uvs)


def _lip_closing_offset(mesh_vertices: np.ndarray) -> np.ndarray:
    """The smooth, symmetric offset (468, 3) in metres that closes the canonical mesh's lips.

    Pair i of the inner contours (upper U_i, lower L_i) is moved by the closing D_i = U_i - L_i -
    (0, REST_LIP_GAP, 0): U_i by -UPPER_LIP_SHARE * D_i, L_i by the rest. Every other vertex takes
    its side's contour offset at its own x (linear between contour points, 0 at and past the
    corners), scaled by a bump of its distance to that contour.
    """
    p = mesh_vertices.astype(np.float64)
    upper, lower = p[list(UPPER_INNER_LIP)], p[list(LOWER_INNER_LIP)]
    closing = upper - lower - np.array([0.0, REST_LIP_GAP, 0.0])
    closing[[0, -1]] = 0.0  # the corners are one vertex, shared by both contours

    def along(contour: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Values (N, 3) given at contour points (N, 3), sampled at every vertex's x."""
        order = np.argsort(contour[:, 0])
        return np.stack([np.interp(p[:, 0], contour[order, 0], values[order, k]) for k in range(3)], axis=-1)

    def bump(distance: np.ndarray, radius: float) -> np.ndarray:
        t = np.clip(distance / radius, 0.0, 1.0)
        return 1.0 - t * t * (3.0 - 2.0 * t)

    upper_line, lower_line = along(upper, upper), along(lower, lower)
    is_upper = p[:, 1] >= 0.5 * (upper_line[:, 1] + lower_line[:, 1])
    is_upper[list(UPPER_INNER_LIP)] = True
    is_upper[list(LOWER_INNER_LIP[1:-1])] = False
    upper_fade = bump(np.linalg.norm(p - upper_line, axis=-1), UPPER_LIP_REACH)[:, None]
    lower_fade = bump(np.linalg.norm(p - lower_line, axis=-1), LOWER_LIP_REACH)[:, None]
    upper_offset = along(upper, -UPPER_LIP_SHARE * closing) * upper_fade
    lower_offset = along(lower, (1 - UPPER_LIP_SHARE) * closing) * lower_fade
    offset = np.where(is_upper[:, None], upper_offset, lower_offset)
    # Exact symmetry: average with the mirror image (the canonical mesh is symmetric).
    return 0.5 * (offset + offset[mirror_partners(p)] * X_FLIP)


X_FLIP = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
"""A point or offset mirrored across x = 0."""


def mirror_partners(points: np.ndarray) -> np.ndarray:
    """For each point (N, 3), the index of the point nearest to its mirror image across x = 0, shape (N,).

    On mirror-symmetric points (the canonical mesh, FLAME's template) this is a permutation.
    """
    from scipy.spatial import cKDTree

    _, partner = cKDTree(points).query(points * X_FLIP)
    return np.asarray(partner)


def eye_opening_centre(vertices: np.ndarray, side: str) -> np.ndarray:
    """Centre of one eye's lid opening, shape (..., 3); `side` is "left" or "right"."""
    contour = LEFT_EYE_UPPER + LEFT_EYE_LOWER if side == "left" else RIGHT_EYE_UPPER + RIGHT_EYE_LOWER
    return vertices[..., list(contour), :].mean(axis=-2)


def _iris_points(mesh_vertices: np.ndarray) -> np.ndarray:
    """Iris centre and rim points (+x, +y, -x, -y) for the right eye, then the left, shape (10, 3)."""
    rim = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=np.float32) * IRIS_RADIUS
    points = []
    for side in ("right", "left"):
        centre = eye_opening_centre(mesh_vertices, side) - np.array([0, 0, IRIS_DEPTH], np.float32)
        points += [centre, *(centre + rim)]
    return np.stack(points)


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of 2-D points (N, 2) against a closed polygon (M, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def _closed_contour(vertices: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    return vertices[list(upper) + list(reversed(lower[1:-1]))][:, :2]


def _regions(v: np.ndarray) -> dict[str, np.ndarray]:
    """Named vertex regions of the animated face, from landmark contours and distances.

    Distances are in centimetres of the canonical face. Regions may overlap: `lips` sits inside
    `mouth`, which sits inside `lower_face`.
    """
    mesh = v[:NUM_MESH_VERTICES] / CM
    xy = mesh[:, :2]
    x, y = mesh[:, 0], mesh[:, 1]
    index = np.arange(NUM_MESH_VERTICES)
    mouth_centre = mesh[list(UPPER_INNER_LIP + LOWER_INNER_LIP)].mean(axis=0)
    nose_tip = mesh[LANDMARKS["nose_tip"]]

    def ellipse(centre: np.ndarray, rx: float, ry: float) -> np.ndarray:
        return ((x - centre[0]) / rx) ** 2 + ((y - centre[1]) / ry) ** 2 <= 1.0

    outer_lips = _inside_polygon(xy, _closed_contour(mesh, UPPER_OUTER_LIP, LOWER_OUTER_LIP))
    lips = outer_lips | np.isin(index, UPPER_OUTER_LIP + LOWER_OUTER_LIP)
    # The inner slit height at each lip vertex's x separates the upper lip from the lower one.
    slit_y = np.interp(x, mesh[list(UPPER_INNER_LIP), 0], 0.5 * (mesh[list(UPPER_INNER_LIP), 1] + mesh[list(LOWER_INNER_LIP), 1]))
    upper_lip = lips & ((y > slit_y) | np.isin(index, UPPER_INNER_LIP))
    lower_lip = lips & ~upper_lip | np.isin(index, LOWER_INNER_LIP)

    regions: dict[str, np.ndarray] = {
        "lips": lips,
        "upper_lip": upper_lip,
        "lower_lip": lower_lip,
        "inner_lips": np.isin(index, UPPER_INNER_LIP + LOWER_INNER_LIP),
        "mouth": ellipse(mouth_centre, 4.6, 3.2) | lips,
        "lower_face": y < nose_tip[1] - 1.2,
        "jaw": y < mouth_centre[1] + 0.3,
        "nose": ellipse(nose_tip + np.array([0, 0.9, 0]), 2.0, 3.3) & (y > mouth_centre[1] + 1.2),
        "cheek_left": ellipse(np.array([4.3, -1.2]), 2.8, 2.9),
        "cheek_right": ellipse(np.array([-4.3, -1.2]), 2.8, 2.9),
    }
    for side, upper, lower, brow in (
        ("left", LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_BROW),
        ("right", RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_BROW),
    ):
        centre = mesh[list(upper + lower)].mean(axis=0)
        near_eye = ellipse(centre, 3.0, 1.9)
        lid_y = np.interp(x, np.sort(mesh[list(upper), 0]), mesh[list(upper), 1][np.argsort(mesh[list(upper), 0])])
        regions[f"eye_{side}"] = near_eye
        regions[f"upper_lid_{side}"] = near_eye & (y >= lid_y - 0.05)
        regions[f"lower_lid_{side}"] = near_eye & (y < lid_y - 0.05)
        brow_centre = mesh[list(brow)].mean(axis=0)
        regions[f"brow_{side}"] = ellipse(brow_centre, 3.4, 2.4) & (y > centre[1])
    regions["eyes"] = regions["eye_left"] | regions["eye_right"]
    regions["brows"] = regions["brow_left"] | regions["brow_right"]
    regions["forehead"] = y > mesh[list(LEFT_BROW), 1].min() - 0.3
    regions["upper_face"] = y > nose_tip[1] + 2.0
    regions["cheeks"] = regions["cheek_left"] | regions["cheek_right"]
    # One side of the mouth with its cheek, for the one-sided mouth shapes (smile, frown, stretch,
    # dimple); each reaches 1 cm past the midline so that a corner's falloff is not cut short.
    for side, sign in (("left", 1.0), ("right", -1.0)):
        regions[f"cheek_mouth_{side}"] = (sign * x > -1.0) & ellipse(np.array([sign * 2.6, -3.4]), 4.2, 4.4)
    # The cheeks beside the mouth, which puff out.
    regions["lower_cheeks"] = ellipse(np.array([4.3, -3.6]), 2.5, 2.7) | ellipse(np.array([-4.3, -3.6]), 2.5, 2.7)
    regions["skin"] = np.ones(NUM_MESH_VERTICES, dtype=bool)

    out = {name: np.flatnonzero(mask).astype(np.int64) for name, mask in regions.items()}
    iris_left, iris_right = np.array(LEFT_IRIS), np.array(RIGHT_IRIS)
    out["iris_left"], out["iris_right"] = iris_left, iris_right
    for side, iris in (("left", iris_left), ("right", iris_right)):
        # The eyes move with their lids: blink and gaze shapes may touch both.
        out[f"eye_{side}"] = np.concatenate([out[f"eye_{side}"], iris])
    out["eyes"] = np.concatenate([out["eyes"], iris_right, iris_left])
    out["upper_face"] = np.concatenate([out["upper_face"], iris_right, iris_left])
    return out


@functools.cache
def mirror_map() -> np.ndarray:
    """For each vertex of the animated face, the index of its mirror image across x = 0, shape (V,).

    The canonical mesh is exactly symmetric, so this is an exact permutation.
    """
    return mirror_partners(face_topology().vertices)
