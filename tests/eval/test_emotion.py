"""The motion emotion recognizer: windows, training, saving, inference and its metrics.

The labelled clips are made without the speech pipeline: each is an emotion's FACS prototype (ARKit
weights from `facetalk.procedural.expressions`) at a random intensity, plus a talking-like jaw and
mouth oscillation of random rate, depth and phase, plus noise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from facetalk.data.sample import Sample
from facetalk.errors import InvalidInputError
from facetalk.eval.emotion import (
    EmotionRecognizer,
    accepts,
    accuracy,
    confusion_matrix,
    embed_windows,
    emotion_fid,
    load_recognizer,
    motion_windows,
    predict_windows,
    save_recognizer,
    shipped_recognizer_path,
    train_recognizer,
    train_recognizer_on_dataset,
    window_labels,
)
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.procedural.expressions import K, emotion_weights
from facetalk.types import EMOTIONS, EmotionSchedule, Motion, Waveform

FPS = 30.0
CLIP_FRAMES = 90  # 3 s: two 2 s windows, the second aligned to the clip's end
CLIPS_PER_EMOTION = 12
INTENSITY = (0.6, 0.95)  # above 0.5, so that the emotion and not neutral is each clip's argmax
TALK_DEPTH = (0.1, 0.35)  # jawOpen swing of the talking-like oscillation
SYLLABLE_HZ = (3.0, 6.0)
NOISE = 0.02
WIDTH = 16
EPOCHS = 30
VERTEX_EPOCHS = 12  # D = 3V = 1434: fewer passes keep the test fast
WINDOWS_PER_CLIP = 2


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Two shared cores: several threads per tiny matmul only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _clip(rng: np.random.Generator, category: str) -> tuple[Motion, np.ndarray]:
    """One labelled clip: prototype × intensity + talking + noise, ARKit-52 weights in [0, 1]."""
    times = np.arange(CLIP_FRAMES) / FPS
    intensity = rng.uniform(*INTENSITY) if category != "neutral" else 1.0
    emotion = EmotionSchedule.constant(category, intensity).at_frames(CLIP_FRAMES, FPS)  # (T, 7)
    weights = emotion_weights(emotion, FPS)  # (T, K): a constant schedule is prototype × intensity
    rate, phase, depth = rng.uniform(*SYLLABLE_HZ), rng.uniform(0.0, 2 * np.pi), rng.uniform(*TALK_DEPTH)
    talk = depth * 0.5 * (1.0 - np.cos(2 * np.pi * rate * times + phase))  # (T,)
    weights[:, K["jawOpen"]] += talk
    weights[:, K["mouthFunnel"]] += rng.uniform(0.0, 0.3) * talk
    weights[:, K["mouthLowerDownLeft"]] += 0.5 * talk
    weights[:, K["mouthLowerDownRight"]] += 0.5 * talk
    weights += rng.normal(0.0, NOISE, weights.shape)
    return Motion(np.clip(weights, 0.0, 1.0), FPS, "blendshapes", ARKIT_NAMES), emotion


def _draw(seed: int, categories: tuple[str, ...] = EMOTIONS) -> tuple[list[Motion], list[np.ndarray]]:
    """`CLIPS_PER_EMOTION` clips of each category, interleaved (clip i has category i mod 7)."""
    rng = np.random.default_rng(seed)
    clips = [_clip(rng, category) for _ in range(CLIPS_PER_EMOTION) for category in categories]
    return [motion for motion, _ in clips], [emotion for _, emotion in clips]


@pytest.fixture(scope="module")
def labelled() -> tuple[list[Motion], list[np.ndarray]]:
    return _draw(0)


@pytest.fixture(scope="module")
def trained(labelled: tuple[list[Motion], list[np.ndarray]]) -> tuple[EmotionRecognizer, dict[str, Any]]:
    motions, emotions = labelled
    return train_recognizer(motions, emotions, width=WIDTH, epochs=EPOCHS, val_fraction=0.2, progress=False)


# --- Windows -----------------------------------------------------------------------------------


def test_windows_step_by_the_hop_and_end_at_the_clip_end() -> None:
    data = np.arange(18, dtype=np.float32).reshape(9, 2)  # (T, D) = (9, 2): row t is [2t, 2t + 1]
    windows = motion_windows(data, 2.0, window_s=2.0, hop_s=1.0)  # W = 4 frames every 2
    assert windows.shape == (4, 4, 2)
    assert [int(w[0, 0]) // 2 for w in windows] == [0, 2, 4, 5]  # 4 + 4 < 9, so one more window ends at frame 8
    np.testing.assert_array_equal(windows[-1], data[5:9])
    even = motion_windows(data[:8], 2.0, window_s=2.0, hop_s=1.0)
    assert [int(w[0, 0]) // 2 for w in even] == [0, 2, 4]  # the last full window already ends at the end


def test_a_short_clip_is_one_edge_padded_window() -> None:
    data = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], dtype=np.float32)
    windows = motion_windows(data, 2.0, window_s=2.0, hop_s=1.0)
    np.testing.assert_array_equal(windows, [[[1, 10], [2, 20], [3, 30], [3, 30]]])


def test_window_labels_are_the_argmax_of_the_mean_vector() -> None:
    emotion = np.zeros((6, len(EMOTIONS)), dtype=np.float32)
    anger, neutral, sad = EMOTIONS.index("anger"), EMOTIONS.index("neutral"), EMOTIONS.index("sad")
    emotion[0, anger] = 1.0
    emotion[1:4, neutral], emotion[1:4, anger] = 0.55, 0.45  # frames 1-3 lean neutral one by one ...
    emotion[4:, sad] = 1.0
    # ... but window 0 (frames 0-3) averages anger 0.5875 > neutral 0.4125; window 1 (frames 2-5)
    # averages sad 0.5 > neutral 0.275 > anger 0.225
    assert window_labels(emotion, 2.0, window_s=2.0, hop_s=1.0).tolist() == [anger, sad]


def test_window_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="have no frames"):
        motion_windows(np.zeros((10, 2)), 30.0, window_s=0.01)
    with pytest.raises(InvalidInputError, match="without frames"):
        motion_windows(np.zeros((0, 2)), 30.0)
    with pytest.raises(InvalidInputError, match=r"shape \(T, 7\)"):
        window_labels(np.zeros((10, 3)), 30.0)


# --- Metrics -----------------------------------------------------------------------------------


def test_confusion_matrix_and_accuracy_by_hand() -> None:
    true = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), dtype=np.int64)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 2], expected[2, 0] = 1, 1, 1, 2, 1
    np.testing.assert_array_equal(confusion_matrix(true, predicted, num_classes=3), expected)
    assert confusion_matrix(true, predicted).shape == (7, 7)
    assert accuracy(true, predicted) == pytest.approx(4 / 6)
    with pytest.raises(InvalidInputError, match="class indices"):
        confusion_matrix(np.array([3]), np.array([0]), num_classes=3)
    with pytest.raises(InvalidInputError, match="one length"):
        accuracy(true, predicted[:-1])


def test_fit_scale_by_hand() -> None:
    recognizer = EmotionRecognizer(motion_dim=3, width=4)
    # channel 0 and 1 move, channel 2 never does; window means are [1, 1, 5] and [4, 4, 5]
    windows = torch.tensor([[[0.0, 1.0, 5.0], [2.0, 1.0, 5.0]], [[4.0, 3.0, 5.0], [4.0, 5.0, 5.0]]])  # (N, W, D)
    recognizer.fit_scale(windows)
    # deviations from the window mean: channel 0 is -1, 1, 0, 0 and channel 1 is 0, 0, -1, 1: std √½
    np.testing.assert_allclose(recognizer.scale.numpy(), [0.5**0.5, 0.5**0.5, 1e-3 * 0.5**0.5], rtol=1e-6)
    np.testing.assert_allclose(recognizer.offset_mean.numpy(), [2.5, 2.5, 5.0], rtol=1e-6)
    np.testing.assert_allclose(recognizer.offset_scale.numpy(), [1.5, 1.5, 1.5e-3], rtol=1e-6)


# --- Training ----------------------------------------------------------------------------------


def test_training_separates_the_emotions(trained: tuple[EmotionRecognizer, dict[str, Any]]) -> None:
    recognizer, report = trained
    clips = len(EMOTIONS) * CLIPS_PER_EMOTION
    assert report["train_windows"] + report["val_windows"] == WINDOWS_PER_CLIP * clips  # every window is intense enough
    assert report["val_windows"] == WINDOWS_PER_CLIP * round(0.2 * clips)
    assert report["val_accuracy"] >= 0.9
    confusion = np.array(report["val_confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == report["val_windows"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(report["val_accuracy"])
    assert sum(report["class_counts"].values()) == report["train_windows"]
    assert not recognizer.training

    # unseen clips: the rows of the confusion matrix count each true emotion's windows
    motions, emotions = _draw(1)
    true = np.concatenate([window_labels(emotion, FPS) for emotion in emotions])
    probabilities = np.concatenate([predict_windows(recognizer, motion) for motion in motions])  # (N, 7)
    assert probabilities.shape == (len(true), 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    confusion = confusion_matrix(true, probabilities.argmax(axis=1))
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(true, minlength=7))
    np.testing.assert_array_equal(confusion.sum(axis=1), WINDOWS_PER_CLIP * CLIPS_PER_EMOTION)
    assert accuracy(true, probabilities.argmax(axis=1)) >= 0.9


def test_seeded_training_is_deterministic(labelled: tuple[list[Motion], list[np.ndarray]]) -> None:
    motions, emotions = labelled
    runs = [train_recognizer(motions, emotions, width=8, epochs=3, seed=seed, progress=False) for seed in (5, 5, 6)]
    (first, first_report), (second, second_report), (other, _) = runs
    assert first_report == second_report
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(first.head.weight, other.head.weight)


def test_faint_windows_are_left_out(labelled: tuple[list[Motion], list[np.ndarray]]) -> None:
    motions, emotions = labelled
    _, report = train_recognizer(motions, emotions, width=8, epochs=1, val_fraction=0.0, min_intensity=0.96, progress=False)
    # the emotional clips' intensities are below 0.96; the neutral ones (mean vector neutral) all count
    assert report["train_windows"] == WINDOWS_PER_CLIP * CLIPS_PER_EMOTION
    assert report["class_counts"]["neutral"] == report["train_windows"]
    assert report["val_windows"] == 0 and report["val_accuracy"] is None


def test_training_input_is_checked(labelled: tuple[list[Motion], list[np.ndarray]]) -> None:
    motions, emotions = labelled
    slower = Motion(motions[1].data, 25.0, "blendshapes", ARKIT_NAMES)
    with pytest.raises(InvalidInputError, match="motion 1 is at 25 fps but motion 0 is at 30 fps"):
        train_recognizer([motions[0], slower], emotions[:2], progress=False)
    fewer = Motion(motions[1].data[:, :10], FPS, "params", ARKIT_NAMES[:10])
    with pytest.raises(InvalidInputError, match="motion 1 is params motion"):
        train_recognizer([motions[0], fewer], emotions[:2], progress=False)
    with pytest.raises(InvalidInputError, match=r"emotion 1 has shape \(5, 7\)"):
        train_recognizer(motions[:2], [emotions[0], emotions[1][:5]], progress=False)


def test_vertex_motion_is_recognized_too(labelled: tuple[list[Motion], list[np.ndarray]]) -> None:
    from facetalk.face.default_face import default_rig

    rig = default_rig()
    motions, emotions = labelled
    vertices = [rig.animate(motion) for motion in motions]  # (T, 3V) in metres
    recognizer, report = train_recognizer(vertices, emotions, width=WIDTH, epochs=VERTEX_EPOCHS, val_fraction=0.2, progress=False)
    assert recognizer.kind == "vertices" and recognizer.motion_dim == 3 * rig.neutral.shape[0]
    assert report["val_accuracy"] >= 0.9
    with pytest.raises(InvalidInputError, match="reads vertices motion, got blendshapes"):
        predict_windows(recognizer, motions[0])


# --- Saving and inference ----------------------------------------------------------------------


def test_save_and_load_give_identical_logits(trained: tuple[EmotionRecognizer, dict[str, Any]], tmp_path: Path,
                                             labelled: tuple[list[Motion], list[np.ndarray]]) -> None:  # fmt: skip
    recognizer, _ = trained
    save_recognizer(recognizer, tmp_path / "recognizer")
    config = json.loads((tmp_path / "recognizer" / "recognizer.json").read_text())
    assert config["kind"] == "blendshapes" and config["fps"] == FPS and config["channels"] == list(ARKIT_NAMES)
    assert (config["window_s"], config["hop_s"], config["motion_dim"], config["width"]) == (2.0, 1.0, 52, WIDTH)
    loaded = load_recognizer(tmp_path / "recognizer")
    x = torch.as_tensor(motion_windows(labelled[0][0].data, FPS))  # (N, W, D)
    with torch.no_grad():
        assert torch.equal(recognizer(x), loaded(x))
    np.testing.assert_array_equal(embed_windows(recognizer, labelled[0][3]), embed_windows(loaded, labelled[0][3]))


def test_bad_directories_and_motions_are_refused(trained: tuple[EmotionRecognizer, dict[str, Any]], tmp_path: Path,
                                                 labelled: tuple[list[Motion], list[np.ndarray]]) -> None:  # fmt: skip
    recognizer, _ = trained
    missing = f"{tmp_path}: not a saved emotion recognizer (recognizer.json is missing)"
    with pytest.raises(InvalidInputError, match=re.escape(missing)):
        load_recognizer(tmp_path)
    save_recognizer(recognizer, tmp_path / "broken")
    (tmp_path / "broken" / "recognizer.json").write_text("{")
    with pytest.raises(InvalidInputError, match=r"broken/recognizer.json: not an emotion recognizer config \(invalid JSON"):
        load_recognizer(tmp_path / "broken")
    save_recognizer(recognizer, tmp_path / "cut")
    weights = tmp_path / "cut" / "recognizer.safetensors"
    weights.write_bytes(weights.read_bytes()[:-5])  # a copy that stopped short
    with pytest.raises(InvalidInputError, match=r"cut/recognizer.safetensors: not a readable safetensors file \("):
        load_recognizer(tmp_path / "cut")

    motion = labelled[0][0]
    with pytest.raises(InvalidInputError, match="lacks the recognizer's channels"):
        predict_windows(recognizer, Motion(motion.data[:, :50], FPS, "blendshapes", ARKIT_NAMES[:50]))
    with pytest.raises(InvalidInputError, match="D = 9, got D = 6"):
        predict_windows(EmotionRecognizer(motion_dim=9, kind="vertices", width=4), Motion(np.zeros((40, 6)), FPS, "vertices"))
    with pytest.raises(InvalidInputError, match="at 30 fps, got 60 fps"):
        embed_windows(recognizer, Motion(motion.data, 60.0, "blendshapes", ARKIT_NAMES))
    assert accepts(recognizer, motion) and not accepts(recognizer, Motion(motion.data, 60.0, "blendshapes", ARKIT_NAMES))
    # the same channels in another order are matched by name
    order = np.arange(52)[::-1]
    reordered = Motion(motion.data[:, order], FPS, "blendshapes", tuple(ARKIT_NAMES[i] for i in order))
    np.testing.assert_allclose(predict_windows(recognizer, reordered), predict_windows(recognizer, motion), rtol=1e-6)


def test_emotion_fid(trained: tuple[EmotionRecognizer, dict[str, Any]]) -> None:
    recognizer, _ = trained
    real, _ = _draw(1)
    redrawn, _ = _draw(2)  # the same emotions, independently drawn
    angry, _ = _draw(3, categories=("anger",) * len(EMOTIONS))  # as many clips, all of one emotion
    features = np.concatenate([embed_windows(recognizer, motion) for motion in real])  # (N, E)
    assert features.shape == (WINDOWS_PER_CLIP * len(real), 2 * WIDTH)
    spread = float(np.trace(np.cov(features, rowvar=False)))
    assert abs(emotion_fid(recognizer, real, real)) < 1e-6 * spread
    same, other = emotion_fid(recognizer, real, redrawn), emotion_fid(recognizer, real, angry)
    assert same > 0 and other > 50 * same
    with pytest.raises(InvalidInputError, match="at least one"):
        emotion_fid(recognizer, real, [])


# --- From a dataset ----------------------------------------------------------------------------


def test_training_on_a_dataset_saves_recognizer_and_report(labelled: tuple[list[Motion], list[np.ndarray]], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from facetalk.data import formats

    motions, emotions = labelled
    audio = Waveform(np.zeros(16000 * CLIP_FRAMES // int(FPS), np.float32), 16000)
    samples = [Sample("native", f"c{i}", "spk", audio, motion, emotion=emotion) for i, (motion, emotion)
               in enumerate(zip(motions, emotions, strict=True))]  # fmt: skip
    opened: list[tuple[str, str, str]] = []
    read: list[int] = []

    class Clips:
        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, index: int) -> Sample:
            read.append(index)
            return samples[index]

    def open_dataset(name: str, root: Any, *, split: str = "train") -> Clips:
        opened.append((name, str(root), split))
        return Clips()

    monkeypatch.setattr(formats, "open_dataset", open_dataset)
    out = tmp_path / "out"
    recognizer, report = train_recognizer_on_dataset("/data/corpus", split="val", target="motion", max_clips=28, out=out,
                                                     width=8, epochs=2, progress=False)  # fmt: skip
    assert opened == [("native", "/data/corpus", "val")] and read == list(range(28))
    assert report["train_windows"] + report["val_windows"] == WINDOWS_PER_CLIP * 28
    assert json.loads((out / "report.json").read_text()) == report
    x = torch.as_tensor(motion_windows(motions[0].data, FPS))
    with torch.no_grad():
        assert torch.equal(load_recognizer(out)(x), recognizer(x))
    with pytest.raises(InvalidInputError, match="clip c0 has no vertex motion"):
        train_recognizer_on_dataset("/data/corpus", target="vertices", progress=False)
    with pytest.raises(InvalidInputError, match="unknown target 'faces'"):
        train_recognizer_on_dataset("/data/corpus", target="faces")


def test_the_shipped_recognizer_is_found_under_weights(trained: tuple[EmotionRecognizer, dict[str, Any]], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import facetalk.assets

    monkeypatch.setattr(facetalk.assets, "weights_path", lambda name: tmp_path / name)
    assert shipped_recognizer_path() is None  # no directory, or one without a recognizer
    save_recognizer(trained[0], tmp_path / "emotion_recognizer")
    assert shipped_recognizer_path() == tmp_path / "emotion_recognizer"


@pytest.mark.parametrize("hop", [1, 4])
def test_frame_logits_are_the_centred_windows_logits(hop: int) -> None:
    from facetalk.eval.emotion import frame_logits

    torch.manual_seed(0)
    recognizer = EmotionRecognizer(motion_dim=6, width=8, fps=10.0, window_s=1.0, kind="params", channels=tuple("abcdef"))
    with torch.no_grad():
        for param in recognizer.parameters():
            param.copy_(0.3 * torch.randn(param.shape))
        recognizer.scale.copy_(torch.rand(6) + 0.5)
        recognizer.offset_mean.copy_(torch.randn(6))
        recognizer.offset_scale.copy_(torch.rand(6) + 0.5)
    data = np.random.default_rng(0).standard_normal((23, 6)).astype(np.float32)
    logits = frame_logits(recognizer, Motion(data, 10.0, "params", tuple("abcdef")), hop=hop)
    window = recognizer.window_frames  # 10: frames centre-5 .. centre+4, the clip's ends repeated
    windows = np.stack([data[np.clip(np.arange(c - 5, c - 5 + window), 0, 22)] for c in range(23)])  # (23, W, 6)
    reference = recognizer(torch.from_numpy(windows)).detach().numpy()  # (23, 7)
    scored = [*range(0, 23, hop), 22]
    assert logits.shape == (23, 7)
    np.testing.assert_allclose(logits[scored], reference[scored], atol=1e-5)
    if hop > 1:  # between scored centres: linear interpolation
        np.testing.assert_allclose(logits[2], 0.5 * (reference[0] + reference[4]), atol=1e-5)
