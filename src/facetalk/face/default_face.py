"""The embedded default face: the MediaPipe canonical mesh with 52 ARKit blendshapes authored here.

Blendshapes. Every shape is a displacement field of shape (V, 3) in metres at weight 1, authored in
code (no external data) as smooth, compactly supported masks (smoothstep falloffs of distances to
landmarks and contours) times a motion: a rotation about a pivot (jawOpen, gaze), a translation, or
a pull of one contour onto another (blink, mouthClose). Each field is then multiplied by a smooth
mask of its region in `BLENDSHAPE_REGIONS` that is exactly 0 outside it, so shapes are local. Left
shapes are authored on the subject's left (+X); right shapes are their exact mirror images through
`mirror_map`; unpaired shapes are exactly symmetric. Sizes follow an ARKit rig on a 15 cm wide face:
jawOpen rotates the lower face by 12° about a pivot 8 cm behind the lips, eyeBlink closes the lids,
gaze turns the iris 25° about the eyeball centre.

Scene. `scene_mesh` adds what a renderer or exporter needs around the skin: per-vertex colours (skin,
reddish lips), a dark mouth interior (a closed bag hanging behind the inner-lip loop), upper and lower
teeth, a tongue, and per eye a socket bag, a white eyeball and an iris disc with a pupil. Every
accessory vertex is an affine function of the face vertices, `A @ face + c` with a constant (Va, V)
matrix A, so `scene_mesh` is affine and morph-target deltas of the whole scene are exact:

- the mouth bag, eye sockets and iris discs are fixed affine combinations of their rim vertices
  (inner lips, lid contour, the 5 iris points);
- the teeth, tongue and eyeballs carry no vertex data of their own, so their rows of A are solved
  for once: small, locally weighted rows with sum 1 (they follow any translation of the face) that
  reproduce a prescribed motion for every blendshape and identity mode, up to a small ridge that
  keeps the weights moderate: upper teeth and eyeballs stay fixed to the head (within 0.5 mm for
  every shape), lower teeth follow the rigid jaw motion of jawOpen, jawForward, jawLeft, jawRight
  and tongueOut, and under identity modes the mouth parts move with the mean offset of the mouth
  region and each eyeball with its iris. For motion outside the rig's span the rows act as a
  least-squares estimate.

Triangles are wound counter-clockwise seen from outside: skin, teeth, tongue, eyeballs and iris
discs face away from their bodies; the mouth bag and eye sockets face into their cavities (flesh to
air), which is the side seen through the mouth and eye openings.

Approximations:
- tongueOut: the face vertices have no tongue, so tongueOut itself only drops the jaw slightly and
  pushes the lower lip forward and wide. The tongue accessory rides on the jaw and slides forward
  (and a little up) between the lips by 3 cm, driven by a fixed row of weights that reads the
  push off the lower lip. One scalar weight per vertex cannot isolate one shape exactly, so the
  row is a least-squares compromise: other shapes move the tongue by at most about 2 mm inside the
  mouth (identity modes by about 1 mm per unit coefficient).
- mouthClose alone pushes the lips through each other, as in ARKit: it is meant for use with
  jawOpen, where jawOpen = mouthClose = 1 gives closed lips with the jaw dropped.
- The canonical mesh's lips rest 6 mm apart; `face_topology` closes them (a 0.1 mm slit), so the
  neutral face is an ARKit neutral: lips together, teeth hidden. Shapes that squeeze the closed lips
  (mouthRoll*, mouthPress*, mouthShrugLower) fold them toward the slit rather than across it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facetalk.face.arkit import ARKIT_NAMES, mirror_name
from facetalk.face.identity import identity_basis
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import (
    CM,
    EYEBALL_RADIUS,
    LEFT_BROW,
    LEFT_EYE_LOWER,
    LEFT_EYE_UPPER,
    LEFT_IRIS,
    LOWER_INNER_LIP,
    NUM_MESH_VERTICES,
    RIGHT_BROW,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_UPPER,
    RIGHT_IRIS,
    UPPER_INNER_LIP,
    face_topology,
    mirror_map,
)

Vec3 = tuple[float, float, float]

# Colours, linear RGB.
SKIN_COLOR: Vec3 = (0.87, 0.70, 0.60)
LIP_COLOR: Vec3 = (0.74, 0.42, 0.40)
BROW_COLOR: Vec3 = (0.30, 0.21, 0.16)  # painted brows make brow shapes visible on an untextured face
BROW_TINT = 0.95  # how much of the brow colour the brow contour itself takes
BROW_TINT_WIDTH_CM = 0.9  # brow colour fades into skin over this distance from the brow contour
MOUTH_COLOR: Vec3 = (0.012, 0.003, 0.003)  # near black (linear RGB), so an open mouth reads as a cavity
TEETH_COLOR: Vec3 = (0.86, 0.83, 0.74)
GUM_COLOR: Vec3 = (0.62, 0.30, 0.30)
TONGUE_COLOR: Vec3 = (0.50, 0.20, 0.20)  # darker than the lips: it is in the mouth's shadow
SCLERA_COLOR: Vec3 = (0.90, 0.88, 0.85)
SOCKET_COLOR: Vec3 = (0.60, 0.40, 0.36)  # the pinkish inner corner of the eye seen past the eyeball
IRIS_COLOR: Vec3 = (0.26, 0.15, 0.07)
LIMBUS_COLOR: Vec3 = (0.06, 0.04, 0.03)
PUPIL_COLOR: Vec3 = (0.01, 0.01, 0.01)
LIP_TINT_WIDTH_CM = 0.35  # lip colour fades into skin over this distance outside the lip contour

# Blendshape sizes, in centimetres (the fields are authored in cm and stored in metres).
JAW_PIVOT_CM: Vec3 = (0.0, -1.5, -2.8)  # near the jaw joints, about 8 cm behind the lips
JAW_OPEN_RAD = 0.21  # 12°: drops the lower lip about 1.7 cm and the chin about 1.3 cm
JAW_SHIFT_CM = 0.7  # jawLeft and jawRight move the chin this far sideways
JAW_FORWARD_CM: Vec3 = (0.0, -0.12, 0.7)  # jawForward: out, and a little down as the teeth slide apart
JAW_JOINT_HALF_WIDTH_CM = 5.5  # the jaw joints sit this far either side of the midline
JAW_LIPS_DEPTH_CM = 4.3  # depth (z) of the chin, where jawLeft/Right are measured
GAZE_RAD = np.deg2rad(25.0)
BLINK_MEET = 0.8  # the lids meet 80% of the way down from the upper lid, as real lids do
REGION_EDGE_CM = 0.6  # width of the smooth fade of each field to 0 at its region's border
TONGUE_JAW_DROP = 0.55  # tongueOut drops the jaw by this fraction of jawOpen
TONGUE_REACH_CM = 3.0  # how far the tongue tip slides forward at tongueOut = 1
# The lips rest closed, so shapes that squeeze them (roll, press) fold each lip toward the slit by
# this fraction of its distance from the mouth line instead of moving the margins across it.
ROLL_FOLD = 0.35
ROLL_BACK_CM = 0.3  # the rolled-in lips sink back this far, still in front of the teeth
PRESS_FOLD = 0.18

BLENDSHAPE_REGIONS: dict[str, str] = {
    **{f"eye{part}{side}": f"eye_{side.lower()}"
       for part in ("Blink", "LookDown", "LookIn", "LookOut", "LookUp", "Squint", "Wide") for side in ("Left", "Right")},
    "jawForward": "lower_face", "jawLeft": "lower_face", "jawRight": "lower_face", "jawOpen": "lower_face",
    "mouthClose": "mouth", "mouthFunnel": "mouth", "mouthPucker": "mouth", "mouthLeft": "mouth", "mouthRight": "mouth",
    **{f"mouth{part}{side}": f"cheek_mouth_{side.lower()}" for part in ("Smile", "Frown", "Dimple", "Stretch")
       for side in ("Left", "Right")},
    "mouthRollLower": "mouth", "mouthRollUpper": "mouth", "mouthShrugLower": "lower_face", "mouthShrugUpper": "mouth",
    **{f"mouth{part}{side}": "mouth" for part in ("Press", "LowerDown", "UpperUp") for side in ("Left", "Right")},
    "browDownLeft": "brow_left", "browDownRight": "brow_right", "browInnerUp": "forehead",
    "browOuterUpLeft": "brow_left", "browOuterUpRight": "brow_right",
    "cheekPuff": "lower_cheeks", "cheekSquintLeft": "cheek_left", "cheekSquintRight": "cheek_right",
    "noseSneerLeft": "nose", "noseSneerRight": "nose", "tongueOut": "lower_face",
}  # fmt: skip
"""For each of the 52 shapes, the topology region that contains all of its motion."""


# ----------------------------------------------------------------------------------------------
# Small geometry helpers (all in centimetres)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 at distance 0, falling smoothly (zero slope at both ends) to exactly 0 at `radius`."""
    return 1.0 - _smoothstep(np.asarray(distance) / radius)


