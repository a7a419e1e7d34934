"""emotion_control (paper 002): shapes, the residual augment path, the prior arithmetic, max-min rescaling,
teacher-forced priors, emotion control changing the output, padding, the losses, overfitting, the inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facetalk.data.collate import collate
from facetalk.data.windows import ClipArrays, WindowDataset
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.parametric import ArkitFace
from facetalk.models import Conditions, build_model, load_model, save_model
from facetalk.models.base import ModelOutput
from facetalk.models.emotion_control import EmotionControl, control_priors, masked_time_mean
from facetalk.models.inputs import InputPipeline
from facetalk.train.objective import Objective
from facetalk.types import EMOTIONS, EmotionSchedule

C_IN = 8
TINY = "emotion_control_tiny"
K = len(ARKIT_NAMES)


def _randomize(model: torch.nn.Module, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=generator))


def _model(seed: int = 0, **options: object) -> EmotionControl:
    torch.manual_seed(seed)
    model = build_model(TINY, feature_dim=C_IN, num_subjects=2, **options)
    assert isinstance(model, EmotionControl)
    _randomize(model)
    return model.eval()


def _batch(lengths: tuple[int, ...] = (16, 16), *, seed: int = 0, emotion: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    length = max(lengths)
    mask = (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).float()
    batch = {"features": torch.randn(len(lengths), length, C_IN, generator=generator) * mask[..., None],
             "motion": 0.3 * torch.rand(len(lengths), length, K, generator=generator) * mask[..., None],
             "mask": mask, "subject": torch.full((len(lengths),), -1)}  # fmt: skip
    if emotion is not None:
        batch["emotion"], batch["emotion_mask"] = emotion.expand(len(lengths), length, -1), mask
    return batch


def _request(category: str, intensity: float = 1.0, frames: int = 16) -> torch.Tensor:
    return torch.from_numpy(EmotionSchedule.constant(category, intensity).at_frames(frames, 30.0))[None]  # (1, T, 7)


def test_shapes_extras_and_face() -> None:
    out = _model()(_batch())
    assert out.motion.shape == (2, 16, K) and torch.isfinite(out.motion).all()
    assert out.extras["raw_motion"].shape == (2, 16, K)
    assert out.extras["predicted_priors"].shape == out.extras["priors"].shape == (2, 16, len(EMOTIONS))
    assert isinstance(out.face, ArkitFace) and out.face.channels == ARKIT_NAMES
    assert not any(name.startswith("face.") for name in _model().state_dict())  # the face is rebuilt, never saved


def test_residual_path_and_augment_ablation() -> None:
    full, plain = _model(), _model(augment=False)
    assert plain.augment is None and plain.predictor is None and not plain.inputs.emotion
    batch = _batch()
    out = full(batch)
    # the same seed and randomisation give the same Audio2FLAME weights: augment off is exactly its output
    assert torch.allclose(plain(batch).motion, out.extras["raw_motion"])
    assert full.augment is not None
    features = torch.cat([full.augment.embedding(out.extras["priors"]), out.extras["raw_motion"]], dim=-1)
    expected = out.extras["raw_motion"] + full.augment.cnn(full.augment.norm(features), batch["mask"])
    assert torch.allclose(out.motion, expected, atol=1e-6)
    assert not torch.allclose(out.motion, out.extras["raw_motion"])


def test_prior_arithmetic_by_hand() -> None:
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    predicted = torch.zeros(1, 4, 7)
    predicted[0, :, 2] = torch.tensor([0.1, 0.2, 0.6, 9.0])  # the padded frame's 9 must not enter the mean (0.3)
    requested = torch.zeros(1, 4, 7)
    requested[0, :, 1] = 0.5
    gamma = control_priors(requested, predicted, mask)
    assert torch.allclose(gamma[0, :3, 1], torch.full((3,), 0.5))
    assert torch.allclose(gamma[0, :3, 2], torch.tensor([-0.2, -0.1, 0.3]))
    assert torch.allclose(masked_time_mean(predicted, mask)[0, 0, 2], torch.tensor(0.3))
    assert control_priors(None, predicted, mask) is predicted
    assert control_priors(requested, None, mask) is requested
    assert torch.equal(control_priors(None, None, mask), torch.zeros(1, 4, 7))


def test_max_min_rescaling() -> None:
    model = _model()
    priors = torch.tensor([[-2.0, 0, 0, 0, 0, 0, 1], [2.0, 4, 0, 0, 0, 0, 3]])
    model.fit_emotion_priors(priors)
    rescaled = model.rescale(torch.tensor([[0.0, 1, 0, 0, 0, 0, 2]]))
    assert torch.allclose(rescaled[0, [0, 1, 6]], torch.tensor([0.5, 0.25, 0.5]))
    assert torch.isfinite(rescaled).all()  # channels that never varied do not divide by 0


def test_training_priors_drive_the_augment_network() -> None:
    model = _model()
    batch = _batch()
    batch["emotion_prior"] = torch.randn(2, 16, 7)
    out = model(batch)
    assert torch.allclose(out.extras["priors"], model.rescale(batch["emotion_prior"]))
    assert torch.equal(out.extras["target_priors"], out.extras["priors"])
    labels = _model(prior_source="labels").train()
    labelled = _batch(emotion=_request("sad", 0.7))
    assert torch.allclose(labels(labelled).extras["priors"], labelled["emotion"])
    labels.eval()  # validation batches (with their target motion) are teacher-forced too; an inference batch is not
    assert torch.allclose(labels(labelled).extras["priors"], labelled["emotion"])
    del labelled["motion"]
    assert not torch.allclose(labels(labelled).extras["priors"], labelled["emotion"])
    assert not labels.inputs.emotion_prior and _model().inputs.emotion_prior


def test_requested_emotion_and_intensity_change_the_output() -> None:
    model = _model()
    outputs = {name: model(_batch(emotion=_request(name))).motion for name in ("neutral", "happy", "anger")}
    assert (outputs["happy"] - outputs["neutral"]).abs().max() > 1e-3
    assert (outputs["happy"] - outputs["anger"]).abs().max() > 1e-3
    # γ moves linearly with intensity; so does the embedding, before the LayerNorm
    half = model(_batch(emotion=_request("happy", 0.5))).motion
    assert not torch.allclose(half, outputs["happy"]) and not torch.allclose(half, outputs["neutral"])
    # without the predictor γ is the request itself
    control_only = _model(predictor=False)
    out = control_only(_batch(emotion=_request("fear")))
    assert torch.equal(out.extras["priors"], _request("fear").expand(2, -1, -1)) and "predicted_priors" not in out.extras


def test_the_speaker_option_gives_the_augment_network_the_speaker(tmp_path: Path) -> None:
    model = _model(speaker=True)
    assert model.num_subjects == 2 and _model().num_subjects == 0
    batch = _batch(emotion=_request("happy"))
    outputs = [model({**batch, "subject": torch.full((2,), index)}).motion for index in (0, 1, -1)]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3  # the speaker changes the output
    raw = model({**batch, "subject": torch.zeros(2, dtype=torch.long)}).extras["raw_motion"]
    assert torch.equal(raw, model(batch).extras["raw_motion"])  # Audio2FLAME does not read it
    save_model(model, tmp_path)  # an unseen speaker (-1) gets the average of the one-hots, saved and loaded
    assert torch.equal(load_model(tmp_path)({**batch, "subject": torch.full((2,), -1)}).motion, outputs[2])


def test_padding_does_not_change_real_frames() -> None:
    model = _model()
    short = _batch((10,), seed=4, emotion=_request("happy", 1.0, 10))
    padded = {key: torch.cat([value, torch.zeros(1, 6, *value.shape[2:])], dim=1) if value.ndim >= 2 else value
              for key, value in short.items()}  # fmt: skip
    padded["mask"] = torch.cat([short["mask"], torch.zeros(1, 6)], dim=1)
    assert torch.allclose(model(short).motion, model(padded).motion[:, :10], atol=1e-5)


def test_seeded_determinism_and_save_load(tmp_path: Path) -> None:
    model = _model()
    batch = _batch(emotion=_request("surprise"))
    assert torch.equal(model(batch).motion, _model()(batch).motion)
    model.fit_emotion_priors(torch.randn(20, 7))
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert torch.equal(loaded(batch).motion, model(batch).motion)


def test_vertex_and_mouth_losses_by_hand() -> None:
    face = ArkitFace()
    params = torch.zeros(1, 2, K)
    params[0, 1, ARKIT_NAMES.index("jawOpen")] = 1.0
    target = torch.zeros(1, 2, K)
    output = ModelOutput(motion=params, face=face)
    batch = {"motion": target, "mask": torch.ones(1, 2)}
    deltas = face.deltas.reshape(K, -1, 3)[ARKIT_NAMES.index("jawOpen")]  # (V, 3)
    weights = face.region_weights
    expected_vertex = 0.5 * float((deltas.abs().sum(dim=1) * weights).sum() / (3 * weights.sum()))  # frame 0 has no error
    objective = Objective.from_config({"vertex_l1": 1.0, "mouth_shape": {"weight": 1.0, "options": {"height_scale": 0.01}}})
    _, terms = objective(output, batch)
    assert terms["vertex_l1"].item() == pytest.approx(expected_vertex, rel=1e-5)
    top, bottom = face.mouth_height_pairs[0]
    left, right = face.mouth_width_pairs[0]
    vertices = face.vertices(params)[0, 1]
    neutral = face.neutral
    height_error = abs(float((vertices[top] - vertices[bottom]).norm() - (neutral[top] - neutral[bottom]).norm()))
    width_error = abs(float((vertices[left] - vertices[right]).norm() - (neutral[left] - neutral[right]).norm()))
    assert height_error > 0.005  # jawOpen opens the mouth by centimetres
    expected_mouth = 0.5 * 0.5 * (height_error / 0.01 + width_error / 0.0476)
    assert terms["mouth_shape"].item() == pytest.approx(expected_mouth, rel=1e-4)
    with pytest.raises(InvalidInputError, match="parametric face"):
        Objective.from_config({"vertex_l1": 1.0})(ModelOutput(motion=params), batch)


def test_prior_terms_by_hand() -> None:
    predicted = torch.zeros(1, 3, 7)
    predicted[0, :, 0] = torch.tensor([0.0, 0.7, 0.7])
    target = torch.zeros(1, 3, 7)
    output = ModelOutput(motion=torch.zeros(1, 3, K), extras={"predicted_priors": predicted, "target_priors": target})
    _, terms = Objective.from_config({"emotion_prior": 1.0, "prior_smoothness": 1.0})(output, {"mask": torch.ones(1, 3)})
    assert terms["emotion_prior"].item() == pytest.approx((0.49 + 0.49) / (3 * 7))
    assert terms["prior_smoothness"].item() == pytest.approx(0.49 / 7 / 2)


def test_short_overfit_loss_falls() -> None:
    torch.manual_seed(0)
    model = build_model(TINY, feature_dim=C_IN, num_subjects=1).train()
    batch = _batch()
    batch["emotion_prior"] = torch.randn(2, 16, 7)
    objective = Objective.from_config({"vertex_l1": 1000.0, "raw_vertex_l1": 250.0, "mouth_shape": 1.0, "emotion_prior": 1.0,
                                       "prior_smoothness": 1.0})  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, _ = objective(model(batch), batch)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_inputs_carry_priors_in_training_not_at_inference() -> None:
    model = _model()
    prior = np.random.default_rng(0).standard_normal((20, 7)).astype(np.float32)
    clip = ClipArrays(clip_id="c", num_frames=20, fps=30.0, features=np.zeros((20, C_IN), np.float32),
                      motion=np.zeros((20, K), np.float32), emotion=np.tile(np.eye(7, dtype=np.float32)[1], (20, 1)),
                      emotion_prior=prior)  # fmt: skip
    batch = collate([WindowDataset([clip], length=8, stride=8)[1]])
    assert torch.equal(batch["emotion_prior"][0], torch.from_numpy(prior[8:16]))
    inference = InputPipeline(model.inputs).batch(clip, Conditions(emotion=EmotionSchedule.constant("sad").at_frames(20, 30.0)))
    assert "emotion_prior" not in inference and "motion" not in inference
    assert inference["emotion"][0, 0, EMOTIONS.index("sad")] == 1.0
    out = model.generate(inference)
    assert out.data.shape == (20, K) and out.kind == "blendshapes"


def test_emotion_priors_are_the_recognizers_and_cached_once(tmp_path: Path) -> None:
    from facetalk.eval.emotion import frame_logits
    from facetalk.face.default_face import default_rig
    from facetalk.models.inputs import InputSpec
    from facetalk.types import Motion

    weights = np.zeros((40, K), np.float32)
    weights[:, ARKIT_NAMES.index("mouthSmileLeft")] = weights[:, ARKIT_NAMES.index("mouthSmileRight")] = 0.8
    vertices = Motion.from_vertices(default_rig().to_vertices(weights), 30.0)
    pipeline = InputPipeline(InputSpec(emotion_prior=True), cache=tmp_path, dataset_key="d")
    prior = np.array(pipeline.emotion_prior(vertices, clip_id="c"))
    np.testing.assert_allclose(prior, frame_logits(pipeline.emotion_recognizer, vertices), atol=1e-5)
    assert prior.shape == (40, 7) and prior[:, EMOTIONS.index("happy")].mean() > prior[:, EMOTIONS.index("sad")].mean()
    stored = list(tmp_path.rglob("c-*.npy"))
    assert len(stored) == 1
    stamp = stored[0].stat().st_mtime_ns
    np.testing.assert_array_equal(pipeline.emotion_prior(vertices, clip_id="c"), prior)
    assert stored[0].stat().st_mtime_ns == stamp  # read back, not recomputed


def test_prototypes_put_requests_where_the_training_priors_are() -> None:
    model = _model(request_basis="prototypes")
    logits = torch.tensor([[5.0, 0, 0, 0, 0, 0, 1], [4.0, 0, 0, 0, 0, 0, 0], [0.0, 6, 0, 0, 0, 0, 2], [0.0, 0, 0, 0, 0, 0, 3]])
    model.fit_emotion_priors(logits)
    rescaled = model.rescale(logits)
    assert torch.allclose(model.prototypes[0], rescaled[:2].mean(dim=0))  # frames recognized as neutral
    assert torch.allclose(model.prototypes[1], rescaled[2]) and torch.allclose(model.prototypes[6], rescaled[3])
    assert torch.equal(model.prototypes[2], torch.eye(7)[2])  # no frame is sad: the one-hot stays
    request = 0.25 * torch.eye(7)[0] + 0.75 * torch.eye(7)[1]
    assert torch.allclose(model.request(request), 0.25 * model.prototypes[0] + 0.75 * model.prototypes[1])
    assert torch.equal(_model().request(request), request)  # the paper's one-hot request
    with pytest.raises(InvalidInputError, match="request_basis"):
        _model(request_basis="both")
