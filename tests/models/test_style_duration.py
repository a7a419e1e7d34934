"""style_duration (paper 000): duration modelling by hand, gradient reversal, relative position bias,
in-betweening masks, style conditioning, determinism, the loss terms, and a short overfit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facetalk.errors import InvalidInputError
from facetalk.models import build_model
from facetalk.models.modules.duration import (
    duration_positions,
    fit_durations,
    label_runs,
    length_regulate,
    phoneme_average,
    rescale_durations,
)
from facetalk.models.modules.style_transformer import (
    GradientReversal,
    RelativePositionBias,
    StyleAdaptiveLayerNorm,
)
from facetalk.models.style_duration import Inbetween, StyleDuration
from facetalk.train.objective import Objective

C, D, K = 8, 52, 3
B, T = 2, 12
TINY = "style_duration_tiny"
LOSS = {"reconstruction": {"weight": 1.0, "options": {"kind": "l1"}}, "velocity": {"weight": 1.0, "options": {"kind": "l1"}},
        "speaker_ce": 1.0, "phoneme_ce": 1.0, "duration": 1.0}  # fmt: skip


def _model(seed: int = 0, **options: object) -> StyleDuration:
    torch.manual_seed(seed)
    model = build_model(TINY, feature_dim=C, motion_dim=D, num_subjects=K, **options)
    assert isinstance(model, StyleDuration)
    return model.eval()


def _batch(seed: int = 0, *, phones: bool = True) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, T)
    mask[1, 10:] = 0.0
    batch = {"features": torch.randn(B, T, C, generator=generator) * mask[..., None], "mask": mask,
             "lengths": torch.tensor([12, 10]), "subject": torch.tensor([0, 2]),
             "motion": torch.rand(B, T, D, generator=generator) * mask[..., None],
             "style": torch.rand(B, 16, D, generator=generator), "style_mask": torch.ones(B, 16)}  # fmt: skip
    if phones:
        durations = torch.tensor([[3, 4, 5], [6, 4, 0]])
        batch["phone_durations"], batch["phone_lengths"] = durations, torch.tensor([3, 2])
        batch["phone_tokens"] = torch.tensor([[5, 9, 1], [7, 2, 0]])
        ids = [tokens.repeat_interleave(d) for tokens, d in zip(batch["phone_tokens"], durations, strict=True)]
        batch["phone_ids"] = torch.stack([F.pad(row, (0, T - len(row))) for row in ids])  # (B, T), 0 pads
    return batch


# --- §3.3 duration modelling by hand -------------------------------------------------------------------------


def test_phoneme_average_hand_computed() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [5.0], [10.0], [0.0], [2.0]]])  # (1, T'=6, 1)
    out = phoneme_average(hidden, torch.tensor([[2, 1, 3, 0]]))  # tokens of 2, 1, 3 frames and a padding token
    assert torch.allclose(out[0, :, 0], torch.tensor([2.0, 5.0, 4.0, 0.0]))


def test_length_regulator_hand_computed_and_durations_change_it() -> None:
    phones = torch.tensor([[[1.0], [2.0], [3.0]]])  # (1, N=3, 1)
    out = length_regulate(phones, torch.tensor([[2, 0, 3]]), 6)[0, :, 0]
    assert out.tolist() == [1.0, 1.0, 3.0, 3.0, 3.0, 0.0]  # an empty token vanishes, frames past the sum are zero
    other = length_regulate(phones, torch.tensor([[1, 3, 2]]), 6)[0, :, 0]
    assert other.tolist() == [1.0, 2.0, 2.0, 2.0, 3.0, 3.0]


def test_duration_positions_hand_computed() -> None:
    since, left = duration_positions(torch.tensor([[2, 3]]), 6)
    assert since[0].tolist() == [0, 1, 0, 1, 2, 0]
    assert left[0].tolist() == [1, 0, 2, 1, 0, 0]


def test_durations_between_rates_keep_every_frame() -> None:
    assert rescale_durations(torch.tensor([[1, 2, 2]]), 4).tolist() == [[4, 8, 8]]  # 25 fps -> 100 fps
    assert rescale_durations(torch.tensor([[1, 2, 2]]), 10 / 3).tolist() == [[3, 7, 7]]  # boundaries 3.3, 10, 16.7 rounded


def test_fit_durations_sum_to_the_frames() -> None:
    predicted = torch.tensor([[1.0, 3.0, -2.0, 9.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    out = fit_durations(predicted, mask, torch.tensor([8, 5]))
    assert out.tolist() == [[2, 6, 0, 0], [2, 3, 0, 0]]  # 1:3 of 8 frames; all-zero predictions spread evenly (2.5 -> 2)


def test_label_runs_hand_computed() -> None:
    labels = torch.tensor([[4, 4, 7, 7, 7, 4, 1], [2, 2, 2, 3, 9, 9, 9]])
    durations, tokens = label_runs(labels, torch.tensor([7, 4]))
    assert tokens.tolist() == [4, 2]
    assert durations.tolist() == [[2, 3, 1, 1], [3, 1, 0, 0]]


# --- §3.1, §3.4 blocks --------------------------------------------------------------------------------------


def test_gradient_reversal_flips_the_content_encoders_gradient() -> None:
    layer = GradientReversal()
    x = torch.randn(3, 4, requires_grad=True)
    weights = torch.randn(3, 4)
    (layer(x) * weights).sum().backward()
    assert torch.equal(x.grad, -weights)  # type: ignore[arg-type]

    model = _model()
    batch = _batch()
    assert model.content_encoder is not None and model.classifier is not None

    def content_gradient(reverse: bool) -> list[torch.Tensor]:
        model.zero_grad()
        content = model.content_encoder(batch["style"], batch["style_mask"])  # type: ignore[misc]
        logits = model.classifier(model.reverse(content) if reverse else content)  # type: ignore[misc]
        F.cross_entropy(logits, batch["subject"]).backward()
        return [p.grad.clone() for p in model.content_encoder.parameters()]  # type: ignore[union-attr]

    reversed_, plain = content_gradient(True), content_gradient(False)
    assert any(g.abs().sum() > 0 for g in plain)
    assert all(torch.allclose(r, -p) for r, p in zip(reversed_, plain, strict=True))


def test_relative_position_bias_depends_only_on_offsets() -> None:
    bias = RelativePositionBias(heads=2, max_distance=3)
    with torch.no_grad():
        bias.table.copy_(torch.randn(2, 7))
    out = bias(8)  # (2, 8, 8)
    for i in range(7):
        for j in range(7):
            assert torch.equal(out[:, i, j], out[:, i + 1, j + 1])
    assert torch.equal(out[:, 0, 5], out[:, 0, 7])  # offsets past 3 share the bias of 3
    assert not torch.equal(out[:, 0, 1], out[:, 1, 0])  # +1 and -1 differ


def test_style_adaptive_layer_norm_starts_as_a_layer_norm_and_follows_the_style() -> None:
    norm = StyleAdaptiveLayerNorm(6, 4)
    x, style = torch.randn(2, 5, 6), torch.randn(2, 4)
    assert torch.allclose(norm(x, style), F.layer_norm(x, (6,)), atol=1e-6)
    with torch.no_grad():
        norm.affine.weight.normal_()  # type: ignore[union-attr]
    first, second = norm(x, style), norm(x, style.flip(0))
    assert not torch.allclose(first, second)
    per_frame = norm(x, style[:, None, :].expand(2, 5, 4))  # a style per frame, constant here
    assert torch.allclose(first, per_frame, atol=1e-6)


def _decoder_inputs() -> tuple[StyleDuration, dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor]:
    """The tiny model, a batch, its style vectors and H_d."""
    model = _model()
    batch = _batch()
    style = model.encode_style(batch["style"], batch["style_mask"])
    hidden, _ = model.speech_hidden(batch, style)
    return model, batch, style, hidden


def test_inbetweening_hides_exactly_the_masked_frames() -> None:
    model, batch, style, hidden = _decoder_inputs()
    known = torch.zeros(B, T)
    known[:, :3] = 1.0
    known[0, 11], known[1, 9] = 1.0, 1.0  # the targets: each row's last real frame
    target = torch.tensor([11, 9])

    def decode(motion: torch.Tensor) -> torch.Tensor:
        return model.decode(hidden, batch["mask"], style, Inbetween(known=known, motion=motion, target=target))

    out = decode(batch["motion"])
    masked_changed = batch["motion"] + (1.0 - known)[..., None] * torch.rand(B, T, D)
    assert torch.allclose(out, decode(masked_changed), atol=1e-6)  # masked frames are hidden
    for frame in (1, 11):  # a context frame and row 0's target frame are seen
        changed = batch["motion"].clone()
        changed[0, frame] += 1.0
        assert not torch.allclose(out[0], decode(changed)[0], atol=1e-4)
    # the keyframe position embedding: another target frame changes the output
    moved = model.decode(hidden, batch["mask"], style, Inbetween(known=known, motion=batch["motion"], target=target - 1))
    assert not torch.allclose(out, moved, atol=1e-4)


# --- the model ------------------------------------------------------------------------------------------------


def test_shapes_extras_and_seeded_determinism() -> None:
    out = _model()(_batch())
    assert out.motion.shape == (B, T, D) and torch.isfinite(out.motion).all()
    assert out.extras["phone_logits"].shape[:2] == (B, T) and out.extras["durations"].shape == (B, 3)
    assert out.extras["speaker_logits"].shape == (B, K) and out.extras["content_speaker_logits"].shape == (B, K)
    assert torch.equal(out.extras["regulated_durations"], _batch()["phone_durations"])
    assert torch.equal(out.motion, _model()(_batch()).motion)
    assert not torch.equal(out.motion, _model(seed=1)(_batch()).motion)


def test_the_style_reference_changes_the_output() -> None:
    model = _trained_like(_model())
    batch = _batch()
    out = model(batch).motion
    other = model({**batch, "style": batch["style"].flip(0)}).motion  # the rows swap references
    difference = (out - other).abs()[batch["mask"] > 0].mean()
    assert difference > 0.05 * out.abs().mean()
    without = _model(style=False)
    assert without.style_encoder is None and without.inputs.style is False
    assert torch.equal(without(batch).motion, without({**batch, "style": batch["style"].flip(0)}).motion)


def test_inference_predicts_phones_and_durations_that_fill_the_clip() -> None:
    model = _model()
    out = model(_batch(phones=False))
    assert out.motion.shape == (B, T, D)
    regulated = out.extras["regulated_durations"]
    assert regulated.sum(dim=1).tolist() == [12, 10]
    assert (regulated >= 0).all()


def test_speech_rate_four_keeps_the_motion_frames() -> None:
    model = _model(speech_rate=4)
    out = model(_batch())
    assert out.motion.shape == (B, T, D) and out.extras["phone_logits"].shape[1] == 4 * T
    loss, _ = Objective.from_config(LOSS)(out, _batch())
    assert torch.isfinite(loss)
    assert model(_batch(phones=False)).extras["regulated_durations"].sum(dim=1).tolist() == [12, 10]


def test_padding_does_not_change_the_real_frames() -> None:
    model = _model()
    batch = _batch()
    out = model(batch).motion
    padded = {**batch, "features": batch["features"].clone()}
    padded["features"][1, 10:] = 100.0
    assert torch.allclose(model(padded).motion[1, :10], out[1, :10], atol=1e-5)


def test_ablation_switches() -> None:
    no_duration = _model(duration=False)
    assert no_duration.inputs.phones is False and no_duration.duration_predictor is None
    assert no_duration(_batch(phones=False)).motion.shape == (B, T, D)
    no_relative = _model(relative_position=False)
    assert all(block.bias is None for block in no_relative.decoder_blocks)
    assert all(block.bias is not None for block in _model().decoder_blocks)


def test_loss_terms() -> None:
    batch = _batch()
    out = _model()(batch)
    terms = Objective.from_config(LOSS)(out, batch)[1]
    expected = (out.extras["durations"] - batch["phone_durations"]).abs()[:, :3]
    assert torch.isclose(terms["duration"], (expected[0].sum() + expected[1, :2].sum()) / 5)
    unknown = {**batch, "subject": torch.tensor([-1, 2])}  # only row 1 counts
    row = F.cross_entropy(out.extras["speaker_logits"][1:], batch["subject"][1:])
    row = row + F.cross_entropy(out.extras["content_speaker_logits"][1:], batch["subject"][1:])
    assert torch.isclose(Objective.from_config({"speaker_ce": 1.0})(out, unknown)[1]["speaker_ce"], row)
    with pytest.raises(InvalidInputError, match="phone durations"):
        Objective.from_config({"duration": 1.0})(out, _batch(phones=False))


def test_style_emotion_classifier_names_the_references_label_and_trains_the_style_encoder() -> None:
    model = _model(emotion_classes=7)
    batch = {**_batch(), "style_emotion": torch.tensor([3, -1])}  # only row 0 has a label
    out = model(batch)
    assert out.extras["style_emotion_logits"].shape == (B, 7)
    term = Objective.from_config({"style_emotion_ce": 1.0})(out, batch)[1]["style_emotion_ce"]
    assert torch.isclose(term, F.cross_entropy(out.extras["style_emotion_logits"][:1], torch.tensor([3])))
    term.backward()
    assert model.style_encoder is not None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.style_encoder.parameters())  # w learns emotion
    assert "emotion_classifier.0.weight" not in model.inference_state_dict()  # training only
    with pytest.raises(InvalidInputError, match="emotion labels"):
        Objective.from_config({"style_emotion_ce": 1.0})(out, _batch())
    assert "style_emotion_logits" not in _model()(_batch()).extras  # off by default


def test_missing_style_reference_is_a_one_line_error() -> None:
    batch = _batch()
    del batch["style"]
    with pytest.raises(InvalidInputError, match="style reference"):
        _model()(batch)


def test_thirty_adam_steps_halve_the_loss_on_one_batch() -> None:
    model = _model(inbetween_prob=0.5).train()
    objective = Objective.from_config(LOSS)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = _batch()
    torch.manual_seed(0)
    first = None
    for _ in range(30):
        loss, _ = objective(model(batch), batch)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert objective(model(batch), batch)[0].item() < 0.5 * first


# --- §3.5 discriminators ---------------------------------------------------------------------------------------


def test_one_adversarial_step_of_each_discriminator() -> None:
    from facetalk.config import OptimConfig
    from facetalk.train.objective import Optimizers

    torch.manual_seed(0)
    model = build_model("style_duration_adversarial_tiny", feature_dim=C, motion_dim=D, num_subjects=K)
    assert isinstance(model, StyleDuration) and model.style_discriminator is not None and model.sync_discriminator is not None
    model.train()
    groups = model.parameter_groups()
    assert set(groups) == {"model", "discriminator"}
    assert not {id(p) for p in groups["model"]} & {id(p) for p in groups["discriminator"]}
    optimizers = Optimizers(groups, OptimConfig(lr=1e-2, warmup_steps=0), max_steps=10)
    optimizers.set_step(5)
    objective = Objective.from_config({**LOSS, "adversarial": 1.0})
    batch = _batch()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    values = model.train_step(batch, objective, optimizers, model)
    assert {"loss", "adversarial", "discriminator"} <= set(values) and torch.isfinite(values["discriminator"])
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert any(n.startswith("style_discriminator.") for n in changed) and "style_discriminator.prototypes" in changed
    assert any(n.startswith("sync_discriminator.") for n in changed)
    assert any(n.startswith("decoder_blocks.") for n in changed)
    # the discriminators' loss on this batch fell after their update; fake scores: style rows then sync rows
    assert "fake_scores" not in model(batch).extras  # in training, `train_step` scores after the discriminators' update
    output = model.eval()(batch)  # validation: the adversarial term needs the scores
    assert output.extras["fake_scores"].shape == (2 * B,)
    assert model.discriminator_loss(batch, output) < values["discriminator"]
    # unknown speakers are left out of the style discriminator
    logits, scores = model.style_discriminator(batch["motion"], batch["mask"], torch.tensor([-1, 1]))
    assert logits.shape == (1, K) and scores.shape == (1,)
    assert model.training_only == ("style_discriminator", "sync_discriminator", "emotion_classifier")


# --- emotion transitions at inference ---------------------------------------------------------------------------


def _trained_like(model: StyleDuration) -> StyleDuration:
    """Random SALN gain and bias predictors (untrained ones are zero, so the style would not show)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "affine" in name:
                param.normal_(std=0.3)
    return model