def _along(x: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """A contour (N, 3) sampled at abscissae x (V,) by linear interpolation, clamped at its ends."""
    order = np.argsort(contour[:, 0])
    xs = contour[order, 0]
    return np.stack([np.interp(x, xs, contour[order, k]) for k in range(3)], axis=-1)


def _rotation(axis: Vec3, angle: float) -> np.ndarray:
    """Right-handed rotation matrix about a unit axis (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _rotate_motion(points: np.ndarray, pivot: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Displacement of points (N, 3) rotated about pivot."""
    return (points - pivot) @ rotation.T - (points - pivot)


@dataclass(frozen=True)
class _Face:
    """The neutral default face in centimetres, with the contours and masks the shapes share."""

    p: np.ndarray  # (V, 3)
    mesh: np.ndarray  # (V,) True for the 468 skin vertices, False for the iris points
    regions: dict[str, np.ndarray]

    @property
    def x(self) -> np.ndarray:
        return self.p[:, 0]

    @property
    def y(self) -> np.ndarray:
        return self.p[:, 1]

    def at(self, indices: tuple[int, ...]) -> np.ndarray:
        return self.p[list(indices)]

    def nearest(self, point: Vec3) -> np.ndarray:
        """The skin vertex nearest to a point given by its x and y (z is ignored)."""
        d = np.linalg.norm(self.p[:NUM_MESH_VERTICES, :2] - np.asarray(point)[:2], axis=-1)
        return self.p[int(d.argmin())]

    def distance_to(self, indices: np.ndarray | tuple[int, ...]) -> np.ndarray:
        """Distance of every vertex to the nearest of some vertices, shape (V,)."""
        from scipy.spatial import cKDTree

        return cKDTree(self.p[list(indices)]).query(self.p)[0]

    def region_mask(self, name: str, width: float = REGION_EDGE_CM) -> np.ndarray:
        """1 deep inside a region, 0 on every vertex outside it, smooth over `width` at its border."""
        outside = np.setdiff1d(np.arange(len(self.p)), self.regions[name])
        return _smoothstep(self.distance_to(outside) / width)

    # The inner lip slit: upper and lower inner contours sampled at each vertex's x.
    @functools.cached_property
    def upper_inner(self) -> np.ndarray:
        return _along(self.x, self.at(UPPER_INNER_LIP))

    @functools.cached_property
    def lower_inner(self) -> np.ndarray:
        return _along(self.x, self.at(LOWER_INNER_LIP))

    @functools.cached_property
    def lip_gap(self) -> np.ndarray:
        """Upper minus lower inner lip at each vertex's x, (V, 3); 0 past the corners."""
        return self.upper_inner - self.lower_inner

    @functools.cached_property
    def mouth_line(self) -> tuple[np.ndarray, np.ndarray]:
        """Height of the mouth line and the half-width of the upper/lower transition band, (V,) each.

        Between the corners the line runs midway between the inner lips and the band is the half gap,
        so the inner contours are exactly on either side; past the corners the line rises toward the
        ears and the band widens, so the cheeks blend between lip and jaw motion.
        """
        corner = self.p[UPPER_INNER_LIP[-1]]
        beyond = np.maximum(np.abs(self.x) - abs(corner[0]), 0.0)
        line = 0.5 * (self.upper_inner[:, 1] + self.lower_inner[:, 1]) + 0.45 * beyond
        half = np.maximum(0.5 * self.lip_gap[:, 1], 0.12) + np.minimum(0.5 * beyond, 1.5)
        return line, half

    @functools.cached_property
    def upper_factor(self) -> np.ndarray:
        """1 on and above the upper lip, 0 on and below the lower lip, smooth past the corners."""
        line, half = self.mouth_line
        u = _smoothstep((self.y - line) / (2 * half) + 0.5)
        u[list(UPPER_INNER_LIP)] = 1.0
        u[list(LOWER_INNER_LIP)] = 0.0
        u[list(UPPER_INNER_LIP[:1] + UPPER_INNER_LIP[-1:])] = 0.5  # the corners belong to both lips
        return u

    @functools.cached_property
    def lips_distance(self) -> np.ndarray:
        return self.distance_to(self.regions["lips"])

    def lip_mask(self, reach: float) -> np.ndarray:
        """1 on the lips, fading to 0 at `reach` cm outside them."""
        return _bump(self.lips_distance, reach)

    @functools.cached_property
    def mouth_profile(self) -> np.ndarray:
        """1 at the middle of the mouth, 0 at and past the corners."""
        half_width = abs(self.p[UPPER_INNER_LIP[0], 0])
        return np.clip(1.0 - (self.x / half_width) ** 2, 0.0, 1.0)

    @functools.cached_property
    def jaw_weight(self) -> np.ndarray:
        """How much each vertex follows the jaw: 1 below the mouth, 0 above it, (V,)."""
        line, half = self.mouth_line
        weight = _smoothstep((line - self.y) / (2 * half) + 0.5) * self.mesh
        weight[list(UPPER_INNER_LIP)] = 0.0
        weight[list(LOWER_INNER_LIP)] = 1.0
        weight[list(UPPER_INNER_LIP[:1] + UPPER_INNER_LIP[-1:])] = 0.5
        return weight


@functools.cache
def _face() -> _Face:
    topology = face_topology()
    p = topology.vertices.astype(np.float64) / CM
    return _Face(p, np.arange(len(p)) < NUM_MESH_VERTICES, topology.regions)


# ----------------------------------------------------------------------------------------------
# Motions that accessories share with the face


def _jaw_open_motion(points: np.ndarray) -> np.ndarray:
    """Displacement of points (N, 3) in cm carried rigidly by jawOpen: chin down and back."""
    return _rotate_motion(points, np.asarray(JAW_PIVOT_CM), _rotation((1.0, 0.0, 0.0), JAW_OPEN_RAD))


def _jaw_left_motion(points: np.ndarray) -> np.ndarray:
    """Displacement (cm) carried by jawLeft: the jaw swings toward +X about the left jaw joint.

    As in a real jaw (and ARKit), the joint on the side the jaw moves toward stays put and the other
    slides forward, so the chin moves sideways and a little forward; jawLeft + jawRight is therefore
    not zero, and neither is it jawForward (which also drops the jaw a little).
    """
    pivot = np.array([JAW_JOINT_HALF_WIDTH_CM, JAW_PIVOT_CM[1], JAW_PIVOT_CM[2]])
    return _rotate_motion(points, pivot, _rotation((0.0, 1.0, 0.0), JAW_SHIFT_CM / (JAW_LIPS_DEPTH_CM - JAW_PIVOT_CM[2])))


def _jaw_motion(name: str, points: np.ndarray) -> np.ndarray:
    """The rigid jaw motion (cm) of one shape at points (N, 3): zero for shapes that do not move it."""
    flip = np.array([-1.0, 1.0, 1.0])
    if name == "jawOpen":
        return _jaw_open_motion(points)
    if name == "tongueOut":
        return TONGUE_JAW_DROP * _jaw_open_motion(points)
    if name == "jawForward":
        return np.broadcast_to(np.asarray(JAW_FORWARD_CM), points.shape).copy()
    if name == "jawLeft":
        return _jaw_left_motion(points)
    if name == "jawRight":
        return _jaw_left_motion(points * flip) * flip
    return np.zeros_like(points)


# ----------------------------------------------------------------------------------------------
# Eyes (authored for the subject's left eye, +X)


@dataclass(frozen=True)
class _Lids:
    upper: np.ndarray  # (V,) how much each vertex follows the upper lid margin
    lower: np.ndarray  # (V,) ... the lower lid margin
    gap: np.ndarray  # (V, 3) lower margin minus upper margin at each vertex's x; 0 past the corners
    fade: np.ndarray  # (V,) |gap| relative to the widest point: 0 at the corners


@functools.cache
def _left_lids() -> _Lids:
    f = _face()
    upper_margin = _along(f.x, f.at(LEFT_EYE_UPPER))
    lower_margin = _along(f.x, f.at(LEFT_EYE_LOWER))
    gap = (lower_margin - upper_margin) * (f.x > 0)[:, None]
    above = f.y - upper_margin[:, 1]
    below = lower_margin[:, 1] - f.y
    upper = np.where(above > -0.02, _bump(np.maximum(above, 0.0), 1.0), 0.0) * f.mesh
    lower = np.where((below > -0.02) & (above <= -0.02), _bump(np.maximum(below, 0.0), 0.7), 0.0) * f.mesh
    size = np.linalg.norm(gap, axis=-1)
    return _Lids(upper, lower, gap, size / size.max())


def _gaze(axis: Vec3, angle: float) -> np.ndarray:
    """The left iris turned about its eyeball centre, as a field (V, 3)."""
    f = _face()
    iris = list(LEFT_IRIS)
    centre = f.p[LEFT_IRIS[0]] - np.array([0.0, 0.0, EYEBALL_RADIUS / CM])
    out = np.zeros_like(f.p)
    out[iris] = _rotate_motion(f.p[iris], centre, _rotation(axis, angle))
    return out


def _lid_lift(lids: _Lids, upper_cm: float, lower_cm: float) -> np.ndarray:
    """Lids raised (positive) or lowered along +Y, strongest mid-lid, (V, 3).

    The upper lid folds back into its crease as it rises, so its motion reaches further up the lid
    and tips backward; this keeps lifts distinct from the blink, which pulls the margin down.
    """
    f = _face()
    above = f.y - _along(f.x, f.at(LEFT_EYE_UPPER))[:, 1]
    crease = np.where(lids.upper > 0, _bump(np.maximum(above, 0.0), 1.6), 0.0)
    lift = lids.fade * (upper_cm * crease + lower_cm * lids.lower)
    return np.stack([np.zeros_like(lift), lift, -0.3 * np.maximum(lift, 0.0)], axis=-1)


def _eye_shapes() -> dict[str, np.ndarray]:
    f = _face()
    lids = _left_lids()
    up, low = lids.upper[:, None], lids.lower[:, None]
    below_eye = f.nearest((3.2, 1.7, 0.0))
    cheek_under_eye = (
        _bump(np.linalg.norm(f.p - below_eye, axis=-1), 1.2)[:, None] * np.array([0.0, 0.18, 0.06]) * f.mesh[:, None]
    )
    return {
        # The closed lids ride forward over the cornea.
        "eyeBlinkLeft": BLINK_MEET * lids.gap * up
        - (1 - BLINK_MEET) * lids.gap * low
        + (lids.fade * (lids.upper + lids.lower))[:, None] * [0.0, 0.0, 0.1],
        "eyeSquintLeft": 0.12 * lids.gap * up - 0.4 * lids.gap * low + cheek_under_eye,
        "eyeWideLeft": _lid_lift(lids, 0.3, -0.07),
        # Positive rotation about +X turns the front of the eye down; about +Y, toward +X (out, for the left eye).
        "eyeLookUpLeft": _gaze((1.0, 0.0, 0.0), -GAZE_RAD) + _lid_lift(lids, 0.12, 0.04),
        "eyeLookDownLeft": _gaze((1.0, 0.0, 0.0), GAZE_RAD) + 0.3 * lids.gap * up + _lid_lift(lids, 0.0, -0.06),
        "eyeLookInLeft": _gaze((0.0, 1.0, 0.0), -GAZE_RAD),
        "eyeLookOutLeft": _gaze((0.0, 1.0, 0.0), GAZE_RAD),
    }


# ----------------------------------------------------------------------------------------------
# Jaw and mouth


@functools.cache
def _tongue_push() -> np.ndarray:
    """The lower lip pushed forward and spread by the tongue, (V, 3) in cm: tongueOut minus its jaw drop."""
    f = _face()
    middle = _bump(np.linalg.norm(f.p - f.p[LOWER_INNER_LIP[5]], axis=-1), 2.0)
    mask = (f.lip_mask(0.6) * (1 - f.upper_factor) * middle)[:, None]
    return mask * np.stack([0.2 * f.x, 0.1 + 0 * f.x, 0.4 + 0 * f.x], axis=-1)


def _symmetric_mouth_shapes() -> dict[str, np.ndarray]:
    f = _face()
    x, y = f.x, f.y
    u = f.upper_factor[:, None]
    jaw = f.jaw_weight[:, None]
    profile = f.mouth_profile[:, None]
    broad_profile = (0.35 + 0.65 * f.mouth_profile)[:, None]
    line, _ = f.mouth_line
    jaw_open = jaw * _jaw_open_motion(f.p)
    zero = np.zeros_like(x)

    def lips(reach: float) -> np.ndarray:
        return f.lip_mask(reach)[:, None]

    roll_in = np.stack([zero, -ROLL_FOLD * (y - line), zero - ROLL_BACK_CM], axis=-1)
    upper_margin = _bump(np.maximum(y - line, 0.0), 0.6)[:, None]  # 1 at the slit, 0 at 6 mm above it
    chin = f.nearest((0.0, -7.2, 0.0))
    chin_mask = _bump(np.linalg.norm(f.p - chin, axis=-1), 2.3)[:, None] * f.mesh[:, None]
    return {
        "jawOpen": jaw_open,
        "jawForward": jaw * np.asarray(JAW_FORWARD_CM),
        "jawLeft": jaw * _jaw_left_motion(f.p),
        # Undo the jaw at the lips: with jawOpen the lips are back at their closed rest position.
        "mouthClose": lips(0.8) * -jaw_open,
        # Lips round, part in the middle and push forward, corners drawn in.
        "mouthFunnel": lips(0.9) * np.stack([-0.16 * x, 0.32 * f.mouth_profile * (2 * f.upper_factor - 1), 0.45 + zero], axis=-1),
        # Lips narrow and protrude most in the middle, the slit pressed shut: a kiss.
        "mouthPucker": lips(1.1) * np.stack([-0.32 * x, -0.12 * (y - line), zero], axis=-1)
        + lips(1.1) * broad_profile * np.array([0.0, 0.0, 0.7])
        + lips(0.5) * 0.3 * (1 - 2 * u) * f.lip_gap,
        # Sliding along the curved face the mouth also sinks back a little, which keeps
        # mouthLeft + mouthRight distinct from no motion.
        "mouthLeft": lips(1.6) * np.stack([0.55 + zero, zero, -0.06 * x - 0.12], axis=-1),
        # Rolled in over the teeth: the lip margin back, the vermilion folding toward the slit (the
        # slit itself stays put, so the closed lips do not cross), stopping short of the teeth.
        "mouthRollLower": lips(0.5) * (1 - u) * profile * roll_in,
        "mouthRollUpper": lips(0.5) * u * profile * roll_in,
        # Chin raiser: chin and lower lip pushed up and out; the closed lips meet, so the lower lip
        # pushes the margin of the upper lip up with it.
        "mouthShrugLower": lips(0.6) * broad_profile * ((1 - u) + u * upper_margin) * np.array([0.0, 0.22, 0.0])
        + lips(0.6) * (1 - u) * broad_profile * np.array([0.0, 0.0, 0.15])
        + chin_mask * np.array([0.0, 0.3, 0.1]),
        "mouthShrugUpper": lips(0.7) * u * broad_profile * np.array([0.0, 0.28, 0.18]),
        # The jaw drops and the tongue (an accessory) pushes the middle of the lower lip forward and
        # wide. The tongue's rows of A read this push off the lower lip, so the tongue slides along
        # its direction: forward and a little up, which keeps it between the teeth as the jaw drops.
        "tongueOut": TONGUE_JAW_DROP * jaw_open + _tongue_push(),
    }


def _left_mouth_shapes() -> dict[str, np.ndarray]:
    f = _face()
    u = f.upper_factor[:, None]
    corner = f.p[291]  # the subject's left mouth corner

    def around(offset: Vec3, radius: float) -> np.ndarray:
        return _bump(np.linalg.norm(f.p - (corner + offset), axis=-1), radius)[:, None] * f.mesh[:, None]

    def left_side(start: float) -> np.ndarray:
        """0 right of x = start, 1 from 1.8 cm further left."""
        return _smoothstep((f.x - start) / 1.8)[:, None]

    cheek = f.nearest((3.3, -1.8, 0.0))
    cheek_bunch = _bump(np.linalg.norm(f.p - cheek, axis=-1), 2.0)[:, None] * np.array([0.05, 0.3, 0.2]) * f.mesh[:, None]
    near_lips = f.lip_mask(0.5)[:, None]
    line, _ = f.mouth_line
    return {
        "mouthSmileLeft": around((0.0, 0.0, 0.0), 2.6) * np.array([0.5, 0.7, -0.25]) + cheek_bunch,
        "mouthFrownLeft": around((0.1, -0.5, 0.0), 2.0) * np.array([0.08, -0.45, -0.05]),
        "mouthDimpleLeft": around((0.0, 0.0, 0.0), 1.6) * np.array([0.3, 0.0, -0.35]),
        "mouthStretchLeft": around((0.3, -0.8, -0.2), 2.6) * np.array([0.45, -0.3, -0.1]),
        "mouthPressLeft": near_lips
        * left_side(-0.6)
        * np.concatenate([-0.06 + 0 * u, -PRESS_FOLD * (f.y - line)[:, None], -0.12 + 0 * u], axis=-1),
        "mouthLowerDownLeft": f.lip_mask(0.9)[:, None] * (1 - u) * left_side(-0.3) * np.array([0.05, -0.4, 0.08]),
        "mouthUpperUpLeft": f.lip_mask(1.0)[:, None] * u * left_side(-0.3) * np.array([0.03, 0.4, 0.08]),
    }


# ----------------------------------------------------------------------------------------------
# Brows, cheeks, nose


def _upper_face_shapes() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(left shapes, symmetric shapes) of the brows, cheeks and nose."""
    f = _face()
    skin = f.mesh[:, None]
    brow_distance = f.distance_to(LEFT_BROW)
    inner_emphasis = (0.6 + 0.4 * _smoothstep((4.5 - f.x) / 3.0))[:, None]
    inner_brows = (107, 66, 55, 65, 336, 296, 285, 295)
    outer_brows = (300, 293, 276, 283)
    ala = f.nearest((1.3, -1.6, 0.0))
    nose_side = f.nearest((0.9, 0.6, 0.0))
    squint_point = f.nearest((3.6, 0.6, 0.0))
    left = {
        "browDownLeft": _bump(brow_distance, 1.5)[:, None] * inner_emphasis * np.array([-0.25, -0.45, 0.05]) * skin,
        "browOuterUpLeft": _bump(f.distance_to(outer_brows), 2.0)[:, None] * np.array([0.0, 0.55, 0.0]) * skin,
        "cheekSquintLeft": _bump(np.linalg.norm(f.p - squint_point, axis=-1), 1.8)[:, None] * np.array([0.0, 0.4, 0.12]) * skin,
        "noseSneerLeft": (
            _bump(np.linalg.norm(f.p - ala, axis=-1), 1.3)[:, None] * np.array([0.08, 0.4, 0.05])
            + _bump(np.linalg.norm(f.p - nose_side, axis=-1), 1.4)[:, None] * np.array([0.0, 0.2, -0.08])
        )
        * skin,
    }
    puff_distance = np.hypot((np.abs(f.x) - 4.3) / 2.5, (f.y + 3.6) / 2.7)
    symmetric = {
        "browInnerUp": _bump(f.distance_to(inner_brows), 2.0)[:, None] * np.array([0.0, 0.6, 0.05]) * skin,
        "cheekPuff": _bump(puff_distance, 1.0)[:, None]
        * np.stack([0.55 * np.sign(f.x), np.zeros_like(f.x), 0.3 + 0 * f.x], axis=-1)
        * skin,
    }
    return left, symmetric


# ----------------------------------------------------------------------------------------------
# The rig


@functools.cache
def blendshape_deltas() -> np.ndarray:
    """The 52 displacement fields in `ARKIT_NAMES` order, in metres, shape (K, V, 3)."""
    f = _face()
    mirror = mirror_map()
    flip = np.array([-1.0, 1.0, 1.0])
    upper_left, upper_symmetric = _upper_face_shapes()
    left = {**_eye_shapes(), **_left_mouth_shapes(), **upper_left}
    symmetric = {**_symmetric_mouth_shapes(), **upper_symmetric}
    fields: dict[str, np.ndarray] = {}
    for name, field in left.items():
        local = field * f.region_mask(BLENDSHAPE_REGIONS[name])[:, None]
        fields[name] = local
        fields[mirror_name(name)] = local[mirror] * flip
    for name, field in symmetric.items():
        if name in ("jawLeft", "mouthLeft"):  # directions of motion: they mirror to jawRight, mouthRight
            local = field * f.region_mask(BLENDSHAPE_REGIONS[name])[:, None]
            fields[name], fields[mirror_name(name)] = local, local[mirror] * flip
            continue
        local = field * f.region_mask(BLENDSHAPE_REGIONS[name])[:, None]
        fields[name] = 0.5 * (local + local[mirror] * flip)
    missing = set(ARKIT_NAMES) - set(fields)
    assert not missing, f"unauthored blendshapes: {sorted(missing)}"
    return (np.stack([fields[name] for name in ARKIT_NAMES]) * CM).astype(np.float32)


@functools.cache
def default_rig() -> BlendshapeRig:
    """The default face with its 52 ARKit blendshapes."""
    return BlendshapeRig(face_topology(), blendshape_deltas(), ARKIT_NAMES)


# ----------------------------------------------------------------------------------------------
# Accessories


@dataclass(frozen=True)
class SceneMesh:
    """Everything a renderer or exporter draws for a face: skin plus accessories.

    Attributes:
        vertices: positions in metres, shape (T, N, 3); the first V rows are the face vertices.
        triangles: shape (F, 3) into the N vertices.
        colors: linear RGB in [0, 1] per vertex, shape (N, 3).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray


@dataclass(frozen=True)
class _Part:
    """An accessory: neutral positions (cm), triangles, colours, and its rows of A, shape (Na, V)."""

    positions: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class _Accessories:
    weights: np.ndarray  # A, shape (Va, V)
    offsets: np.ndarray  # c in metres, shape (Va, 3)
    triangles: np.ndarray  # into the scene's vertices (face first)
    colors: np.ndarray  # (V + Va, 3)


def _orient(triangles: np.ndarray, positions: np.ndarray, reference: np.ndarray, outward: bool) -> np.ndarray:
    """Wind triangles so their normals point away from (or toward) reference points (F, 3)."""
    tri = positions[triangles]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    away = np.einsum("fk,fk->f", normal, tri.mean(axis=1) - reference) > 0
    flip = away != outward
    out = triangles.copy()
    out[flip] = out[flip][:, ::-1]
    return out


def _grid_triangles(rows: int, cols: int, closed: bool) -> np.ndarray:
    """Quads between consecutive rings of `cols` vertices, as triangles (rings wrap if closed)."""
    tris = []
    for r in range(rows - 1):
        for c in range(cols if closed else cols - 1):
            a, b = r * cols + c, r * cols + (c + 1) % cols
            tris += [(a, b, b + cols), (a, b + cols, a + cols)]
    return np.asarray(tris, dtype=np.int64)


def _cap(ring_start: int, count: int, centre: int) -> np.ndarray:
    return np.asarray([(ring_start + i, ring_start + (i + 1) % count, centre) for i in range(count)], dtype=np.int64)


# A bag ring: (scale about the rim centroid, vertical spread, sideways widening, depth), in cm.
BagRing = tuple[float, float, float, float]
MOUTH_BAG_RINGS: tuple[BagRing, ...] = (
    (1.0, 0.1, 0.15, 0.3),
    (1.0, 0.45, 0.5, 0.9),
    (0.9, 0.8, 0.5, 1.7),
    (0.7, 0.8, 0.2, 2.5),
    (0.4, 0.5, 0.0, 3.1),
)
MOUTH_BAG_DEPTH_CM = 3.3
EYE_SOCKET_RINGS: tuple[BagRing, ...] = ((1.0, 0.05, 0.0, 0.3), (1.0, 0.2, 0.0, 1.0), (0.6, 0.2, 0.0, 1.7))
EYE_SOCKET_DEPTH_CM = 2.0


def _rim_part(rim: tuple[int, ...], rings: tuple[BagRing, ...], cap_depth: float, color: Vec3) -> _Part:
    """A closed bag hanging behind a loop of face vertices, its normals pointing into the cavity.

    Each ring is the rim scaled about its centroid, pushed back by a depth, with constant offsets that
    raise its upper half, lower its lower half and widen it sideways. Scales are at most 1 and the
    room comes from the constant offsets, so an opening mouth moves the bag without inflating it
    through the chin.
    """
    f = _face()
    n_face = len(f.p)
    rim_p = f.at(rim)
    centre = rim_p.mean(axis=0)
    side = np.sign(np.round(rim_p[:, 1] - centre[1], 3))[:, None]
    across = ((rim_p[:, 0] - centre[0]) / np.abs(rim_p[:, 0] - centre[0]).max())[:, None]
    positions, weights = [rim_p], [np.eye(n_face)[list(rim)]]
    for scale, spread, widen, depth in rings:
        offset = side * [0.0, spread, 0.0] + across * [widen, 0.0, 0.0] - [0.0, 0.0, depth]
        positions.append(centre + scale * (rim_p - centre) + offset)
        w = np.zeros((len(rim), n_face))
        w[:, list(rim)] = (1 - scale) / len(rim)
        w[np.arange(len(rim)), list(rim)] += scale
        weights.append(w)
    positions.append((centre - [0.0, 0.0, cap_depth])[None])
    w = np.zeros((1, n_face))
    w[0, list(rim)] = 1.0 / len(rim)
    weights.append(w)
    pos = np.concatenate(positions)
    n = len(rim)
    tris = np.concatenate([_grid_triangles(len(rings) + 1, n, closed=True), _cap(len(rings) * n, n, len(pos) - 1)])
    bag_centre = pos[n:].mean(axis=0)
    tris = _orient(tris, pos, np.broadcast_to(bag_centre, (len(tris), 3)), outward=False)
    # The rim ring is the face's own vertices: the part keeps it only to stitch the bag to the lips.
    return _Part(pos, tris, np.tile(np.asarray(color), (len(pos), 1)), np.concatenate(weights))


def _sphere(centre: np.ndarray, radius: float, rows: int = 10, cols: int = 18) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0.0, np.pi, rows + 1)[1:-1]
    phi = np.linspace(0.0, 2 * np.pi, cols, endpoint=False)
    t, q = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(q), np.cos(t), np.sin(t) * np.sin(q)], axis=-1).reshape(-1, 3)
    pos = np.concatenate([ring, [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]]) * radius + centre
    n = len(ring)
    tris = np.concatenate([_grid_triangles(rows - 1, cols, closed=True), _cap(0, cols, n), _cap(n - cols, cols, n + 1)])
    return pos, _orient(tris, pos, np.broadcast_to(centre, (len(tris), 3)), outward=True)


