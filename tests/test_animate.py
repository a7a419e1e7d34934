"""`facetalk animate` end to end on the bundled example speech, as a user runs it."""

import subprocess
import sys

import numpy as np
import pytest

from facetalk.animate import animate, needs_weights, write_animation
from facetalk.assets import asset_path
from facetalk.errors import InvalidInputError, UnsupportedFormatError
from facetalk.export import read_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig
from facetalk.face.symmetry import symmetric
from facetalk.types import EmotionSchedule

EXAMPLE = asset_path("speech/example.wav")
TRANSCRIPT = asset_path("speech/example.txt").read_text()


@pytest.fixture(scope="module")
def example():
    return animate(EXAMPLE, text=TRANSCRIPT, fps=30.0)


def test_animation_covers_the_speech_and_follows_the_transcript(example):
    motion = example.motion
    assert motion.kind == "blendshapes" and motion.channels == ARKIT_NAMES
    assert motion.num_frames == int(np.ceil(example.waveform.duration * 30.0 - 1e-6))
    assert example.alignment_method == "forced"
    assert [w.text for w in example.alignment.words][:4] == ["hello", "my", "name", "is"]
    jaw = motion.data[:, ARKIT_NAMES.index("jawOpen")]
    assert jaw.max() > 0.2 and jaw[-3:].max() < 0.1  # it speaks, and comes back to rest after the last word


def test_emotion_changes_the_face(example):
    happy = animate(example.waveform, text=TRANSCRIPT, emotion=EmotionSchedule.parse("happy:1"))
    smile = [ARKIT_NAMES.index("mouthSmileLeft"), ARKIT_NAMES.index("mouthSmileRight")]
    assert happy.motion.data[:, smile].mean() > example.motion.data[:, smile].mean() + 0.1


def test_write_animation_writes_every_format_and_the_alignment(example, tmp_path):
    formats = ("npz", "livelink-csv", "glb", "mp4", "textgrid")
    paths = write_animation(example, tmp_path, name="example", formats=formats, progress=False)
    assert sorted(p.name for p in paths) == sorted(
        ["example.npz", "example.csv", "example.glb", "example.TextGrid", "example.mp4"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no leftovers
    np.testing.assert_allclose(read_motion(tmp_path / "example.npz").data, example.motion.data)
    assert (tmp_path / "example.mp4").stat().st_size > 10_000


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UnsupportedFormatError, match="persona"):
        animate(EXAMPLE, text=TRANSCRIPT, persona="nobody")
    with pytest.raises(UnsupportedFormatError, match="backend"):
        animate(EXAMPLE, text=TRANSCRIPT, backend="magic")
    with pytest.raises(InvalidInputError, match=r"missing\.wav"):
        animate(tmp_path / "missing.wav")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "facetalk.cli",
            "animate",
            str(EXAMPLE),
            "--text",
            "hi",
            "-f",
            "npz,gif",
            "-o",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --format: unknown output format 'gif' (known: npz, arkit-json, livelink-csv, glb, obj, mp4, textgrid)"
    ]
    assert not (tmp_path / "o").exists()


def _vertex_model(directory, style, *, motion_dim=478 * 3):
    """A tiny composite_regional model on the default face, with mel features and a default style reference."""
    import torch

    from facetalk.animate import STYLE_REF_FILE
    from facetalk.export import export_motion
    from facetalk.face.default_face import default_rig
    from facetalk.models.base import build_model, save_model

    torch.manual_seed(0)
    model = build_model("composite_regional_tiny", feature_dim=32, motion_dim=motion_dim, kind="vertices", motion_scale=1000.0)
    torch.nn.init.normal_(model.decoder.head.weight, std=0.5)  # the output layer starts at zero: make it move
    model.metadata = {"features": {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 32}}, "subjects": []}
    save_model(model, directory)
    if motion_dim == 478 * 3:
        export_motion(default_rig().animate(style), directory / STYLE_REF_FILE)
    return directory


def test_a_trained_vertex_model_animates_the_default_face(example, tmp_path):
    calm = animate(example.waveform, text=TRANSCRIPT, persona="smiley").motion
    model = _vertex_model(tmp_path / "model", calm)
    result = animate(example.waveform, text=TRANSCRIPT, model=str(model))
    assert result.motion.kind == "blendshapes" and result.motion.channels == ARKIT_NAMES
    assert result.motion.num_frames == example.motion.num_frames
    assert result.motion.data.std(axis=0).max() > 1e-4  # it moves (an untrained model, a little)
    other = animate(example.waveform, text=TRANSCRIPT, model=str(model), style_ref=example.motion)  # the neutral persona
    assert not np.allclose(other.motion.data, result.motion.data)  # the style reference matters
    with pytest.raises(InvalidInputError, match="another topology"):
        animate(example.waveform, text=TRANSCRIPT, model=str(_vertex_model(tmp_path / "small", calm, motion_dim=15)))