def test_style_spans_blend_references_with_in_betweened_transitions() -> None:
    model = _trained_like(_model())
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(1, 40, C, generator=generator)
    batch = {"features": features, "mask": torch.ones(1, 40), "lengths": torch.tensor([40]), "subject": torch.tensor([-1])}
    calm, lively = (torch.rand(16, D, generator=generator) * scale for scale in (0.1, 1.0))
    one = model.generate_spans(batch, [(0, calm.numpy())])
    assert one.data.shape == (40, D)
    assert np.allclose(one.data, model.generate({**batch, "style": calm[None], "style_mask": torch.ones(1, 16)}).data, atol=1e-6)
    two = model.generate_spans(batch, [(0, calm.numpy()), (20, lively.numpy())], transition_frames=8)
    hard = model.generate_spans(batch, [(0, calm.numpy()), (20, lively.numpy())], transition_frames=0)
    assert not np.allclose(two.data, one.data, atol=1e-4)  # the second reference shows
    changed = np.abs(two.data - hard.data).max(axis=1) > 1e-6
    assert changed[16:24].all() and not changed[:16].any() and not changed[24:].any()  # exactly the 8 masked frames
    with pytest.raises(InvalidInputError, match="start at frame 0"):
        model.generate_spans(batch, [(5, calm.numpy())])