def _iris_part(iris: tuple[int, ...], eyeball_centre: np.ndarray) -> _Part:
    """A flat iris disc with a pupil, spanned by the 5 iris points (centre, +x, +y, -x, -y rim)."""
    f = _face()
    n_face = len(f.p)
    rings = ((1.0, LIMBUS_COLOR), (0.88, IRIS_COLOR), (0.47, IRIS_COLOR), (0.43, PUPIL_COLOR))
    angles = np.linspace(0.0, 2 * np.pi, 20, endpoint=False)
    c, px, py, mx, my = iris
    weights, colors = [], []
    for radius, color in rings:
        for a in angles:
            w = np.zeros(n_face)
            w[c] += 1.0
            # Rim differences span the disc plane: centre + r cos(a) (+x - -x) / 2 + r sin(a) (+y - -y) / 2.
            w[px] += 0.5 * radius * np.cos(a)
            w[mx] -= 0.5 * radius * np.cos(a)
            w[py] += 0.5 * radius * np.sin(a)
            w[my] -= 0.5 * radius * np.sin(a)
            weights.append(w)
            colors.append(color)
    centre_w = np.zeros(n_face)
    centre_w[c] = 1.0
    weights.append(centre_w)
    colors.append(PUPIL_COLOR)
    weights_a = np.asarray(weights)
    pos = weights_a @ f.p
    n = len(angles)
    tris = np.concatenate([_grid_triangles(len(rings), n, closed=True), _cap((len(rings) - 1) * n, n, len(pos) - 1)])
    tris = _orient(tris, pos, np.broadcast_to(eyeball_centre, (len(tris), 3)), outward=True)
    return _Part(pos, tris, np.asarray(colors), weights_a)


