"""Fitting FLAME parameters to VOCASET meshes: a tiny VOCASET whose meshes a random FLAME-shaped model made from
known identities, expressions and jaw rotations; the fit must reproduce the meshes and the `flame_seq` adapter must
read the result with VOCASET's splits."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from facetalk.data.formats import open_dataset
from facetalk.data.formats.vocaset import TEST_SUBJECTS, TRAIN_SUBJECTS, VAL_SUBJECTS
from facetalk.face.flame import JOINTS, NUM_SHAPE, Flame, load_flame
from facetalk.face.flame_fit import fit_shape, fit_vocaset, main

V, E, FRAMES_60 = 60, 100, 24
FITTED = 10  # expression components the meshes use and the fit looks for
CLIPS = ((TRAIN_SUBJECTS[0], "sentence01"), (TRAIN_SUBJECTS[1], "sentence02"), (VAL_SUBJECTS[0], "sentence21"),
         (TEST_SUBJECTS[0], "sentence22"))  # fmt: skip


@pytest.fixture
def flame_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    weights = rng.random((V, 5)) ** 3
    arrays = {"v_template": 0.1 * rng.standard_normal((V, 3)), "shapedirs": 1e-3 * rng.standard_normal((V, 3, NUM_SHAPE + E)),
              "posedirs": 1e-3 * rng.standard_normal((V, 3, 36)), "J_regressor": np.full((5, V), 1.0 / V),
              "weights": weights / weights.sum(axis=1, keepdims=True),
              "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]), "f": rng.integers(0, V, (10, 3))}  # fmt: skip
    np.savez(tmp_path / "flame.npz", **arrays)
    return tmp_path / "flame.npz"


def _vocaset(root: Path, flame_file: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """FaceFormer's processed layout at 60 fps; returns each clip's true (ψ, jaw) at the 30 fps the adapter yields."""
    flame = Flame(load_flame(flame_file))
    rng = np.random.default_rng(1)
    (root / "vocaset" / "vertices_npy").mkdir(parents=True)
    (root / "vocaset" / "wav").mkdir()
    templates, truth = {}, {}
    for subject, sentence in CLIPS:
        if subject not in templates:
            beta = torch.as_tensor(rng.standard_normal((1, NUM_SHAPE)), dtype=torch.float32)
            templates[subject] = (beta, flame(torch.zeros(1, E), torch.zeros(1, 5, 3), beta)[0].numpy())
        beta, _ = templates[subject]
        t = np.arange(FRAMES_60)[:, None] / 60.0
        psi = np.zeros((FRAMES_60, E), np.float32)
        psi[:, :FITTED] = np.sin(2 * np.pi * (t * rng.uniform(0.5, 2.0, FITTED) + rng.random(FITTED)))
        pose = np.zeros((FRAMES_60, 5, 3), np.float32)
        pose[:, JOINTS.index("jaw"), 0] = 0.15 * (1 + np.sin(2 * np.pi * 3 * t[:, 0]))  # opening and closing
        pose[:, JOINTS.index("jaw"), 1] = 0.03 * np.sin(2 * np.pi * t[:, 0])
        with torch.no_grad():
            vertices = flame(torch.as_tensor(psi), torch.as_tensor(pose), beta.expand(FRAMES_60, -1)).numpy()
        np.save(root / "vocaset" / "vertices_npy" / f"{subject}_{sentence}.npy", vertices.reshape(FRAMES_60, -1))
        audio = (rng.uniform(-0.3, 0.3, 16000 * FRAMES_60 // 60) * 32767).astype(np.int16)
        soundfile.write(root / "vocaset" / "wav" / f"{subject}_{sentence}.wav", audio, 16000, subtype="PCM_16")
        truth[f"{subject}/{sentence}"] = (psi[::2, :FITTED], pose[::2, JOINTS.index("jaw")])
    (root / "vocaset" / "templates.pkl").write_bytes(pickle.dumps({s: v for s, (_, v) in templates.items()}, protocol=2))
    return truth


def test_the_fit_reproduces_the_meshes_and_flame_seq_reads_it(tmp_path: Path, flame_file: Path) -> None:
    truth = _vocaset(tmp_path / "voca", flame_file)
    out = tmp_path / "voca_flame"
    errors = fit_vocaset(tmp_path / "voca", flame_file, out, expression=FITTED, steps=200, progress=False)
    assert sorted(errors) == sorted(truth)
    motion_mm = 1000 * 0.15 * 0.1  # the jaw alone moves the lower face by millimetres
    assert max(e["max_mm"] for e in errors.values()) < 0.02 * motion_mm
    for clip_id, (psi, jaw) in truth.items():
        with np.load(out / f"{clip_id}.npz") as stored:
            np.testing.assert_allclose(stored["jaw_pose"], jaw, atol=0.01)
            np.testing.assert_allclose(stored["expression"][:, :FITTED], psi, atol=0.05)
            assert stored["shape"].shape == (NUM_SHAPE,) and float(stored["fps"]) == 30.0
    splits = json.loads((out / "splits.json").read_text())
    assert splits["train"] == [f"{s}/{n}" for s, n in CLIPS[:2]] and splits["val"] == [f"{VAL_SUBJECTS[0]}/sentence21"]
    train = open_dataset("flame_seq", out, split="train")
    sample = train[0]
    assert len(train) == 2 and sample.subject == TRAIN_SUBJECTS[0] and sample.motion.kind == "params"
    assert sample.motion.num_frames == FRAMES_60 // 2 and abs(sample.audio.duration - FRAMES_60 / 60) < 0.01


def test_fit_shape_gives_the_templates_rest_face(flame_file: Path) -> None:
    model = load_flame(flame_file)
    flame = Flame(model)
    beta = torch.as_tensor(np.random.default_rng(2).standard_normal((1, NUM_SHAPE)), dtype=torch.float32)
    template = flame(torch.zeros(1, E), torch.zeros(1, 5, 3), beta)[0].detach().numpy()
    fitted = torch.as_tensor(fit_shape(model, template))[None]
    rest = flame(torch.zeros(1, E), torch.zeros(1, 5, 3), fitted)[0].detach().numpy()
    np.testing.assert_allclose(rest, template, atol=1e-6)


def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path: Path, flame_file: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    _vocaset(tmp_path / "voca", flame_file)
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / "voca"), str(flame_file), str(tmp_path / "out"), "--expression", "101"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {flame_file}: has 100 expression components; cannot fit 101"]
    assert not (tmp_path / "out").exists()


def test_the_vocaset_flame_config_trains_on_the_fit(tmp_path: Path, flame_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """configs/emotion_control/vocaset_flame.yaml through the training loop on the fitted directory (tiny sizes, mel)."""
    from facetalk.models.base import load_model
    from facetalk.train.loop import train

    _vocaset(tmp_path / "voca", flame_file)
    fit_vocaset(tmp_path / "voca", flame_file, tmp_path / "voca_flame", expression=FITTED, steps=50, progress=False)
    monkeypatch.setenv("FACETALK_CACHE", str(tmp_path / "cache"))
    shipped = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs/emotion_control/vocaset_flame.yaml").read_text())
    config = tmp_path / "vocaset_flame.yaml"
    loss = {term: weight for term, weight in shipped["loss"].items() if term != "mouth_shape"}  # no lip probes on 60 vertices
    config.write_text(yaml.safe_dump({**shipped, "features": {"encoder": "mel"}, "loss": loss}))  # wav2vec 2.0 is not here
    overrides = [f"data.root={tmp_path / 'voca_flame'}", f"model.options.flame_model={flame_file}",
                 "model.name=emotion_control_tiny", "data.window=8", "data.stride=4", "data.batch_size=2",
                 "train.max_steps=40", "train.val_every=40", "train.progress=false",
                 "train.num_threads=1", "train.tensorboard=false", "optim.lr=3e-3"]  # fmt: skip
    train(config, tmp_path / "run", overrides=overrides)
    losses = [float(line.split(",")[3]) for line in (tmp_path / "run" / "train.csv").read_text().splitlines()[1:]]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    model = load_model(tmp_path / "run" / "best")
    assert model.kind == "params" and model.channels[-3:] == ("jaw_x", "jaw_y", "jaw_z")
