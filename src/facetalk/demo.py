"""`make demo`: a hand-keyed animation of the embedded face, exported to every format and rendered.

The keyframes exercise speech-like mouth shapes, blinks, gaze, brows and emotions, so one look at
`out/demo.mp4` shows whether the face, the rig and the renderer work. (Speech-driven animation
replaces this clip as the demo once the animator lands.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facetalk.export import export_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.render import render_video
from facetalk.types import Motion

DEMO_FPS = 30.0
DEMO_EXPORTS = ("npz", "arkit-json", "livelink-csv", "glb")
_EXTENSIONS = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb"}

# (time in seconds, {blendshape: weight}); shapes not named in a key are at 0 there.
DEMO_KEYS: tuple[tuple[float, dict[str, float]], ...] = (
    (0.00, {}),
    (0.30, {"jawOpen": 0.45, "mouthFunnel": 0.2}),
    (0.45, {"mouthClose": 0.1, "mouthPressLeft": 0.5, "mouthPressRight": 0.5, "mouthRollLower": 0.3}),
    (0.65, {"jawOpen": 0.6, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3}),
    (0.85, {"jawOpen": 0.2, "mouthPucker": 0.8}),
    (
        1.05,
        {
            "jawOpen": 0.35,
            "mouthUpperUpLeft": 0.4,
            "mouthUpperUpRight": 0.4,
            "mouthLowerDownLeft": 0.3,
            "mouthLowerDownRight": 0.3,
        },
    ),
    (1.25, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    (1.40, {}),
    (
        1.80,
        {
            "mouthSmileLeft": 0.9,
            "mouthSmileRight": 0.9,
            "cheekSquintLeft": 0.5,
            "cheekSquintRight": 0.5,
            "eyeSquintLeft": 0.3,
            "eyeSquintRight": 0.3,
        },
    ),
    (2.30, {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "jawOpen": 0.3, "browInnerUp": 0.3}),
    (2.70, {"eyeLookOutLeft": 0.9, "eyeLookInRight": 0.9}),
    (3.00, {"eyeLookInLeft": 0.9, "eyeLookOutRight": 0.9}),
    (3.30, {"eyeLookUpLeft": 0.7, "eyeLookUpRight": 0.7, "browOuterUpLeft": 0.6, "browOuterUpRight": 0.6}),
    (
        3.70,
        {
            "jawOpen": 0.7,
            "eyeWideLeft": 1.0,
            "eyeWideRight": 1.0,
            "browInnerUp": 1.0,
            "browOuterUpLeft": 0.8,
            "browOuterUpRight": 0.8,
        },
    ),
    (
        4.20,
        {
            "browDownLeft": 0.9,
            "browDownRight": 0.9,
            "noseSneerLeft": 0.6,
            "noseSneerRight": 0.6,
            "mouthFrownLeft": 0.6,
            "mouthFrownRight": 0.6,
        },
    ),
    (4.70, {"mouthFrownLeft": 0.8, "mouthFrownRight": 0.8, "browInnerUp": 0.8, "mouthShrugLower": 0.5}),
    (5.00, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    (5.15, {}),
    (5.50, {}),
)


def demo_motion(fps: float = DEMO_FPS) -> Motion:
    """The demo clip: ARKit-52 weights eased between `DEMO_KEYS` (smoothstep), at `fps`."""
    key_times = np.array([t for t, _ in DEMO_KEYS])
    key_weights = np.array([[pose.get(name, 0.0) for name in ARKIT_NAMES] for _, pose in DEMO_KEYS])  # (N, 52)
    times = np.arange(round(key_times[-1] * fps) + 1) / fps
    segment = np.clip(np.searchsorted(key_times, times, side="right") - 1, 0, len(key_times) - 2)
    u = (times - key_times[segment]) / (key_times[segment + 1] - key_times[segment])
    ease = (u * u * (3.0 - 2.0 * u))[:, None]
    weights = (1.0 - ease) * key_weights[segment] + ease * key_weights[segment + 1]
    return Motion(weights.astype(np.float32), fps, "blendshapes", ARKIT_NAMES)


def demo(out_dir: str | Path = "out", *, progress: bool = True) -> list[Path]:
    """Write the demo clip to `out_dir` in every export format plus an MP4; return the paths."""
    out = Path(out_dir)
    motion = demo_motion()
    paths = []
    for name in DEMO_EXPORTS:
        path = out / f"demo{_EXTENSIONS[name]}"
        export_motion(motion, path, format=name)
        paths.append(path)
    video = out / "demo.mp4"
    render_video(motion, video, progress=progress)
    paths.append(video)
    return paths