def _arch(
    front_z: float, half_width: float, depth: float, section: np.ndarray, stations: int = 17
) -> tuple[np.ndarray, np.ndarray]:
    """A dental arch: a cross-section (S, 2) of (outward, y) offsets swept along a horseshoe curve."""
    angle = np.linspace(-1.3, 1.3, stations)
    curve = np.stack([half_width * np.sin(angle), np.zeros_like(angle), front_z - depth * (1 - np.cos(angle))], axis=-1)
    tangent = np.gradient(curve, axis=0)
    outward = np.cross(tangent, [0.0, 1.0, 0.0])
    outward /= np.linalg.norm(outward, axis=-1, keepdims=True)
    outward *= np.sign(outward[:, 2:3] + 1e-9)
    up = np.array([0.0, 1.0, 0.0])
    pos = (curve[:, None] + outward[:, None] * section[None, :, :1] + up * section[None, :, 1:]).reshape(-1, 3)
    s = len(section)
    last = (stations - 1) * s
    caps = [(0, i, i + 1) for i in range(1, s - 1)] + [(last, last + i + 1, last + i) for i in range(1, s - 1)]
    tris = np.concatenate([_grid_triangles(stations, s, closed=True), np.asarray(caps)])
    reference = (
        (curve[:, None] + outward[:, None] * section[:, 0].mean() + [0.0, section[:, 1].mean(), 0.0])
        .repeat(s, axis=1)
        .reshape(-1, 3)
    )
    return pos, _orient(tris.astype(np.int64), pos, reference[tris[:, 0]], outward=True)


