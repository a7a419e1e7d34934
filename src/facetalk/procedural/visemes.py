"""Viseme target poses: what the mouth aims for during each phone, in articulatory parameters.

The animator works in a small articulatory space (`PARAMS`) that maps onto ARKit channels in
`animator.py`; symmetric parameters drive both sides of a left/right pair, and lip closure is not a
blendshape but the fraction of the jaw's lip opening that the lips take back (`mouthClose` =
closure × `jawOpen`, the way ARKit captures encode closed lips over a dropped jaw).

Every viseme class of `facetalk.text.phonemes.Viseme` has a target pose and a dominance per
parameter group (see `coarticulation.py`): how strongly the phone insists on that group. The poses
follow the phonetic descriptions of the classes:

| class           | target                                                   | insists on      |
|-----------------|----------------------------------------------------------|-----------------|
| BILABIAL        | lips closed (closure 1) and pressed, jaw nearly closed   | closure, lips   |
| LABIODENTAL     | lower lip rolled in under the upper teeth, upper lip up  | lips            |
| DENTAL          | jaw a little open, tongue tip between the teeth          | jaw, tongue     |
| ALVEOLAR        | teeth nearly closed, lips neutral                        | jaw             |
| POSTALVEOLAR    | lips pushed forward (funnel), teeth close                | rounding, jaw   |
| VELAR           | jaw slightly open                                        | (little)        |
| GLOTTAL (HH)    | nothing of its own: neighbours show through              | nothing         |
| R / W           | lips rounded (W tightly)                                 | rounding        |
| Y               | lips spread, jaw nearly closed                           | lips            |
| vowels          | jaw open by vowel height, rounded vowels pucker/funnel,  | jaw, rounding   |
|                 | front vowels spread                                      |                 |
| SILENCE         | rest                                                     | moderately      |

Vowels refine their class by phone (`VOWEL_POSES`): jaw opening follows vowel height (low AA/AE
widest, high IY/UW narrowest), and stress scales it (`STRESS_JAW_GAIN`): primary-stressed vowels
open wider, unstressed ones are reduced. Diphthongs (AY, AW, OY, EY, OW) move between two poses
within their interval (`DIPHTHONGS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facetalk.text.phonemes import Viseme, base_phone, stress, viseme

PARAMS: tuple[str, ...] = (
    "jaw",  # jawOpen
    "funnel",  # mouthFunnel
    "pucker",  # mouthPucker
    "stretch",  # mouthStretchLeft/Right: lips spread
    "upper_up",  # mouthUpperUpLeft/Right
    "lower_down",  # mouthLowerDownLeft/Right
    "roll_lower",  # mouthRollLower: lower lip under the upper teeth
    "roll_upper",  # mouthRollUpper
    "press",  # mouthPressLeft/Right
    "shrug_lower",  # mouthShrugLower
    "tongue",  # tongueOut
    "closure",  # lips sealed: mouthClose = closure × jawOpen
)
"""The articulatory parameters, in the order of every parameter vector (P = 12)."""
PARAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(PARAMS)}

GROUPS: tuple[str, ...] = ("jaw", "rounding", "lips", "closure")
"""Parameter groups that share one dominance: a phone can insist on its jaw but not its lips."""
GROUP_OF_PARAM: dict[str, str] = {
    "jaw": "jaw", "tongue": "jaw",
    "funnel": "rounding", "pucker": "rounding",
    "stretch": "lips", "upper_up": "lips", "lower_down": "lips", "roll_lower": "lips", "roll_upper": "lips",
    "press": "lips", "shrug_lower": "lips",
    "closure": "closure",
}  # fmt: skip
PARAM_GROUP: np.ndarray = np.array([GROUPS.index(GROUP_OF_PARAM[name]) for name in PARAMS])
"""The group index of each parameter, shape (P,)."""

STRESS_JAW_GAIN: dict[int | None, float] = {1: 1.2, 2: 1.0, 0: 0.75, None: 1.0}
"""Jaw opening of a vowel by its stress digit: stressed vowels open wider, reduced ones less."""
STRESS_DOMINANCE_GAIN: dict[int | None, float] = {1: 1.3, 2: 1.1, 0: 0.8, None: 1.0}
"""Stressed vowels also hold their target more firmly against their neighbours."""


@dataclass(frozen=True)
class Pose:
    """A target pose with its dominance.

    Attributes:
        target: parameter name -> value; missing parameters are 0 (rest).
        dominance: group name -> dominance magnitude α (Cohen & Massaro); missing groups take
            `default_dominance`.
        default_dominance: α of the groups not listed.
    """

    target: dict[str, float] = field(default_factory=dict)
    dominance: dict[str, float] = field(default_factory=dict)
    default_dominance: float = 0.3

    def target_vector(self) -> np.ndarray:
        """The target as a vector over `PARAMS`, shape (P,)."""
        vec = np.zeros(len(PARAMS))
        for name, value in self.target.items():
            vec[PARAM_INDEX[name]] = value
        return vec

    def dominance_vector(self) -> np.ndarray:
        """α per parameter (its group's), shape (P,)."""
        per_group = np.array([self.dominance.get(g, self.default_dominance) for g in GROUPS])
        return per_group[PARAM_GROUP]


# Non-bilabial phones hold their lips open (closure 0) about as firmly as bilabials close them, so
# a bilabial's closure reaches only a little way into its neighbours; the animator still enforces
# full closure inside every bilabial.
_OPEN_LIPS = {"closure": 1.0}

VISEME_POSES: dict[Viseme, Pose] = {
    Viseme.BILABIAL: Pose(
        {"jaw": 0.07, "press": 0.35, "closure": 1.0, "roll_lower": 0.08, "roll_upper": 0.08},
        {"jaw": 0.5, "rounding": 0.15, "lips": 1.0, "closure": 2.0},
    ),
    Viseme.LABIODENTAL: Pose(
        {"jaw": 0.07, "roll_lower": 0.65, "upper_up": 0.3, "press": 0.05},
        {"jaw": 0.45, "rounding": 0.3, "lips": 1.2, **_OPEN_LIPS},
    ),
    Viseme.DENTAL: Pose(
        {"jaw": 0.13, "tongue": 0.13, "upper_up": 0.15, "lower_down": 0.15},
        {"jaw": 0.5, "rounding": 0.2, "lips": 0.5, **_OPEN_LIPS},
    ),
    Viseme.ALVEOLAR: Pose(
        {"jaw": 0.08, "stretch": 0.08, "upper_up": 0.1, "lower_down": 0.1},
        {"jaw": 0.45, "rounding": 0.12, "lips": 0.25, **_OPEN_LIPS},
    ),
    Viseme.POSTALVEOLAR: Pose(
        {"jaw": 0.08, "funnel": 0.5, "pucker": 0.2, "upper_up": 0.2, "lower_down": 0.15},
        {"jaw": 0.5, "rounding": 1.0, "lips": 0.6, **_OPEN_LIPS},
    ),
    Viseme.VELAR: Pose(
        {"jaw": 0.16, "lower_down": 0.05},
        {"jaw": 0.35, "rounding": 0.12, "lips": 0.2, **_OPEN_LIPS},
    ),
    Viseme.GLOTTAL: Pose({"jaw": 0.2}, {"closure": 0.5}, default_dominance=0.04),
    Viseme.R: Pose(
        {"jaw": 0.1, "funnel": 0.3, "pucker": 0.25},
        {"jaw": 0.35, "rounding": 0.7, "lips": 0.3, **_OPEN_LIPS},
    ),
    Viseme.W: Pose(
        {"jaw": 0.05, "pucker": 0.75, "funnel": 0.25},
        {"jaw": 0.5, "rounding": 1.2, "lips": 0.5, **_OPEN_LIPS},
    ),
    Viseme.Y: Pose(
        {"jaw": 0.07, "stretch": 0.3, "upper_up": 0.05},
        {"jaw": 0.5, "rounding": 0.5, "lips": 0.6, **_OPEN_LIPS},
    ),
    # Vowel classes: the per-phone poses below refine these.
    Viseme.ROUNDED_VOWEL: Pose({"jaw": 0.25, "funnel": 0.35, "pucker": 0.35}, {"jaw": 1.0, "rounding": 1.0, "lips": 0.5}),
    Viseme.OPEN_VOWEL: Pose({"jaw": 0.45, "lower_down": 0.2, "upper_up": 0.1}, {"jaw": 1.0, "rounding": 0.5, "lips": 0.5}),
    Viseme.MID_FRONT_VOWEL: Pose({"jaw": 0.25, "stretch": 0.25, "upper_up": 0.08}, {"jaw": 1.0, "rounding": 0.5, "lips": 0.5}),
    Viseme.SILENCE: Pose({}, {"jaw": 0.5, "rounding": 0.5, "lips": 0.5, "closure": 0.5}),
}
"""One target pose and dominance per viseme class."""

_VOWEL_DOMINANCE = {"jaw": 1.0, "rounding": 0.5, "lips": 0.5, "closure": 1.0}
_ROUND_DOMINANCE = {"jaw": 1.0, "rounding": 1.0, "lips": 0.5, "closure": 1.0}

VOWEL_POSES: dict[str, Pose] = {
    # open vowels: jaw by height (AA lowest)
    "AA": Pose({"jaw": 0.57, "lower_down": 0.2, "upper_up": 0.08}, _VOWEL_DOMINANCE),
    "AE": Pose({"jaw": 0.51, "lower_down": 0.22, "upper_up": 0.12, "stretch": 0.2}, _VOWEL_DOMINANCE),
    "AH": Pose({"jaw": 0.41, "lower_down": 0.15, "upper_up": 0.06}, _VOWEL_DOMINANCE),
    # mid and front vowels: spread lips, jaw by height (IY highest)
    "EH": Pose({"jaw": 0.37, "stretch": 0.22, "lower_down": 0.12, "upper_up": 0.08}, _VOWEL_DOMINANCE),
    "IH": Pose({"jaw": 0.23, "stretch": 0.25, "upper_up": 0.06}, _VOWEL_DOMINANCE),
    "IY": Pose({"jaw": 0.15, "stretch": 0.38, "upper_up": 0.08}, _VOWEL_DOMINANCE),
    "ER": Pose({"jaw": 0.23, "funnel": 0.28, "pucker": 0.1}, _ROUND_DOMINANCE),
    # rounded vowels: pucker for the high ones, funnel for the mid/low ones
    "UW": Pose({"jaw": 0.14, "pucker": 0.7, "funnel": 0.3}, _ROUND_DOMINANCE),
    "UH": Pose({"jaw": 0.23, "pucker": 0.35, "funnel": 0.3}, _ROUND_DOMINANCE),
    "OW": Pose({"jaw": 0.34, "funnel": 0.5, "pucker": 0.3}, _ROUND_DOMINANCE),
    "AO": Pose({"jaw": 0.48, "funnel": 0.45, "pucker": 0.1}, _ROUND_DOMINANCE),
}
"""Monophthong poses by phone (stress removed)."""

DIPHTHONGS: dict[str, tuple[str, str, float]] = {
    "AY": ("AA", "IY", 0.55),
    "AW": ("AA", "UH", 0.55),
    "OY": ("AO", "IY", 0.55),
    "EY": ("EH", "IY", 0.6),
    "OW": ("OW", "UW", 0.65),
}
"""Diphthong -> (first pose, second pose, the fraction of its interval the first pose takes)."""


@dataclass(frozen=True)
class PhoneTarget:
    """One pose for a part of a phone's interval.

    Attributes:
        start: fraction of the phone's interval where this part starts (0 ... 1).
        end: fraction where it ends.
        target: parameter targets, shape (P,).
        dominance: α per parameter, shape (P,).
    """

    start: float
    end: float
    target: np.ndarray
    dominance: np.ndarray


def _vowel_pose(base: str) -> Pose:
    return VOWEL_POSES.get(base) or VISEME_POSES[viseme(base)]


def phone_targets(label: str) -> list[PhoneTarget]:
    """The pose or poses of one ARPAbet phone (with optional stress digit) or "SIL".

    Vowels take their phone pose with stress scaling the jaw and the dominance; diphthongs give two
    parts. Every other phone gives one part with its viseme class's pose.
    """
    base = base_phone(label)
    digit = stress(label)
    if base in DIPHTHONGS:
        first, second, split = DIPHTHONGS[base]
        parts = [(0.0, split, _vowel_pose(first)), (split, 1.0, _vowel_pose(second))]
    elif base in VOWEL_POSES:
        parts = [(0.0, 1.0, VOWEL_POSES[base])]
    else:
        parts = [(0.0, 1.0, VISEME_POSES[viseme(label)])]
    out = []
    for start, end, pose in parts:
        target = pose.target_vector()
        dominance = pose.dominance_vector()
        if base in VOWEL_POSES or base in DIPHTHONGS:
            target[PARAM_INDEX["jaw"]] *= STRESS_JAW_GAIN[digit]
            dominance = dominance * STRESS_DOMINANCE_GAIN[digit]
        out.append(PhoneTarget(start, end, target, dominance))
    return out
