"""An emotion recognizer over motion windows, and the emotion metrics computed with it.

Paper 002 checks that generated faces show the requested emotion with an image-based emotion
recognizer and reports its confusion matrix; paper 000 compares real and generated animation with a
Fréchet distance (FID) in a recognizer's feature space. `EmotionRecognizer` is the motion-space
counterpart of both: a small classifier of 2 s motion windows (blendshapes, vertices or parameters,
whatever it was trained on) into the 7 categories of `facetalk.types.EMOTIONS`.

The network (sizes in `EmotionRecognizer`):

1. Each window is split into its mean over time (the window's face) and the frames' deviations from
   that mean. The deviations are paper 001's mean-normalised motion (Eq. 1): free of the subject's
   identity, they carry how the face moves. The mean carries what the face holds, and a held
   expression is most of what shows an emotion (a smile, lowered brows), so it is kept as a second
   input, standardized with the training windows' statistics, instead of being discarded.
2. Both go through linear projections to `width` channels and are summed per frame, then three
   residual 1D conv blocks (kernel 5, GELU, per-frame LayerNorm) mix neighbouring frames.
3. Temporal mean and standard deviation pooling (as paper 001 pools its style encoder) give the
   embedding of size 2·width, the feature space of `emotion_fid`; a linear head gives 7 logits.

`train_recognizer` fits it to labelled clips with class-balanced cross-entropy, holding out clips
(not windows, which overlap) for validation; `train_recognizer_on_dataset` does the same from a
registered dataset and saves the result with `save_recognizer`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facetalk.data.windows import plan_windows
from facetalk.errors import InvalidInputError
from facetalk.files import atomic_output, load_weights, save_weights
from facetalk.types import EMOTIONS, MOTION_KINDS, Motion, MotionKind, Seconds

WINDOW_S: Seconds = 2.0
"""Length of a recognizer window: long enough for a held expression and a few syllables."""
HOP_S: Seconds = 1.0
"""Time between window starts."""
KERNEL_SIZE = 5
NUM_BLOCKS = 3
EPOCHS = 30
MIN_SCALE_FRACTION = 1e-3
"""Channel stds below this fraction of the largest one are raised to it: still channels are centred, not blown up."""
POOL_EPS = 1e-6
"""Added to the pooled variance so that the square root has a gradient on still windows."""
SCALE_FIT_WINDOWS = 256
"""`fit_scale` sees at most this many training windows (drawn at random): enough for per-channel stds."""
FIT_CHUNK_WINDOWS = 32
"""`fit_scale` reduces this many windows at a time."""
INFERENCE_BATCH = 256
"""Windows per forward pass in the inference helpers."""
RECOGNIZER_CONFIG = "recognizer.json"
RECOGNIZER_WEIGHTS = "recognizer.safetensors"
REPORT_FILE = "report.json"
SHIPPED_RECOGNIZER = "emotion_recognizer"
"""The shipped recognizer's directory name under `weights/`."""
FORMAT_VERSION = 1
NEUTRAL = EMOTIONS.index("neutral")
XYZ = 3
TARGETS = ("vertices", "motion")


# --- Windows -----------------------------------------------------------------------------------


def _window_plan(num_frames: int, fps: float, window_s: Seconds, hop_s: Seconds) -> tuple[int, list[int]]:
    """(W, window starts) of a clip of `num_frames` frames."""
    length, hop = round(window_s * fps), round(hop_s * fps)
    if length < 1 or hop < 1:
        raise InvalidInputError(f"windows of {window_s} s every {hop_s} s have no frames at {fps} fps")
    if num_frames < 1:
        raise InvalidInputError("a clip without frames has no windows")
    return length, [window.start for window in plan_windows([num_frames], length=length, stride=hop, min_frames=1)]