# Teeth cross-sections: (outward offset, height) in cm from the incisal edge; gum rows are pink.
UPPER_TEETH_SECTION = np.array([[0.0, 0.0], [0.02, 0.8], [0.08, 1.15], [-0.75, 1.15], [-0.62, 0.8], [-0.45, 0.05]])
LOWER_TEETH_SECTION = UPPER_TEETH_SECTION * [1.0, -1.0]
TEETH_GUM_ROWS = (2, 3)
UPPER_EDGE_CM = -4.22  # just below the upper inner lip (-3.99) so a parted mouth shows the incisors
LOWER_EDGE_CM = -4.12  # a little overbite: the lower incisors rise behind the upper ones
UPPER_FRONT_CM = 4.75  # 0.5 cm behind the inner lips
# The arches stay inside the mouth corners even when the lips or the jaw slide sideways by 5-7 mm.
TEETH_ARCH_HALF_WIDTH_CM = 2.0
TEETH_ARCH_DEPTH_CM = 2.3
LOWER_FRONT_CM = 4.30
SCLERA_RADIUS_CM = EYEBALL_RADIUS / CM - 0.05  # inside the iris disc even half-way through a gaze turn
TONGUE_CENTRE_CM: Vec3 = (0.0, -5.0, 2.0)  # low and back: an open mouth shows the cavity above it
TONGUE_RADII_CM: Vec3 = (1.45, 0.35, 1.5)
PRIOR_RADIUS_CM = 3.0  # the solved accessory rows prefer face vertices within a few cm
PRIOR_FLOOR = 0.02  # ... but may use any vertex a little
SOLVE_RIDGE = 1e-4  # trades exactness of the prescribed motions for small, robust weights
PUSH_TARGET_WEIGHT = 10.0  # the tongue push reader: how much more reading tongueOut matters ...
PUSH_AFFINE_WEIGHT = 100.0  # ... and ignoring rigid jaw motion, than ignoring any other shape
PUSH_RIDGE = 3e-4  # leak of other shapes into the tongue: at most 2.3 mm; weights stay moderate