def test_the_shipped_model_speaks(example):
    """weights/composite_regional, trained on the synthetic corpus: its jaw follows the syllables."""
    motion = animate(example.waveform, text=TRANSCRIPT, model="composite_regional").motion
    jaw = motion.data[:, ARKIT_NAMES.index("jawOpen")]
    reference = example.motion.data[:, ARKIT_NAMES.index("jawOpen")]
    assert motion.num_frames == example.motion.num_frames
    assert jaw.std() > 0.05 and np.corrcoef(jaw, reference)[0, 1] > 0.5  # the procedural animator's jaw is the reference


def test_a_model_aligns_only_when_asked(example, tmp_path):
    model = str(_vertex_model(tmp_path / "model", example.motion))
    bare = animate(example.waveform, model=model, need_alignment=False)  # no transcript: Whisper would run if it aligned
    assert bare.alignment is None and bare.transcript is None and bare.alignment_method is None
    paths = write_animation(bare, tmp_path / "out", name="bare", formats=("npz",), progress=False)
    assert [p.name for p in paths] == ["bare.npz"]  # no TextGrid without an alignment
    aligned = animate(example.waveform, text=TRANSCRIPT, model=model)
    assert aligned.alignment is not None and aligned.alignment_method == "forced"
    np.testing.assert_array_equal(aligned.motion.data, bare.motion.data)


def test_cli_model_writes_a_textgrid_only_when_asked(example, tmp_path):
    """With `--model`, the default formats write no TextGrid (nothing was aligned); `-f ...,textgrid` aligns."""
    model = str(_vertex_model(tmp_path / "model", example.motion))
    base = [sys.executable, "-m", "facetalk.cli", "animate", str(EXAMPLE), "--model", model]
    default = subprocess.run([*base, "-o", str(tmp_path / "default")], capture_output=True, text=True, check=True)
    assert sorted(p.suffix for p in (tmp_path / "default").iterdir()) == [".csv", ".glb", ".json", ".mp4", ".npz"]
    assert "TextGrid" not in default.stdout
    asked = [*base, "--text", TRANSCRIPT, "-f", "npz,textgrid", "-o", str(tmp_path / "asked")]
    subprocess.run(asked, capture_output=True, text=True, check=True)
    assert sorted(p.name for p in (tmp_path / "asked").iterdir()) == ["example.TextGrid", "example.npz"]
    # no format asked for ARKit weights, so the model's vertices were written as they are
    vertices = read_motion(tmp_path / "asked" / "example.npz")
    assert vertices.kind == "vertices"
    assert read_motion(tmp_path / "default" / "example.npz").kind == "blendshapes"
    flame = subprocess.run([*base, "--flame", str(EXAMPLE), "-o", str(tmp_path / "flame")], capture_output=True, text=True)
    assert flame.returncode == 2 and flame.stderr.strip().splitlines() == [
        "error: --flame: the model animates ARKit weights, not FLAME parameters"
    ]
    assert not (tmp_path / "flame").exists()
    # --symmetric: the vertices' symmetric part
    subprocess.run([*base, "-f", "npz", "--symmetric", "-o", str(tmp_path / "sym")], capture_output=True, text=True, check=True)
    np.testing.assert_allclose(read_motion(tmp_path / "sym" / "example.npz").data, symmetric(vertices).data, atol=1e-6)


def test_a_vertex_model_is_fitted_to_weights_only_when_a_format_needs_them(example, tmp_path):
    assert needs_weights(["npz", "arkit-json"]) and needs_weights(["livelink-csv"])
    assert not needs_weights(["npz", "glb", "obj", "mp4", "textgrid"])
    model = str(_vertex_model(tmp_path / "model", example.motion))
    vertices = animate(example.waveform, model=model, need_alignment=False, need_weights=False).motion
    weights = animate(example.waveform, model=model, need_alignment=False).motion
    assert vertices.kind == "vertices" and vertices.data.shape == (weights.num_frames, 478 * 3)
    np.testing.assert_array_equal(weights.data, default_rig().fit_motion(vertices).data)


