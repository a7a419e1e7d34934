"""composite_regional (paper 001): shapes, AdaIN, the L1 regulariser, style modulation, padding,
overfitting one clip, a fine-tuned speech encoder, and saving."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from facetalk.audio.rate import to_motion_rate
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models import Conditions, build_model, load_model, save_model
from facetalk.models.composite_regional import (
    STATS_EPS,
    CompositeRegional,
    adain,
    embedding_influence,
    masked_mean_std,
)
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.speech_input import resample_frames
from facetalk.train.losses import reconstruction_loss

C_IN = 8
FPS = 30.0
TINY = "composite_regional_tiny"
TINY_EMBED = 16


def _model(vertices: int | None = 5, *, seed: int = 0, head_seed: int | None = 1, **options: object) -> CompositeRegional:
    """The tiny model; `head_seed` gives its zero-initialised output layer random weights, like a trained model's."""
    torch.manual_seed(seed)
    if vertices is None:
        model = build_model(TINY, feature_dim=C_IN, motion_dim=52, kind="blendshapes", **options)
    else:
        model = build_model(TINY, feature_dim=C_IN, motion_dim=3 * vertices, kind="vertices", **options)
    assert isinstance(model, CompositeRegional)
    if head_seed is not None:
        generator = torch.Generator().manual_seed(head_seed)
        with torch.no_grad():
            model.decoder.head.weight.copy_(0.3 * torch.randn(model.decoder.head.weight.shape, generator=generator))
    return model.eval()