def _solved_rows(
    positions: np.ndarray,
    expression_motion: Callable[[str, np.ndarray], np.ndarray],
    identity_motion: np.ndarray,
) -> np.ndarray:
    """Rows of A (Na, V) that make accessory points follow prescribed motions exactly.

    Each row a satisfies sum(a) = 1 (the point follows any translation of the face), and for every
    blendshape k and identity mode m: a @ delta_k = expression_motion(k, point) and a @ mode_m =
    identity_motion[m]. Among such rows it is the smallest in a norm that prefers face vertices near
    the part, so motion outside the rig's span moves the part like its neighbourhood.

    Args:
        positions: neutral positions of the part's points in cm, shape (Na, 3).
        expression_motion: blendshape name, points (Na, 3) -> their displacement in cm at weight 1.
        identity_motion: displacement in cm of the whole part per identity mode, shape (M, 3).
    """
    f = _face()
    deltas = blendshape_deltas().astype(np.float64) / CM  # (K, V, 3)
    modes = identity_basis().astype(np.float64) / CM  # (M, V, 3)
    constraints = np.concatenate([np.ones((1, len(f.p))), deltas.transpose(0, 2, 1).reshape(-1, len(f.p)),
                                  modes.transpose(0, 2, 1).reshape(-1, len(f.p))])  # fmt: skip
    targets = [np.ones((len(positions), 1))]
    targets += [expression_motion(name, positions) for name in ARKIT_NAMES]
    targets += [np.broadcast_to(motion, positions.shape) for motion in identity_motion]
    rhs = np.concatenate(targets, axis=1)  # (Na, 1 + 3K + 3M)
    distance = np.linalg.norm(f.p - positions.mean(axis=0), axis=-1)
    prior = np.exp(-((distance / PRIOR_RADIUS_CM) ** 2)) + PRIOR_FLOOR
    gram = (constraints * prior) @ constraints.T
    ridge = SOLVE_RIDGE * np.trace(gram) / len(gram)
    solve = prior[:, None] * constraints.T @ np.linalg.inv(gram + ridge * np.eye(len(gram)))  # (V, C)
    return rhs @ solve.T