def _cut(data: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frames [start, start + length) of `data` (T, D), the last frame repeated past the clip's end."""
    window = data[start : start + length]
    if len(window) < length:
        window = np.concatenate([window, np.repeat(window[-1:], length - len(window), axis=0)])
    return window


def motion_windows(data: np.ndarray, fps: float, *, window_s: Seconds = WINDOW_S, hop_s: Seconds = HOP_S) -> np.ndarray:
    """Cut a clip into overlapping windows of W = round(window_s · fps) frames.

    Windows start every round(hop_s · fps) frames and the last one ends at the clip's end (as in
    `facetalk.data.windows.plan_windows`); a clip shorter than one window gives one window padded
    by repeating its last frame.

    Args:
        data: per-frame values, shape (T, D): motion, or per-frame emotion vectors.
        fps: frames per second.
        window_s: window length, seconds.
        hop_s: time between window starts, seconds.

    Returns:
        Windows, shape (N, W, D).
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise InvalidInputError(f"data to cut into windows must have shape (T, D), got {data.shape}")
    length, starts = _window_plan(len(data), fps, window_s, hop_s)
    return np.stack([_cut(data, start, length) for start in starts])  # (N, W, D)


def window_labels(emotion: np.ndarray, fps: float, *, window_s: Seconds = WINDOW_S, hop_s: Seconds = HOP_S) -> np.ndarray:
    """The emotion of each window of `motion_windows`: the argmax of its mean emotion vector, shape (N,).

    Args:
        emotion: per-frame emotion vectors over `EMOTIONS`, shape (T, 7).
        fps: frames per second.
        window_s: window length, seconds.
        hop_s: time between window starts, seconds.
    """
    return _window_emotions(emotion, fps, window_s, hop_s).argmax(axis=1)


def _window_emotions(emotion: np.ndarray, fps: float, window_s: Seconds, hop_s: Seconds) -> np.ndarray:
    """Mean emotion vector of each window, shape (N, 7)."""
    emotion = np.asarray(emotion, dtype=np.float32)
    if emotion.ndim != 2 or emotion.shape[1] != len(EMOTIONS):
        raise InvalidInputError(f"per-frame emotion must have shape (T, {len(EMOTIONS)}), got {emotion.shape}")
    return motion_windows(emotion, fps, window_s=window_s, hop_s=hop_s).mean(axis=1)  # (N, 7)


# --- The recognizer ----------------------------------------------------------------------------


class ResidualConvBlock(nn.Module):
    """x + GELU(conv(LayerNorm(x))): a per-frame LayerNorm, then a conv over time; (B, T, C) to (B, T, C)."""

    def __init__(self, *, width: int, kernel_size: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.conv = nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x).transpose(1, 2)  # (B, C, T)
        return x + self.act(self.conv(h)).transpose(1, 2)  # (B, T, C)


def _floored(std: torch.Tensor) -> torch.Tensor:
    """Per-channel stds (D,) with the tiny ones raised to `MIN_SCALE_FRACTION` of the largest (1 if all are 0)."""
    largest = float(std.max()) if std.numel() else 0.0
    return std.clamp_min(MIN_SCALE_FRACTION * largest) if largest > 0 else torch.ones_like(std)


class EmotionRecognizer(nn.Module):
    """Classify motion windows into the 7 emotion categories (see the module docstring).

    Args:
        motion_dim: D, motion channels (52 for ARKit weights, 3V for vertices).
        width: C, hidden channels; the embedding has 2·C.
        num_classes: emotion categories.
        fps: frames per second of the motion it accepts.
        window_s: window length, seconds.
        hop_s: time between window starts when a clip is cut into windows, seconds.
        kind: the motion kind it accepts ("blendshapes", "vertices" or "params").
        channels: channel names of blendshape or parameter motion; empty for vertices.
    """

    scale: torch.Tensor
    offset_mean: torch.Tensor
    offset_scale: torch.Tensor

    def __init__(self, *, motion_dim: int, width: int = 64, num_classes: int = len(EMOTIONS), fps: float = 30.0,
                 window_s: Seconds = WINDOW_S, hop_s: Seconds = HOP_S, kind: str = "blendshapes",
                 channels: Sequence[str] = ()) -> None:  # fmt: skip
        super().__init__()
        if kind not in MOTION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MOTION_KINDS)}, got {kind!r}")
        self.motion_dim, self.width, self.num_classes = motion_dim, width, num_classes
        self.fps, self.window_s, self.hop_s, self.kind, self.channels = fps, window_s, hop_s, kind, tuple(channels)
        # deviations of frames from the window's mean, and the window's mean (paper 001's Eq. 1 splits them)
        self.register_buffer("scale", torch.ones(motion_dim))
        self.register_buffer("offset_mean", torch.zeros(motion_dim))
        self.register_buffer("offset_scale", torch.ones(motion_dim))
        self.project = nn.Linear(motion_dim, width)
        self.project_offset = nn.Linear(motion_dim, width)
        self.blocks = nn.ModuleList(ResidualConvBlock(width=width, kernel_size=KERNEL_SIZE) for _ in range(NUM_BLOCKS))
        self.head = nn.Linear(2 * width, num_classes)

    @property
    def window_frames(self) -> int:
        """W, frames per window."""
        return round(self.window_s * self.fps)

    @property
    def embedding_dim(self) -> int:
        """E = 2·width, the size of `embed`'s output."""
        return 2 * self.width

    @torch.no_grad()
    def fit_scale(self, windows: torch.Tensor) -> None:
        """Fit the normalisation buffers to training windows (N, W, D).

        `scale` is the per-channel std of the frames' deviations from their window's mean;
        `offset_mean` and `offset_scale` are the per-channel mean and std of the windows' means.
        """
        if windows.ndim != 3 or windows.shape[-1] != self.motion_dim or not len(windows):
            raise ValueError(f"fit_scale needs windows of shape (N, W, {self.motion_dim}), got {tuple(windows.shape)}")
        squares = torch.zeros(self.motion_dim, dtype=torch.float64)  # (D,)
        means = []
        for chunk in torch.split(windows, FIT_CHUNK_WINDOWS):  # (n, W, D); chunks keep vertex windows' copies small
            mean = chunk.mean(dim=1, keepdim=True)  # (n, 1, D)
            squares += (chunk - mean).square().sum(dim=(0, 1)).double()
            means.append(mean[:, 0].double())
        window_means = torch.cat(means)  # (N, D)
        self.scale.copy_(_floored((squares / (windows.shape[0] * windows.shape[1])).sqrt()))
        self.offset_mean.copy_(window_means.mean(dim=0))
        self.offset_scale.copy_(_floored(window_means.std(dim=0, unbiased=False)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding of motion windows (B, W, D) in data units, shape (B, 2·width)."""
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, D)
        # project((x - mean) / scale), with the division folded into the weights: D can be 3V, large
        moving = F.linear(x - mean, self.project.weight / self.scale, self.project.bias)  # (B, W, C)
        held = self.project_offset((mean - self.offset_mean) / self.offset_scale)  # (B, 1, C)
        h = moving + held  # (B, W, C)
        for block in self.blocks:
            h = block(h)
        std = (h.var(dim=1, unbiased=False) + POOL_EPS).sqrt()  # (B, C)
        return torch.cat([h.mean(dim=1), std], dim=-1)  # (B, 2C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Emotion logits (B, 7) of motion windows (B, W, D)."""
        return self.head(self.embed(x))

    def state_digest(self) -> str:
        """A short hash of the weights and buffers: names what a cache of its outputs was computed with."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


# --- Saving and loading ------------------------------------------------------------------------


def _config(recognizer: EmotionRecognizer) -> dict[str, Any]:
    config: dict[str, Any] = {
        "format": "facetalk.emotion_recognizer",
        "version": FORMAT_VERSION,
        "motion_dim": recognizer.motion_dim,
        "width": recognizer.width,
        "num_classes": recognizer.num_classes,
        "fps": recognizer.fps,
        "window_s": recognizer.window_s,
        "hop_s": recognizer.hop_s,
        "kind": recognizer.kind,
    }
    if recognizer.kind == "vertices":
        config["num_vertices"] = recognizer.motion_dim // XYZ
    else:
        config["channels"] = list(recognizer.channels)
    return config


def save_recognizer(recognizer: EmotionRecognizer, directory: str | os.PathLike[str]) -> Path:
    """Write `recognizer.json` (sizes and the motion it accepts) and `recognizer.safetensors`, atomically."""
    return save_weights(directory, recognizer.state_dict(), _config(recognizer), weights_name=RECOGNIZER_WEIGHTS,
                        config_name=RECOGNIZER_CONFIG)  # fmt: skip


def load_recognizer(directory: str | os.PathLike[str]) -> EmotionRecognizer:
    """Rebuild a recognizer saved by `save_recognizer`, in eval mode."""
    config, state = load_weights(directory, weights_name=RECOGNIZER_WEIGHTS, config_name=RECOGNIZER_CONFIG,
                                 what="emotion recognizer")  # fmt: skip
    try:
        if config.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported version {config.get('version')!r}")
        recognizer = EmotionRecognizer(motion_dim=int(config["motion_dim"]), width=int(config["width"]),
                                       num_classes=int(config["num_classes"]), fps=float(config["fps"]),
                                       window_s=float(config["window_s"]), hop_s=float(config["hop_s"]),
                                       kind=str(config["kind"]), channels=tuple(config.get("channels", ())))  # fmt: skip
        recognizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise InvalidInputError(f"{directory}: unreadable emotion recognizer ({exc})") from None
    return recognizer.eval()


# --- Inference ---------------------------------------------------------------------------------


def _accepted_data(recognizer: EmotionRecognizer, motion: Motion) -> np.ndarray:
    """`motion.data` (T, D) in the recognizer's channel order, after checking that the recognizer accepts it."""
    if motion.kind != recognizer.kind:
        raise InvalidInputError(f"the emotion recognizer reads {recognizer.kind} motion, got {motion.kind}")
    if not math.isclose(motion.fps, recognizer.fps, rel_tol=1e-6):
        raise InvalidInputError(f"the emotion recognizer reads motion at {recognizer.fps:g} fps, got {motion.fps:g} fps")
    if recognizer.channels and motion.channels != recognizer.channels:
        missing = [name for name in recognizer.channels if name not in motion.channels]
        if missing:
            more = " ..." if len(missing) > 3 else ""
            raise InvalidInputError(f"motion lacks the recognizer's channels {', '.join(missing[:3])}{more}")
        return motion.select(recognizer.channels)  # same names in another order
    if motion.data.shape[1] != recognizer.motion_dim:
        raise InvalidInputError(f"the emotion recognizer reads D = {recognizer.motion_dim}, got D = {motion.data.shape[1]}")
    return motion.data


def accepts(recognizer: EmotionRecognizer, motion: Motion) -> bool:
    """Whether the recognizer reads `motion`: its kind, fps and channels (or D) are the ones it was trained on."""
    try:
        _accepted_data(recognizer, motion)
    except InvalidInputError:
        return False
    return True


def shipped_recognizer_path() -> Path | None:
    """The directory of the recognizer shipped under `weights/` (`SHIPPED_RECOGNIZER`), or None if there is none."""
    from facetalk.assets import weights_path

    path = weights_path(SHIPPED_RECOGNIZER)
    return path if path is not None and (path / RECOGNIZER_CONFIG).is_file() else None


@torch.no_grad()
def _run_windows(recognizer: EmotionRecognizer, motion: Motion, *, embed: bool) -> np.ndarray:
    data = _accepted_data(recognizer, motion)
    windows = motion_windows(data, motion.fps, window_s=recognizer.window_s, hop_s=recognizer.hop_s)  # (N, W, D)
    was_training = recognizer.training
    recognizer.eval()
    try:
        outputs = []
        for first in range(0, len(windows), INFERENCE_BATCH):
            x = torch.as_tensor(windows[first : first + INFERENCE_BATCH], dtype=torch.float32)  # (B, W, D)
            outputs.append(recognizer.embed(x) if embed else recognizer(x).softmax(dim=-1))
    finally:
        recognizer.train(was_training)
    return torch.cat(outputs).numpy()


def predict_windows(recognizer: EmotionRecognizer, motion: Motion) -> np.ndarray:
    """Emotion probabilities of each window of `motion` (cut as in training), shape (N, 7)."""
    return _run_windows(recognizer, motion, embed=False)


def embed_windows(recognizer: EmotionRecognizer, motion: Motion) -> np.ndarray:
    """The recognizer's embedding of each window of `motion`, shape (N, E)."""
    return _run_windows(recognizer, motion, embed=True)


# --- Metrics -----------------------------------------------------------------------------------


def _labels(true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, predicted = np.asarray(true), np.asarray(predicted)  # (N,), (N,)
    if true.ndim != 1 or true.shape != predicted.shape:
        raise InvalidInputError(f"labels must be two (N,) arrays of one length, got {true.shape} and {predicted.shape}")
    return true.astype(np.int64), predicted.astype(np.int64)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int = len(EMOTIONS)) -> np.ndarray:
    """Counts of (true, predicted) label pairs, shape (num_classes, num_classes); rows are true labels."""
    true, predicted = _labels(true, predicted)
    if ((true < 0) | (true >= num_classes) | (predicted < 0) | (predicted >= num_classes)).any():
        raise InvalidInputError(f"labels must be class indices in [0, {num_classes})")
    return np.bincount(true * num_classes + predicted, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(true: np.ndarray, predicted: np.ndarray) -> float:
    """The fraction of predictions that equal the true labels (N,)."""
    true, predicted = _labels(true, predicted)
    if not len(true):
        raise InvalidInputError("accuracy needs at least one prediction")
    return float((true == predicted).mean())


def emotion_fid(recognizer: EmotionRecognizer, real: Sequence[Motion], generated: Sequence[Motion]) -> float:
    """Fréchet distance between the recognizer's window embeddings of real and of generated motion.

    Paper 000's FID, in the feature space of a motion emotion recognizer: 0 for identically
    distributed embeddings, growing as the generated motion's expressions drift from the real ones.
    """
    from facetalk.eval.metrics import frechet_distance

    if not real or not generated:
        raise InvalidInputError("emotion_fid needs at least one real and one generated motion")
    real_features = np.concatenate([embed_windows(recognizer, motion) for motion in real])  # (N, E)
    generated_features = np.concatenate([embed_windows(recognizer, motion) for motion in generated])  # (M, E)
    return float(frechet_distance(real_features, generated_features))


# --- Training ----------------------------------------------------------------------------------


def _common_format(motions: Sequence[Motion]) -> tuple[MotionKind, int, float, tuple[str, ...]]:
    """(kind, D, fps, channels) shared by all `motions`."""
    if not motions:
        raise InvalidInputError("training an emotion recognizer needs at least one motion")
    first = motions[0]
    for i, motion in enumerate(motions[1:], start=1):
        if motion.kind != first.kind:
            raise InvalidInputError(f"motion {i} is {motion.kind} motion but motion 0 is {first.kind} motion")
        if motion.data.shape[1] != first.data.shape[1]:
            raise InvalidInputError(f"motion {i} has D = {motion.data.shape[1]} but motion 0 has D = {first.data.shape[1]}")
        if motion.fps != first.fps:
            raise InvalidInputError(f"motion {i} is at {motion.fps:g} fps but motion 0 is at {first.fps:g} fps")
        if motion.channels != first.channels:
            raise InvalidInputError(f"motion {i} has other channel names than motion 0")
    return first.kind, int(first.data.shape[1]), first.fps, first.channels


def _split_clips(num_clips: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training clips, validation clips): a seeded share `val_fraction` of the clips, at least one when > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = rng.permutation(num_clips)
    num_val = min(max(round(val_fraction * num_clips), 1 if val_fraction > 0 else 0), num_clips - 1)
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def _plan(datas: Sequence[np.ndarray], emotions: Sequence[np.ndarray], clips: np.ndarray, fps: float,
          min_intensity: float) -> tuple[list[tuple[int, int]], np.ndarray]:  # fmt: skip
    """(clip, start) of the kept windows of `clips` and their labels (N,).

    A window is kept when its mean emotion vector is neutral, or its strongest category reaches
    `min_intensity`: faint emotions look neutral and would only blur the classes.
    """
    windows: list[tuple[int, int]] = []
    labels: list[int] = []
    for clip in clips:
        if not len(datas[clip]):
            continue  # a clip without frames has no windows
        means = _window_emotions(emotions[clip], fps, WINDOW_S, HOP_S)  # (N, 7)
        _, starts = _window_plan(len(datas[clip]), fps, WINDOW_S, HOP_S)
        for start, mean in zip(starts, means, strict=True):
            label = int(mean.argmax())
            if label == NEUTRAL or mean[label] >= min_intensity:
                windows.append((int(clip), start))
                labels.append(label)
    return windows, np.asarray(labels, dtype=np.int64)


def _gather(datas: Sequence[np.ndarray], windows: Sequence[tuple[int, int]], length: int) -> torch.Tensor:
    """The windows' frames, shape (B, W, D)."""
    return torch.from_numpy(np.asarray(np.stack([_cut(datas[clip], start, length) for clip, start in windows]), dtype=np.float32))


@torch.no_grad()
def _logits(recognizer: EmotionRecognizer, datas: Sequence[np.ndarray], windows: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Logits (N, 7) of planned windows, in eval mode."""
    recognizer.eval()
    out = [recognizer(_gather(datas, windows[first : first + INFERENCE_BATCH], recognizer.window_frames))
           for first in range(0, len(windows), INFERENCE_BATCH)]  # fmt: skip
    return torch.cat(out) if out else torch.zeros(0, recognizer.num_classes)


def train_recognizer(motions: Sequence[Motion], emotions: Sequence[np.ndarray], *, width: int = 64, epochs: int = EPOCHS,
                     batch_size: int = 64, lr: float = 1e-3, seed: int = 0, val_fraction: float = 0.1,
                     min_intensity: float = 0.3, progress: bool = True) -> tuple[EmotionRecognizer, dict[str, Any]]:  # fmt: skip
    """Train an emotion recognizer on labelled clips.

    Clips are cut into windows (`WINDOW_S` every `HOP_S`) labelled by their mean emotion; windows
    of faint emotions (below `min_intensity`) are left out. A seeded share of the clips is held out
    for validation, and the weights of the epoch with the best validation accuracy are kept (of
    equally accurate epochs the one with the lowest validation loss; the last epoch's when nothing
    is held out). The loss is cross-entropy with class weights inversely proportional to the
    training windows' class counts, so that rare emotions count as much as common ones.

    Args:
        motions: the clips' motion, all of one kind, D and fps.
        emotions: the clips' per-frame emotion vectors over `EMOTIONS`, each of shape (T, 7).
        width: the recognizer's hidden channels.
        epochs: passes over the training windows.
        batch_size: windows per step.
        lr: Adam's learning rate.
        seed: seeds the initialisation, the validation split and the batch order.
        val_fraction: share of the clips held out for validation.
        min_intensity: the weakest emotion a non-neutral window may show to be used.
        progress: show a progress bar.

    Returns:
        The recognizer in eval mode, and a report: "train_windows", "val_windows", "val_accuracy"
        (None without validation windows), "val_confusion" (7 × 7 counts, rows true) and
        "class_counts" (training windows per emotion name).
    """
    from tqdm import tqdm

    kind, dim, fps, channels = _common_format(motions)
    if len(emotions) != len(motions):
        raise InvalidInputError(f"got {len(motions)} motions but {len(emotions)} emotion arrays")
    for i, (motion, emotion) in enumerate(zip(motions, emotions, strict=True)):
        if np.shape(emotion) != (motion.num_frames, len(EMOTIONS)):
            raise InvalidInputError(f"emotion {i} has shape {np.shape(emotion)}, expected ({motion.num_frames}, {len(EMOTIONS)})")
    if epochs < 1 or batch_size < 1:
        raise InvalidInputError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    datas = [motion.data for motion in motions]
    rng = np.random.default_rng(seed)
    train_clips, val_clips = _split_clips(len(motions), val_fraction, rng)
    train_windows, train_labels = _plan(datas, emotions, train_clips, fps, min_intensity)
    val_windows, val_labels = _plan(datas, emotions, val_clips, fps, min_intensity)
    if not train_windows:
        raise InvalidInputError("no training windows: every window's emotion is fainter than min_intensity")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        recognizer = EmotionRecognizer(motion_dim=dim, width=width, fps=fps, window_s=WINDOW_S, hop_s=HOP_S, kind=kind,
                                       channels=channels)  # fmt: skip
    length = recognizer.window_frames
    scale_windows = rng.permutation(len(train_windows))[:SCALE_FIT_WINDOWS]
    recognizer.fit_scale(_gather(datas, [train_windows[i] for i in scale_windows], length))

    counts = np.bincount(train_labels, minlength=len(EMOTIONS))
    present = counts > 0
    class_weights = np.where(present, len(train_labels) / (present.sum() * np.maximum(counts, 1)), 0.0)
    loss_weights = torch.as_tensor(class_weights, dtype=torch.float32)  # (7,)
    optimizer = torch.optim.Adam(recognizer.parameters(), lr=lr)

    best: tuple[float, float] = (-math.inf, -math.inf)  # (validation accuracy, -validation loss)
    best_state = None
    bar = tqdm(range(epochs), desc="emotion recognizer", unit="epoch", disable=not progress)
    for _ in bar:
        recognizer.train()
        order = rng.permutation(len(train_windows))
        for first in range(0, len(train_windows), batch_size):
            index = order[first : first + batch_size]
            x = _gather(datas, [train_windows[i] for i in index], length)  # (B, W, D)
            y = torch.as_tensor(train_labels[index])  # (B,)
            loss = F.cross_entropy(recognizer(x), y, weight=loss_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        if val_windows:
            logits = _logits(recognizer, datas, val_windows)  # (N, 7)
            val_accuracy = accuracy(val_labels, logits.argmax(dim=-1).numpy())
            val_loss = F.cross_entropy(logits, torch.as_tensor(val_labels)).item()
            # a small validation set saturates its accuracy early: ties go to the more confident weights
            if (val_accuracy, -val_loss) > best:
                best = (val_accuracy, -val_loss)
                best_state = {name: tensor.detach().clone() for name, tensor in recognizer.state_dict().items()}
            bar.set_postfix(loss=f"{loss.item():.4g}", val_accuracy=f"{val_accuracy:.3f}")
    if best_state is not None:
        recognizer.load_state_dict(best_state)
    recognizer.eval()

    predicted = _logits(recognizer, datas, val_windows).argmax(dim=-1).numpy()
    report: dict[str, Any] = {
        "train_windows": len(train_windows),
        "val_windows": len(val_windows),
        "val_accuracy": accuracy(val_labels, predicted) if val_windows else None,
        "val_confusion": confusion_matrix(val_labels, predicted).tolist(),
        "class_counts": {name: int(count) for name, count in zip(EMOTIONS, counts, strict=True)},
    }
    return recognizer, report


def train_recognizer_on_dataset(root: str | os.PathLike[str], *, dataset: str = "native", split: str = "train",
                                target: str = "vertices", max_clips: int = 0, out: str | os.PathLike[str] | None = None,
                                **kwargs: Any) -> tuple[EmotionRecognizer, dict[str, Any]]:  # fmt: skip
    """Train an emotion recognizer on a registered dataset's clips, and save it to `out` when given.

    Args:
        root: where the dataset is stored.
        dataset: a registered dataset name (`facetalk.data.formats.DATASETS`).
        split: the split to train on (its clips are split again for validation).
        target: "vertices" (each clip's vertex motion) or "motion" (the dataset's primary motion).
        max_clips: use only the first this many clips; 0 uses all.
        out: a directory for `recognizer.json`, `recognizer.safetensors` and `report.json`.
        **kwargs: passed to `train_recognizer`.

    Returns:
        The recognizer and its training report (see `train_recognizer`).
    """
    from tqdm import tqdm

    from facetalk.data import formats

    if target not in TARGETS:
        raise InvalidInputError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    if max_clips < 0:
        raise InvalidInputError(f"max_clips must be >= 0, got {max_clips}")
    clips = formats.open_dataset(dataset, root, split=split)
    count = len(clips) if max_clips == 0 else min(max_clips, len(clips))
    motions: list[Motion] = []
    emotions: list[np.ndarray] = []
    for index in tqdm(range(count), desc="clips", unit="clip", disable=not kwargs.get("progress", True)):
        sample = clips[index]
        motion = sample.vertex_motion() if target == "vertices" else sample.motion
        if motion is None:
            raise InvalidInputError(f"{root}: clip {sample.clip_id} has no vertex motion; train on target 'motion' instead")
        motions.append(motion)
        labels = sample.emotion_frames()
        if labels is None:
            raise InvalidInputError(f"{root}: clip {sample.clip_id} has no emotion labels to train a recognizer on")
        emotions.append(labels)
    recognizer, report = train_recognizer(motions, emotions, **kwargs)
    if out is not None:
        save_recognizer(recognizer, out)
        with atomic_output(Path(out) / REPORT_FILE) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    return recognizer, report


# --- Per-frame logits --------------------------------------------------------------------------


@torch.no_grad()
def frame_logits(recognizer: EmotionRecognizer, motion: Motion, *, hop: int = 1) -> np.ndarray:
    """Emotion logits of the window centred on each frame of `motion`, shape (T, 7).

    Paper 002's per-frame emotion priors, from motion instead of video: every `hop`-th frame gets the
    logits of the recognizer's window (W frames) centred on it, the clip's first and last frames
    repeated past its ends, and the frames between are linearly interpolated (`hop` = 1 scores every
    frame). The window's first layer is linear, so it is applied once per frame and the windows are
    cut from its (T, C) output: the same logits as running the recognizer on each window, at a
    fraction of the cost for vertex motion (D = 3V).

    Args:
        recognizer: the motion emotion recognizer.
        motion: a clip it accepts (its kind, fps and channels).
        hop: frames between scored window centres.
    """
    if hop < 1:
        raise InvalidInputError(f"hop must be >= 1 frame, got {hop}")
    data = torch.as_tensor(np.asarray(_accepted_data(recognizer, motion)), dtype=torch.float32)  # (T, D)
    num_frames, length = len(data), recognizer.window_frames
    if num_frames < 1:
        raise InvalidInputError("a clip without frames has no emotion logits")
    was_training = recognizer.training
    recognizer.eval()
    try:
        moving = data @ (recognizer.project.weight / recognizer.scale).T  # (T, C), bias added per window
        held = ((data - recognizer.offset_mean) / recognizer.offset_scale) @ recognizer.project_offset.weight.T  # (T, C)
        before = length // 2
        index = (torch.arange(length) - before).clamp_min(-num_frames)  # offsets of a window's frames from its centre
        centres = torch.arange(0, num_frames, hop)
        if centres[-1] != num_frames - 1:
            centres = torch.cat([centres, torch.tensor([num_frames - 1])])
        logits = []
        for first in range(0, len(centres), INFERENCE_BATCH):
            frames = (centres[first : first + INFERENCE_BATCH, None] + index[None]).clamp(0, num_frames - 1)  # (N, W)
            window_moving, window_held = moving[frames], held[frames]  # (N, W, C)
            h = window_moving - window_moving.mean(dim=1, keepdim=True) + recognizer.project.bias
            h = h + window_held.mean(dim=1, keepdim=True) + recognizer.project_offset.bias  # (N, W, C)
            for block in recognizer.blocks:
                h = block(h)
            std = (h.var(dim=1, unbiased=False) + POOL_EPS).sqrt()  # (N, C)
            logits.append(recognizer.head(torch.cat([h.mean(dim=1), std], dim=-1)))  # (N, 7)
    finally:
        recognizer.train(was_training)
    scored = torch.cat(logits).numpy()  # (N, 7)
    times = np.arange(num_frames)
    return np.stack([np.interp(times, centres.numpy(), scored[:, c]) for c in range(scored.shape[1])], axis=1).astype(np.float32)