def _batch(dim: int, *, lengths: tuple[int, ...] = (12, 12), template: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    length = max(lengths)
    mask = (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).float()
    batch = {"features": torch.randn(len(lengths), length, C_IN, generator=generator) * mask[..., None],
             "motion": 0.01 * torch.randn(len(lengths), length, dim, generator=generator) * mask[..., None],
             "mask": mask, "subject": torch.full((len(lengths),), -1)}  # fmt: skip
    if template:
        batch["template"] = torch.randn(len(lengths), dim, generator=generator)
        batch["motion"] = batch["motion"] + batch["template"][:, None, :] * mask[..., None]
    batch["style"], batch["style_mask"] = batch["motion"], mask  # each window its own reference, as `data.style: self` gives
    return batch


# --- shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("vertices", "dim"), [(5, 15), (478, 1434), (None, 52)])
def test_shapes_finite_and_regulariser(vertices: int | None, dim: int) -> None:
    model = _model(vertices)
    out = model(_batch(dim, template=vertices is not None))
    assert out.motion.shape == (2, 12, dim) and torch.isfinite(out.motion).all()
    l1 = out.extras["embedding_l1"]
    assert l1.shape == () and torch.isclose(l1, model.embedding.abs().sum())
    assert model.embedding.shape == (TINY_EMBED, dim)


def test_untrained_model_outputs_the_template_in_data_units() -> None:
    model = _model(head_seed=None, motion_scale=1000.0)  # zero-initialised output layer: Z_pred = 0
    batch = _batch(15)
    assert torch.allclose(model(batch).motion, batch["template"][:, None, :].expand(2, 12, 15), atol=1e-6)


def test_motion_scale_only_changes_units() -> None:
    scaled, plain = _model(motion_scale=1000.0), _model(motion_scale=1.0)
    batch = _batch(15)
    in_mm = {**batch, "template": batch["template"] * 1000.0, "motion": batch["motion"] * 1000.0}
    assert torch.allclose(scaled(batch).motion * 1000.0, plain(in_mm).motion, rtol=1e-5, atol=1e-3)


# --- §4.2 AdaIN and masked statistics ----------------------------------------------------------------------


def test_adain_hand_computed() -> None:
    content = torch.tensor([[[1.0, 5.0], [2.0, 5.0], [3.0, 7.0], [1000.0, -1000.0]]])  # (1, T=4, C=2), frame 3 is padding
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    out = adain(content, mask, torch.tensor([[2.0, -1.0]]), torch.tensor([[3.0, 0.5]]))
    # channel 0: mean 2, population std sqrt(2/3): (-1.2247, 0, 1.2247) * 3 + 2
    z = 1.0 / math.sqrt(2.0 / 3.0)
    assert torch.allclose(out[0, :3, 0], torch.tensor([2.0 - 3.0 * z, 2.0, 2.0 + 3.0 * z]), atol=1e-4)
    # channel 1: (5, 5, 7) has mean 17/3 and std sqrt(8/9): (-1/√2, -1/√2, √2) * 0.5 - 1
    r = math.sqrt(2.0)
    assert torch.allclose(out[0, :3, 1], torch.tensor([-1.0 - 0.5 / r, -1.0 - 0.5 / r, -1.0 + 0.5 * r]), atol=1e-4)


def test_adain_sets_the_statistics_of_real_frames_only() -> None:
    generator = torch.Generator().manual_seed(0)
    content = 4.0 * torch.randn(2, 9, 3, generator=generator) + 2.0
    mask = torch.tensor([[1.0] * 9, [1.0] * 5 + [0.0] * 4])
    content[1, 5:] = 1e4  # padding must not count
    mean, std = torch.tensor([[0.5, -2.0, 3.0], [1.0, 0.0, -1.0]]), torch.tensor([[1.0, 0.1, 2.0], [3.0, 0.2, 0.7]])
    out = adain(content, mask, mean, std)
    for row, length in enumerate((9, 5)):
        real = out[row, :length]
        assert torch.allclose(real.mean(dim=0), mean[row], atol=1e-4)
        assert torch.allclose(real.std(dim=0, unbiased=False), std[row], rtol=1e-4)
    got_mean, got_std = masked_mean_std(out, mask)
    assert torch.allclose(got_mean, mean, atol=1e-4)
    assert torch.allclose(got_std, torch.sqrt(std.square() + STATS_EPS), rtol=1e-4)  # the variance floor


# --- §4.3 sparsity regulariser -----------------------------------------------------------------------


def test_embedding_l1_gradient_is_the_sign_of_w() -> None:
    model = _model()
    model(_batch(15)).extras["embedding_l1"].backward()
    assert model.embedding.grad is not None
    assert torch.equal(model.embedding.grad, torch.sign(model.embedding.detach()))


def test_embedding_influence_hand_computed() -> None:
    model = _model(vertices=2)
    with torch.no_grad():
        model.embedding.zero_()
        model.embedding[0, :3] = torch.tensor([3.0, 4.0, 0.0])  # vertex 0: |(3, 4, 0)| = 5
        model.embedding[1, 3:] = torch.tensor([1.0, -2.0, 2.0])  # vertex 1: |(1, -2, 2)| = 3
    influence = embedding_influence(model)
    expected = np.zeros((TINY_EMBED, 2), dtype=np.float32)
    expected[0, 0], expected[1, 1] = 5.0, 3.0
    np.testing.assert_allclose(influence, expected, atol=1e-6)
    blendshapes = _model(vertices=None)
    np.testing.assert_allclose(embedding_influence(blendshapes), blendshapes.embedding.detach().abs().numpy())


# --- determinism, style, padding ----------------------------------------------------------------------


def test_seeded_determinism() -> None:
    a, b, c = _model(seed=0).state_dict(), _model(seed=0).state_dict(), _model(seed=1).state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert not torch.equal(a["embedding"], c["embedding"])
    model, batch = _model(), _batch(15)
    first = model(batch).motion
    assert torch.equal(first, model(batch).motion)
    assert torch.equal(first, _model()(batch).motion)


def test_style_reference_modulates_only_the_composite_model() -> None:
    batch = _batch(15, lengths=(12,))
    generator = torch.Generator().manual_seed(5)
    calm = batch["template"][:, None, :] + 0.001 * torch.randn(1, 20, 15, generator=generator)
    lively = batch["template"][:, None, :] + 0.5 * torch.randn(1, 20, 15, generator=generator)

    def run(model: CompositeRegional, style: torch.Tensor) -> torch.Tensor:
        return model({**batch, "style": style, "style_mask": torch.ones(1, 20)}).motion

    full, ablation = _model(), _model(composite=False)
    assert (run(full, calm) - run(full, lively)).abs().max() > 1e-4
    assert torch.equal(run(ablation, calm), run(ablation, lively))
    assert torch.equal(run(ablation, calm), ablation(batch).motion)  # and the target motion is not read either
    assert ablation.modulation is None and not any(name.startswith("modulation.") for name in ablation.state_dict())


def test_padded_frames_do_not_change_the_real_frames() -> None:
    model = _model()
    batch = _batch(15, lengths=(20, 13))
    batch["features"][1, 13:] = 50.0  # garbage in the padding
    batch["motion"][1, 13:] = -3.0
    padded = model(batch).motion[1, :13]
    alone = model({key: value[1:2, :13] if value.ndim >= 2 and key != "template" else value[1:2]
                   for key, value in batch.items()}).motion[0]  # fmt: skip
    assert alone.shape == (13, 15)
    assert torch.allclose(padded, alone, atol=1e-5)


# --- training ---------------------------------------------------------------------------------------


def test_ten_adam_steps_halve_the_loss_on_one_clip() -> None:
    model = _model(head_seed=None).train()
    batch = _batch(15, lengths=(24,))
    t = torch.arange(24) / FPS
    generator = torch.Generator().manual_seed(3)
    # a 2 Hz oscillation of 0.01 around the template: the loss starts at the template's error
    batch["motion"] = batch["template"][:, None, :] + 0.01 * torch.sin(2 * math.pi * 2.0 * t)[None, :, None] * torch.randn(
        1, 1, 15, generator=generator
    )
    batch["style"] = batch["motion"]

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss = reconstruction_loss(model(batch).motion, batch["motion"], mask=batch["mask"])
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = reconstruction_loss(model(batch).motion, batch["motion"], mask=batch["mask"]).item()
    assert final <= 0.5 * losses[0]


def test_fit_feature_stats_standardizes() -> None:
    model = _model(head_seed=None)
    model.fit_feature_stats(torch.full((C_IN,), 2.0), torch.tensor([4.0] * (C_IN - 1) + [0.0]))
    x = torch.full((1, 1, C_IN), 10.0)
    expected = torch.tensor([2.0] * (C_IN - 1) + [8.0 / 1e-3])  # (10 - 2) / 4, and a constant channel's std floored to 1e-3
    assert torch.allclose(model.feature_norm(x)[0, 0], expected)


# --- generate and errors ------------------------------------------------------------------------------


def test_generate_needs_a_style_and_a_template(clip_batch: Callable[..., Batch]) -> None:
    model = _model()
    features = np.zeros((30, C_IN), dtype=np.float32)
    template = np.linspace(-1.0, 1.0, 15, dtype=np.float32)
    style = template + 0.01 * np.random.default_rng(0).standard_normal((40, 15)).astype(np.float32)
    with pytest.raises(InvalidInputError, match=r"needs a style reference motion"):
        model.generate(clip_batch(model, features, Conditions(template=template)))
    with pytest.raises(InvalidInputError, match=r"needs the neutral face"):
        model.generate(clip_batch(model, features, Conditions(style=style), inputs=InputSpec(style=True)))
    motion = model.generate(clip_batch(model, features, Conditions(template=template, style=style)))
    assert motion.data.shape == (30, 15) and motion.kind == "vertices" and motion.fps == FPS
    assert model.training is False
    ablation = _model(composite=False)
    assert ablation.generate(clip_batch(ablation, features, Conditions(template=template))).data.shape == (30, 15)


def test_forward_rejects_wrong_shapes() -> None:
    model = _model()
    batch = _batch(15)
    with pytest.raises(InvalidInputError, match=r"features of shape \(2, 12, 3\)"):
        model({**batch, "features": batch["features"][..., :3]})
    with pytest.raises(InvalidInputError, match="style reference of shape"):
        model({**batch, "style": torch.zeros(2, 10, 9)})
    del batch["style"]  # the target motion is never read as a reference
    with pytest.raises(InvalidInputError, match="needs a style reference motion"):
        model(batch)


def test_resample_frames_matches_to_motion_rate() -> None:
    frames = np.arange(12, dtype=np.float32).reshape(6, 2) ** 2  # (F=6, C=2) at 50 frames/s
    expected = to_motion_rate(frames, frame_rate=50.0, duration_s=0.2, fps=30.0)  # (6, 2); the last frames hold
    got = resample_frames(torch.from_numpy(frames)[None], frame_rate=50.0, fps=30.0, num_frames=len(expected))
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-6)
    # motion frame 1 at 1/30 s = encoder position 5/3: 2/3 of the way from frame 1 to frame 2
    np.testing.assert_allclose(got[0, 1].numpy(), frames[1] + (frames[2] - frames[1]) * 2.0 / 3.0, rtol=1e-6)