def _region_mean(name: str) -> np.ndarray:
    """Mean identity displacement (cm) of a region, per mode, shape (M, 3)."""
    return (identity_basis().astype(np.float64)[:, _face().regions[name]].mean(axis=1)) / CM


def _fixed(name: str, points: np.ndarray) -> np.ndarray:
    return np.zeros_like(points)


@functools.cache
def _tongue_push_reader() -> tuple[np.ndarray, np.ndarray]:
    """A row b (V,) that reads the tongue's push off the lower lip, and what it reads at tongueOut = 1.

    With one scalar weight per face vertex, b @ delta_k is a 3-vector for each shape k. b is the
    smallest row, supported where the jaw moves rigidly (so that b @ (any rigid jaw motion) = 0 via
    sum(b) = 0 and b @ positions = 0), that reads tongueOut's lip push as well as it can while
    reading as little as possible of every other shape and identity mode: a weighted least-squares
    compromise, because no row can isolate one shape exactly. The residual leak moves the tongue by
    at most a few millimetres inside the mouth for other shapes (checked by the tests).

    Returns:
        b, shape (V,); and b @ delta_tongueOut in cm, shape (3,).
    """
    f = _face()
    support = np.flatnonzero(f.jaw_weight > 1 - 1e-6)
    deltas = blendshape_deltas().astype(np.float64) / CM
    modes = identity_basis().astype(np.float64) / CM
    rows = np.concatenate([np.ones((1, len(f.p))), f.p.T, deltas.transpose(0, 2, 1).reshape(-1, len(f.p)),
                           modes.transpose(0, 2, 1).reshape(-1, len(f.p))])[:, support]  # fmt: skip
    tongue = 4 + 3 * ARKIT_NAMES.index("tongueOut")
    target = np.zeros(len(rows))
    target[tongue : tongue + 3] = _tongue_push()[support].sum(axis=0) / np.linalg.norm(_tongue_push()[support].sum(axis=0))
    weight = np.ones(len(rows))
    weight[:4] = PUSH_AFFINE_WEIGHT
    weight[tongue : tongue + 3] = PUSH_TARGET_WEIGHT
    weighted = rows * weight[:, None]
    b_support = np.linalg.solve(weighted.T @ weighted + PUSH_RIDGE * np.eye(len(support)), weighted.T @ (target * weight))
    b = np.zeros(len(f.p))
    b[support] = b_support
    return b, b @ deltas[ARKIT_NAMES.index("tongueOut")]


