"""The 52 ARKit blendshape names, their canonical order, and left/right pairs.

The canonical order is Apple's documentation order, which is also the Live Link UDP packet order
and the order of Audio2Face's `facsNames` (shared FORMATS.md §6). "Left" is the subject's left.
"""

from __future__ import annotations

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
NUM_ARKIT = len(ARKIT_NAMES)

HEAD_AND_EYE_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
"""The 9 values that follow the 52 weights in Live Link Face packets and CSV files."""


def mirror_name(name: str) -> str:
    """The name of the mirrored shape: eyeBlinkLeft <-> eyeBlinkRight, jawLeft <-> jawRight.

    For jawLeft/jawRight and mouthLeft/mouthRight the suffix is a direction of motion, which
    mirrors the same way. Unpaired shapes (jawOpen, browInnerUp, ...) mirror to themselves.
    """
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


MIRROR_PAIRS: tuple[tuple[str, str], ...] = tuple((name, mirror_name(name)) for name in ARKIT_NAMES if name.endswith("Left"))