# --- fine-tuned speech encoder, saving ----------------------------------------------------------------


def test_fine_tuned_encoder_gets_gradients(tiny_wav2vec2: Path) -> None:
    from facetalk.audio.encoders import load_hf_encoder

    encoder = load_hf_encoder(tiny_wav2vec2, freeze=False)
    torch.manual_seed(0)
    model = CompositeRegional(speech_dim=encoder.dim, motion_dim=15, embed_dim=TINY_EMBED, decoder_widths=(8, 8, 16, 16),
                              encoder_widths=(8, 8, 16, 16), speech_encoder=encoder, fps=FPS, kind="vertices")  # fmt: skip
    with torch.no_grad():
        model.decoder.head.weight.normal_(0.0, 0.3)
    model.train()
    samples = 0.1 * torch.sin(2 * math.pi * 220.0 * torch.arange(8000) / 16000.0)[None]  # (1, S): 0.5 s
    batch = _batch(15, lengths=(15,))  # ceil(0.5 s × 30 fps) = 15 motion frames
    del batch["features"]  # the encoder reads the audio
    out = model({**batch, "audio": samples})
    assert out.motion.shape == (1, 15, 15) and torch.isfinite(out.motion).all()
    reconstruction_loss(out.motion, batch["motion"]).backward()  # type: ignore[no-untyped-call]
    grads = [p.grad for name, p in model.named_parameters() if name.startswith("encoder.")]
    assert grads and all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    model.eval()
    with pytest.raises(InvalidInputError, match="reads the batch's audio"):  # never features of the untuned encoder
        model(batch)