def _tongue_rows(positions: np.ndarray, identity_motion: np.ndarray) -> np.ndarray:
    """Rows of A for the tongue: ride on the jaw, and slide forward by the push read off the lip."""
    back, tip = TONGUE_CENTRE_CM[2] - TONGUE_RADII_CM[2], TONGUE_CENTRE_CM[2] + TONGUE_RADII_CM[2]
    reach = _smoothstep((positions[:, 2] - back) / (tip - back))  # the tip slides, the root stays
    b, read = _tongue_push_reader()
    return (
        _solved_rows(positions, _jaw_motion, identity_motion)
        + (reach * TONGUE_REACH_CM / np.linalg.norm(read))[:, None] * b[None]
    )


def _parts() -> list[_Part]:
    f = _face()
    mouth_identity = _region_mean("mouth")
    gum = np.zeros(len(UPPER_TEETH_SECTION), dtype=bool)
    gum[list(TEETH_GUM_ROWS)] = True
    inner_lips = UPPER_INNER_LIP + tuple(reversed(LOWER_INNER_LIP[1:-1]))
    parts = [_rim_part(inner_lips, MOUTH_BAG_RINGS, MOUTH_BAG_DEPTH_CM, MOUTH_COLOR)]
    for section, edge, front, follow in (
        (UPPER_TEETH_SECTION, UPPER_EDGE_CM, UPPER_FRONT_CM, _fixed),
        (LOWER_TEETH_SECTION, LOWER_EDGE_CM, LOWER_FRONT_CM, _jaw_motion),
    ):
        pos, tris = _arch(front, TEETH_ARCH_HALF_WIDTH_CM, TEETH_ARCH_DEPTH_CM, section)
        pos[:, 1] += edge
        colors = np.where(np.tile(gum, len(pos) // len(gum))[:, None], GUM_COLOR, TEETH_COLOR)
        parts.append(_Part(pos, tris, colors, _solved_rows(pos, follow, mouth_identity)))
    tongue, tongue_tris = _sphere(np.zeros(3), 1.0, rows=8, cols=16)
    tongue = tongue * TONGUE_RADII_CM + TONGUE_CENTRE_CM
    parts.append(_Part(tongue, tongue_tris, np.tile(TONGUE_COLOR, (len(tongue), 1)), _tongue_rows(tongue, mouth_identity)))
    modes = identity_basis().astype(np.float64) / CM
    for iris, upper, lower in ((RIGHT_IRIS, RIGHT_EYE_UPPER, RIGHT_EYE_LOWER), (LEFT_IRIS, LEFT_EYE_UPPER, LEFT_EYE_LOWER)):
        centre = f.p[iris[0]] - [0.0, 0.0, EYEBALL_RADIUS / CM]
        parts.append(_rim_part(upper + tuple(reversed(lower[1:-1])), EYE_SOCKET_RINGS, EYE_SOCKET_DEPTH_CM, SOCKET_COLOR))
        ball, ball_tris = _sphere(centre, SCLERA_RADIUS_CM, rows=12, cols=20)
        parts.append(_Part(ball, ball_tris, np.tile(SCLERA_COLOR, (len(ball), 1)), _solved_rows(ball, _fixed, modes[:, iris[0]])))
        parts.append(_iris_part(iris, centre))
    return parts


@functools.cache
def _accessories() -> _Accessories:
    """A, c, triangles and colours of the scene, computed once."""
    f = _face()
    n_face = len(f.p)
    weights, offsets, triangles = [], [], [face_topology().triangles.astype(np.int64)]
    colors = [_skin_colors()]
    count = n_face
    for part in _parts():
        # Every part has vertices of its own, even where its rim sits on face vertices (the mouth bag
        # on the inner lips): shared vertices would give the rim the skin's colour, and the dark
        # interior would fade to lip colour across the opening.
        index = count + np.arange(len(part.positions))
        count += len(part.positions)
        weights.append(part.weights)
        offsets.append((part.positions - part.weights @ f.p) * CM)
        tris = index[part.triangles]
        # Two rim samples can land on one face vertex; the triangles between them have no area.
        rim = np.flatnonzero((np.abs(part.weights) > 1e-12).sum(axis=1) == 1)
        same = {int(i): int(j) for i, j in zip(rim, part.weights[rim].argmax(axis=1), strict=True)}
        key = np.array([same.get(int(i), -1 - int(i)) for i in range(len(part.positions))])[part.triangles]
        distinct = (key[:, 0] != key[:, 1]) & (key[:, 1] != key[:, 2]) & (key[:, 2] != key[:, 0])
        triangles.append(tris[distinct])
        colors.append(part.colors)
    return _Accessories(
        weights=np.concatenate(weights).astype(np.float32),
        offsets=np.concatenate(offsets).astype(np.float32),
        triangles=np.concatenate(triangles).astype(np.int32),
        colors=np.clip(np.concatenate(colors), 0.0, 1.0).astype(np.float32),
    )


def _skin_colors() -> np.ndarray:
    """Skin tone, tinted toward the lip colour around the lips and the brow colour along the brows, (V, 3)."""
    f = _face()
    tint = _bump(f.lips_distance, LIP_TINT_WIDTH_CM)[:, None]
    colors = (1 - tint) * np.asarray(SKIN_COLOR) + tint * np.asarray(LIP_COLOR)
    brow = BROW_TINT * _bump(f.distance_to(LEFT_BROW + RIGHT_BROW), BROW_TINT_WIDTH_CM)[:, None]
    colors = (1 - brow) * colors + brow * np.asarray(BROW_COLOR)
    colors[NUM_MESH_VERTICES:] = PUPIL_COLOR  # the iris points are drawn only as the pupil centres
    return colors


def scene_mesh(face_vertices: np.ndarray) -> SceneMesh:
    """The drawable scene for face vertices of the default topology: skin plus accessories.

    Args:
        face_vertices: positions in metres, shape (T, V, 3) or (V, 3).

    Returns:
        The scene with vertices of shape (T, V + Va, 3): the face vertices unchanged, then the
        accessories, each an affine function of the face vertices.
    """
    vertices = np.asarray(face_vertices, dtype=np.float32)
    if vertices.ndim == 2:
        vertices = vertices[None]
    accessories = _accessories()
    extra = accessories.weights @ vertices + accessories.offsets  # (Va, V) @ (T, V, 3): BLAS, 10x an einsum
    return SceneMesh(np.concatenate([vertices, extra.astype(np.float32)], axis=1), accessories.triangles, accessories.colors)
