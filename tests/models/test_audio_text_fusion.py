"""Paper 003's joint audio-text model: tensor fusion, the text path's pauses, the BLSTM, ablations, overfitting."""

from __future__ import annotations

import pytest
import torch

from facetalk.errors import InvalidInputError
from facetalk.models import build_model
from facetalk.models.audio_text_fusion import AudioTextFusion, tensor_fusion
from facetalk.models.inputs import InputSpec

C, C_TEXT, D, SUBJECTS = 6, 5, 4, 3
B, T = 2, 40


def _model(seed: int = 0, **options: object) -> AudioTextFusion:
    """The tiny preset with fixed random weights (its output layer starts at zero)."""
    torch.manual_seed(seed)
    model = build_model("audio_text_fusion_tiny", feature_dim=C, text_dim=C_TEXT, motion_dim=D, num_subjects=SUBJECTS,
                        **options)  # fmt: skip
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=generator))
    assert isinstance(model, AudioTextFusion)
    return model.eval()


def _batch(seed: int = 0, *, pause: slice | None = None) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    text = torch.randn(B, T, C_TEXT, generator=generator)
    if pause is not None:
        text[:, pause] = 0.0
    return {"features": torch.randn(B, T, C, generator=generator), "text": text, "subject": torch.tensor([0, 2]),
            "mask": torch.ones(B, T), "lengths": torch.full((B,), T),
            "motion": 0.5 * torch.rand(B, T, D, generator=generator)}  # fmt: skip


def test_tensor_fusion_by_hand_and_its_constant_rows_reproduce_each_embedding() -> None:
    audio = torch.tensor([[[2.0, 3.0]]])  # (1, 1, 2)
    text = torch.tensor([[[5.0, 7.0, 11.0]]])  # (1, 1, 3)
    expected = [[10.0, 14.0, 22.0, 2.0], [15.0, 21.0, 33.0, 3.0], [5.0, 7.0, 11.0, 1.0]]  # [a; 1] ⊗ [l; 1]
    assert torch.equal(tensor_fusion(audio, text), torch.tensor(expected).reshape(1, 1, 12))
    generator = torch.Generator().manual_seed(0)
    audio, text = torch.randn(B, T, 8, generator=generator), torch.randn(B, T, 4, generator=generator)
    fused = tensor_fusion(audio, text)
    assert fused.shape == (B, T, 9 * 5)
    grid = fused.reshape(B, T, 9, 5)
    assert torch.equal(grid[..., -1, :-1], text)  # the audio's constant 1 times [H_l; 1]: H_l itself
    assert torch.equal(grid[..., :-1, -1], audio)  # [H_a; 1] times the text's constant 1: H_a itself
    assert torch.equal(grid[..., -1, -1], torch.ones(B, T))


def test_zero_text_in_pauses_reaches_the_decoder_as_zero_through_the_text_path() -> None:
    model = _model()
    pause = slice(10, 25)
    batch = _batch(pause=pause)
    embeddings = model.embed(batch)
    assert torch.equal(embeddings["text"][:, pause], torch.zeros(B, 15, 4))  # despite nonzero biases
    assert embeddings["text"][:, :10].abs().min() > 0
    fused = model.fuse(embeddings).reshape(B, T, 9, 5)
    assert torch.equal(fused[:, pause, :, :-1], torch.zeros(B, 15, 9, 4))  # only [H_a; 1] is left
    assert torch.equal(fused[:, pause, :-1, -1], embeddings["audio"][:, pause])
    no_text = {key: value for key, value in batch.items() if key != "text"}  # a clip without words: all pause
    assert torch.equal(model.embed(no_text)["text"], torch.zeros(B, T, 4))


def test_the_decoder_sees_both_directions() -> None:
    model = _model()
    batch = _batch()
    out = model(batch).motion
    late = dict(batch, text=batch["text"].clone())
    late["text"][:, -1] += 1.0  # the text LSTM runs forward and the convolutions never see text: only the
    changed = model(late).motion  # decoder's backward direction can carry the last frame to the first
    assert not torch.allclose(changed[:, 0], out[:, 0])
    early = dict(batch, text=batch["text"].clone())
    early["text"][:, 0] += 1.0
    assert not torch.allclose(model(early).motion[:, -1], out[:, -1])


def test_text_changes_the_output_and_the_audio_only_ablation_ignores_it() -> None:
    batch = _batch()
    other = dict(batch, text=torch.flip(batch["text"], dims=[1]))
    full = _model()
    assert (full(batch).motion - full(other).motion).abs().max() > 1e-3
    audio_only = _model(text=False)
    assert torch.equal(audio_only(batch).motion, audio_only(other).motion)
    assert audio_only.inputs == InputSpec(speech="features", text=False, template=True)


def test_ablations_build_and_read_what_they_declare() -> None:
    batch = _batch()
    text_only = _model(audio=False)
    assert text_only.inputs.speech == "none" and text_only.inputs.text
    no_features = {key: value for key, value in batch.items() if key != "features"}
    assert text_only(no_features).motion.shape == (B, T, D)
    concat = _model(fusion="concat")
    assert concat.decoder.project.in_features == 8 + 4
    assert _model().decoder.project.in_features == 9 * 5
    assert concat(batch).motion.shape == (B, T, D)
    with pytest.raises(InvalidInputError, match="at least one"):
        _model(audio=False, text=False)
    with pytest.raises(InvalidInputError, match="unknown fusion"):
        _model(fusion="sum")
    with pytest.raises(InvalidInputError, match="unseen_subject 3"):
        _model(unseen_subject=3)


def test_an_unseen_speaker_takes_the_chosen_training_identity() -> None:
    model = _model(unseen_subject=1)
    batch = _batch()
    seen = model(dict(batch, subject=torch.tensor([1, 1]))).motion
    assert torch.equal(model(dict(batch, subject=torch.tensor([-1, -1]))).motion, seen)
    assert not torch.allclose(model(dict(batch, subject=torch.tensor([0, 0]))).motion, seen)


def test_padding_does_not_change_real_frames() -> None:
    model = _model()
    batch = _batch()
    short = {key: value[:1, :25] if value.ndim > 1 else value[:1] for key, value in batch.items()}
    short["lengths"] = torch.tensor([25])
    padded = dict(batch)
    padded["mask"] = batch["mask"].clone()
    padded["mask"][0, 25:] = 0.0
    padded["lengths"] = torch.tensor([25, T])
    for key in ("features", "text"):  # padding is zeros, as collate makes it
        padded[key] = batch[key].clone()
        padded[key][0, 25:] = 0.0
    assert torch.allclose(model(padded).motion[0, :25], model(short).motion[0], atol=1e-6)


def test_vertex_output_is_the_template_plus_offsets() -> None:
    torch.manual_seed(0)
    model = build_model("audio_text_fusion_tiny", feature_dim=C, text_dim=C_TEXT, motion_dim=6, num_subjects=SUBJECTS,
                        kind="vertices", motion_scale=100.0)  # fmt: skip
    batch = dict(_batch(), template=torch.arange(12.0).reshape(B, 6))
    out = model(batch).motion
    assert torch.equal(out, batch["template"][:, None, :].expand(B, T, 6))  # the output layer starts at zero
    with pytest.raises(InvalidInputError, match="neutral face"):
        model(_batch())


def test_a_short_overfit_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = build_model("audio_text_fusion_tiny", feature_dim=C, text_dim=C_TEXT, motion_dim=D, num_subjects=SUBJECTS)
    batch = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = ((model(batch).motion - batch["motion"]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