def test_a_flame_model_writes_flame_parameters_and_vertices(example, tmp_path):
    """`facetalk animate --model <a model trained on FLAME parameters> --flame <the user's FLAME file>`."""
    import torch

    from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, JAW_CHANNELS, flame_params
    from facetalk.models.base import build_model, save_model

    rng = np.random.default_rng(0)
    vertices, weights = 30, rng.random((30, 5))
    flame = {"v_template": 0.1 * rng.standard_normal((vertices, 3)),
             "shapedirs": 1e-3 * rng.standard_normal((vertices, 3, 400)),
             "posedirs": 1e-3 * rng.standard_normal((vertices, 3, 36)), "J_regressor": np.full((5, vertices), 1.0 / vertices),
             "weights": weights / weights.sum(axis=1, keepdims=True),
             "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
             "f": rng.integers(0, vertices, (10, 3))}  # fmt: skip
    np.savez(tmp_path / "flame.npz", **flame)
    channels = EXPRESSION_CHANNELS[:50] + JAW_CHANNELS
    torch.manual_seed(0)
    model = build_model("emotion_control_tiny", feature_dim=32, motion_dim=len(channels), kind="params", channels=channels,
                        prior_source="labels")  # fmt: skip
    model.metadata = {"features": {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 32}}, "subjects": []}
    save_model(model, tmp_path / "model")
    out = tmp_path / "out"
    run = [sys.executable, "-m", "facetalk.cli", "animate", str(EXAMPLE), "--text", TRANSCRIPT,
           "--model", str(tmp_path / "model"), "--emotion", "sad:0.3@0,anger:1.0@1", "-o", str(out)]  # fmt: skip
    result = subprocess.run([*run, "--flame", str(tmp_path / "flame.npz")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with np.load(out / "example.flame.npz") as stored:
        assert stored["vertices"].shape == (example.motion.num_frames, vertices, 3)
        motion = flame_params(dict(stored), out / "example.flame.npz", None)
    assert motion.num_frames == example.motion.num_frames and motion.fps == 30.0 and motion.data.std() > 0
    # --symmetric (paper 002's refinement) mirrors through the FLAME file: the jaw's turn and tilt cancel
    result = subprocess.run([*run, "--symmetric"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: --symmetric: mirroring FLAME parameters needs the FLAME model: give --flame"
    ]
    symmetric_run = [*run, "--flame", str(tmp_path / "flame.npz"), "--symmetric", "-o", str(tmp_path / "sym")]
    subprocess.run(symmetric_run, capture_output=True, text=True, check=True)
    with np.load(tmp_path / "sym" / "example.flame.npz") as stored:
        refined = flame_params(dict(stored), tmp_path / "sym" / "example.flame.npz", None)
    jaw = [refined.channels.index(name) for name in JAW_CHANNELS]
    np.testing.assert_allclose(refined.data[:, jaw[1:]], 0.0, atol=1e-6)
    np.testing.assert_allclose(refined.data[:, jaw[0]], motion.data[:, jaw[0]], atol=1e-6)


def test_the_shipped_emotion_control_model_speaks_and_follows_the_request(example):
    """weights/emotion_control, trained on the synthetic corpus: the jaw follows the syllables and the request shows."""
    happy = animate(example.waveform, model="emotion_control", emotion=EmotionSchedule.parse("happy:1"), need_alignment=False)
    sad = animate(example.waveform, model="emotion_control", emotion=EmotionSchedule.parse("sad:1"), need_alignment=False)
    jaw = happy.motion.data[:, ARKIT_NAMES.index("jawOpen")]
    reference = example.motion.data[:, ARKIT_NAMES.index("jawOpen")]
    assert happy.motion.num_frames == example.motion.num_frames and np.corrcoef(jaw, reference)[0, 1] > 0.5
    smile = [ARKIT_NAMES.index("mouthSmileLeft"), ARKIT_NAMES.index("mouthSmileRight")]
    frown = [ARKIT_NAMES.index("mouthFrownLeft"), ARKIT_NAMES.index("mouthFrownRight")]
    assert happy.motion.data[:, smile].mean() > sad.motion.data[:, smile].mean() + 0.1
    assert sad.motion.data[:, frown].mean() > happy.motion.data[:, frown].mean()


def test_the_shipped_style_duration_model_moves_its_lips(example):
    """weights/style_duration (6,000 steps, L2 terms, same-emotion references): the jaw follows the syllables."""
    result = animate(example.waveform, text=TRANSCRIPT, model="style_duration", need_alignment=False)
    jaw = result.motion.data[:, ARKIT_NAMES.index("jawOpen")]
    reference = example.motion.data[:, ARKIT_NAMES.index("jawOpen")]
    assert result.motion.num_frames == example.motion.num_frames
    assert np.corrcoef(jaw, reference)[0, 1] > 0.5 and jaw.std() > 0.5 * reference.std()