def test_registry_encoder_option_and_round_trip(tiny_wav2vec2: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    options = {"path": str(tiny_wav2vec2)}
    model = build_model(TINY, feature_dim=16, motion_dim=15, kind="vertices", encoder="hf", encoder_options=options)
    assert isinstance(model, CompositeRegional) and model.encoder is not None
    assert all(p.requires_grad for p in model.encoder.parameters())  # fine-tuned end to end, unlike the builder's default
    with torch.no_grad():
        model.decoder.head.weight.normal_(0.0, 0.3)
    model.eval()
    batch = {**_batch(15, lengths=(15,)), "audio": 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(2))}
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert torch.equal(loaded(batch).motion, model(batch).motion)
    with pytest.raises(InvalidInputError, match="feature_dim 8 does not match encoder 'hf'"):
        build_model(TINY, feature_dim=8, motion_dim=15, kind="vertices", encoder="hf", encoder_options=options)


@pytest.mark.parametrize("composite", [True, False])
def test_save_load_round_trip(composite: bool, tmp_path: Path) -> None:
    model = _model(composite=composite, motion_scale=1000.0)
    model.fit_feature_stats(torch.linspace(-1.0, 1.0, C_IN), torch.linspace(0.5, 2.0, C_IN))
    batch = _batch(15)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, CompositeRegional) and loaded.motion_scale == 1000.0
    assert torch.equal(loaded(batch).motion, model(batch).motion)


def test_the_neutral_face_is_embedded_relative_to_the_training_mean() -> None:
    model, batch = _model(), _batch(15)
    before = model(batch).motion
    shift = torch.linspace(-0.05, 0.05, 15)  # every vertex of every face moved, as another identity would be
    model.fit_template_mean(shift)
    shifted = model({**batch, "template": batch["template"] + shift}).motion
    # only S̄ minus the mean face is embedded, so the same identity offset gives the same motion, shifted
    assert torch.allclose(shifted, before + shift, atol=1e-5)
    assert not torch.allclose(model(batch).motion, before, atol=1e-5)  # the mean face does enter the embedding


def test_without_identity_embedding_the_face_only_offsets_the_output() -> None:
    model, batch = _model(embed_identity=False), _batch(15)
    shift = torch.linspace(-0.05, 0.05, 15)
    shifted = model({**batch, "template": batch["template"] + shift}).motion
    assert torch.allclose(shifted, model(batch).motion + shift, atol=1e-5)  # the decoder never sees the face


def test_reference_centres() -> None:
    """Eq. 1 ignores a reference's held offset; centring on the speaker's neutral face keeps it."""
    batch = _batch(15, lengths=(12,))
    generator = torch.Generator().manual_seed(4)
    moving = batch["template"][:, None, :] + 0.3 * torch.randn(1, 20, 15, generator=generator)
    held = moving + 0.5  # the same movements around a held expression

    def run(model: CompositeRegional, style: torch.Tensor) -> torch.Tensor:
        return model({**batch, "style": style, "style_mask": torch.ones(1, 20), "style_template": batch["template"]}).motion

    mean_centred, template_centred = _model(reference_centre="mean"), _model(reference_centre="template")
    assert torch.allclose(run(mean_centred, moving), run(mean_centred, held), atol=1e-5)
    assert (run(template_centred, moving) - run(template_centred, held)).abs().max() > 1e-4