def test_rows_without_known_frames_are_decoded_as_without_in_betweening() -> None:
    model, batch, style, hidden = _decoder_inputs()
    known = torch.zeros(B, T)
    known[0, :3] = 1.0  # only row 0 is in-betweened
    window = Inbetween(known=known, motion=batch["motion"], target=torch.tensor([11, 9]))
    out = model.decode(hidden, batch["mask"], style, window)
    plain = model.decode(hidden, batch["mask"], style)
    assert torch.allclose(out[1], plain[1], atol=1e-6) and not torch.allclose(out[0], plain[0], atol=1e-4)


def test_animate_spans_from_a_saved_model_without_an_alignment(tmp_path: Path) -> None:
    from facetalk.audio import build_encoder
    from facetalk.face.arkit import ARKIT_NAMES
    from facetalk.models import save_model
    from facetalk.models.style_duration import animate_spans
    from facetalk.types import Motion, Waveform

    dim = build_encoder("mel").dim
    torch.manual_seed(0)
    model = _trained_like(build_model(TINY, feature_dim=dim, motion_dim=D, num_subjects=K))  # type: ignore[arg-type]
    model.metadata = {"features": {"encoder": "mel", "options": {}}, "subjects": ["a", "b", "c"]}
    save_model(model, tmp_path)
    t = np.arange(16000, dtype=np.float32) / 16000
    speech = Waveform(0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)), 16000)
    calm, lively = (Motion(np.full((20, D), level, np.float32), 30.0, "blendshapes", ARKIT_NAMES) for level in (0.1, 0.6))
    motion = animate_spans(speech, tmp_path, [(0.0, calm), (0.5, lively)], transition_frames=6)
    assert motion.data.shape == (30, D) and motion.fps == 30.0 and np.isfinite(motion.data).all()
    with pytest.raises(InvalidInputError, match="start at frame 0"):
        animate_spans(speech, tmp_path, [(0.2, calm)])
