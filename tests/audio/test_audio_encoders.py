"""Speech encoders: shapes and frame counts, layer selection, input normalisation, windows, registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from audio_testing import HF_FAMILIES, TINY_LAYERS, TINY_WIDTH, tiny_model

from facetalk.audio import (
    ENCODERS,
    HFSpeechEncoder,
    MelEncoder,
    build_encoder,
    load_hf_encoder,
    num_motion_frames,
    to_motion_rate,
)
from facetalk.errors import InvalidInputError, UnsupportedFormatError
from facetalk.types import Waveform

MakeSpeech = Callable[..., np.ndarray]
TinyDir = Callable[..., Path]
MEL_REGRESSION_DB = 10.6810  # frame 10, bin 20 of the 1 s speech-like signal (seed 0) at 25 fps


def hf_hidden_states(encoder: HFSpeechEncoder, samples: np.ndarray) -> tuple[torch.Tensor, ...]:
    """The backbone's own hidden states on transformers' own preprocessing of `samples` (S,)."""
    directory_inputs: torch.Tensor
    if encoder.family == "whisper":
        extractor = transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=encoder.input_samples // 16000)
        directory_inputs = extractor(samples, sampling_rate=16000, return_tensors="pt").input_features
    else:
        extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=encoder.normalize)
        directory_inputs = extractor(samples, sampling_rate=16000, return_tensors="pt").input_values
    with torch.no_grad():
        return tuple(encoder.backbone(directory_inputs, output_hidden_states=True).hidden_states)


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_hf_shapes_frame_counts_and_finite(tiny_model_dir: TinyDir, make_speech: MakeSpeech, family: str) -> None:
    encoder = load_hf_encoder(tiny_model_dir(family))
    assert encoder.dim == TINY_WIDTH and encoder.frame_rate == 50.0
    for duration in (0.1, 0.77, 2.0):
        samples = torch.from_numpy(np.stack([make_speech(duration, seed=1), make_speech(duration, seed=2)]))
        with torch.no_grad():
            out = encoder(samples)
        assert out.shape == (2, encoder.num_frames(samples.shape[1]), TINY_WIDTH)
        assert torch.isfinite(out).all()
    if family == "whisper":
        assert encoder.num_frames(16000) == 50 and encoder.num_frames(16001) == 51  # ceil(S / 320)
    else:
        assert encoder.num_frames(16000) == int(encoder.backbone._get_feat_extract_output_lengths(16000))


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_layers_equal_transformers_hidden_states(tiny_model_dir: TinyDir, make_speech: MakeSpeech, family: str) -> None:
    """Our input pipeline reproduces the feature extractor's, and layer i is hidden_states[i]."""
    samples = make_speech(1.3)
    reference = hf_hidden_states(load_hf_encoder(tiny_model_dir(family)), samples)
    assert len(reference) == TINY_LAYERS + 1
    for layer in [*range(TINY_LAYERS + 1), -1, "last"]:
        encoder = load_hf_encoder(tiny_model_dir(family), layer=layer)
        with torch.no_grad():
            out = encoder(torch.from_numpy(samples)[None])[0]  # (F, C)
        expected = reference[-1 if layer == "last" else layer][0, : len(out)]
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("do_normalize", [True, False])
def test_normalisation_follows_the_feature_extractor(tiny_model_dir: TinyDir, do_normalize: bool) -> None:
    encoder = load_hf_encoder(tiny_model_dir("wav2vec2", do_normalize=do_normalize))
    assert encoder.normalize is do_normalize
    assert load_hf_encoder(tiny_model_dir("wav2vec2"), normalize=False).normalize is False  # explicit override


@pytest.mark.parametrize("family", ["wavlm", "whisper"])
def test_weighted_sum_is_trainable(tiny_model_dir: TinyDir, make_speech: MakeSpeech, family: str) -> None:
    encoder = load_hf_encoder(tiny_model_dir(family), layer="weighted")
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    assert trainable == ["layer_weights"]  # the backbone is frozen by default
    samples = make_speech(0.8)
    out = encoder(torch.from_numpy(samples)[None])  # (1, F, C)
    reference = hf_hidden_states(encoder, samples)
    mean = torch.stack(reference).mean(dim=0)[:, : out.shape[1]]  # softmax of zeros: the plain mean
    torch.testing.assert_close(out.detach(), mean, atol=1e-5, rtol=1e-4)
    out.square().mean().backward()
    assert encoder.layer_weights is not None and encoder.layer_weights.grad is not None
    assert torch.isfinite(encoder.layer_weights.grad).all() and encoder.layer_weights.grad.abs().sum() > 0
    unfrozen = load_hf_encoder(tiny_model_dir(family), layer="weighted", freeze=False)
    assert all(p.requires_grad for p in unfrozen.parameters())


def test_bad_layer_selection(tiny_model_dir: TinyDir) -> None:
    with pytest.raises(InvalidInputError, match="out of range"):
        load_hf_encoder(tiny_model_dir("hubert"), layer=TINY_LAYERS + 1)
    with pytest.raises(UnsupportedFormatError, match="layer selection"):
        load_hf_encoder(tiny_model_dir("hubert"), layer="first")  # type: ignore[arg-type]


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_seeded_determinism(tmp_path: Path, make_speech: MakeSpeech, family: str) -> None:
    waveform = Waveform(make_speech(1.0), 16000)
    first = load_hf_encoder(tiny_model(family, tmp_path / "a")).encode(waveform)
    second = load_hf_encoder(tiny_model(family, tmp_path / "b")).encode(waveform)
    np.testing.assert_array_equal(first, second)


def test_mel_encoder_regression_value(make_speech: MakeSpeech) -> None:
    encoder = build_encoder("mel")
    assert isinstance(encoder, MelEncoder) and encoder.dim == 128 and encoder.frame_rate == 25.0
    features = encoder.encode(Waveform(make_speech(1.0), 16000))
    assert features.shape == (26, 128)
    assert features[10, 20] == pytest.approx(MEL_REGRESSION_DB, abs=1e-3)


def test_windowed_mel_equals_one_shot(make_speech: MakeSpeech) -> None:
    encoder = MelEncoder(fps=30)
    waveform = Waveform(make_speech(12.3), 16000)
    windowed = encoder.encode(waveform, window_s=2.0)
    with torch.no_grad():
        one_shot = encoder(torch.from_numpy(waveform.samples)[None])[0].numpy()
    assert windowed.shape == one_shot.shape == (encoder.num_frames(len(waveform.samples)), 128)
    assert np.abs(windowed - one_shot).max() < 1e-3  # dB; the mel is local, so windows are exact


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_windowed_encoding_stitches_windows(tiny_model_dir: TinyDir, make_speech: MakeSpeech, family: str) -> None:
    """Long input: right length; away from seams each frame is its window's own output."""
    encoder = load_hf_encoder(tiny_model_dir(family))
    window_s, overlap_s = 4.0, 1.0
    samples = make_speech(12.3)
    windowed = encoder.encode(Waveform(samples, 16000), window_s=window_s, overlap_s=overlap_s)
    assert windowed.shape == (encoder.num_frames(len(samples)), TINY_WIDTH)
    assert np.isfinite(windowed).all()
    # Windows start at 0, 3 and 6 s, and the last is pulled back to end at the end (8.3 s); frames
    # well inside a window, away from its neighbours' cross-fades, are that window's own output.
    last_start = -(-(len(samples) - 64000) // 320) * 320
    for start, core_s in ((0, (0.0, 2.0)), (48000, (1.0, 2.0)), (96000, (1.0, 1.5)), (last_start, (1.5, 4.0))):
        with torch.no_grad():
            own = encoder(torch.from_numpy(samples[start : start + 64000])[None])[0].numpy()
        first, lo, hi = start // 320, int(core_s[0] * 50), min(int(core_s[1] * 50), len(own))
        np.testing.assert_allclose(windowed[first + lo : first + hi], own[lo:hi], atol=1e-5)
    if family == "wav2vec2":
        # Against one 12.3 s pass: different attention context, so close but not equal.
        with torch.no_grad():
            one_shot = encoder(torch.from_numpy(samples)[None])[0].numpy()
        assert np.abs(windowed - one_shot).mean() < 0.05 * np.abs(one_shot).mean()


@pytest.mark.parametrize("name", ["mel", "hf"])
@pytest.mark.parametrize("fps", [25, 30, 60])
def test_encoder_frames_to_motion_rate(tiny_model_dir: TinyDir, make_speech: MakeSpeech, name: str, fps: int) -> None:
    encoder = build_encoder("mel", fps=fps) if name == "mel" else build_encoder("hf", path=tiny_model_dir("wav2vec2"))
    for duration in (0.1, 1.0, 2.345, 6.01):
        waveform = Waveform(make_speech(duration), 16000)
        motion = to_motion_rate(encoder.encode(waveform), frame_rate=encoder.frame_rate, duration_s=waveform.duration, fps=fps)
        assert motion.shape == (num_motion_frames(waveform.duration, fps), encoder.dim)
        assert np.isfinite(motion).all()


def test_encode_resamples_other_rates(make_speech: MakeSpeech) -> None:
    encoder = MelEncoder()
    at_8k = encoder.encode(Waveform(make_speech(2.0, sample_rate=8000), 8000))
    assert at_8k.shape == (encoder.num_frames(32000), 128)


def test_registry_and_errors(tmp_path: Path) -> None:
    assert {"mel", "whisper-tiny.en", "hf"} <= set(ENCODERS.names())
    with pytest.raises(UnsupportedFormatError, match="unknown speech encoder"):
        build_encoder("deepspeech")
    with pytest.raises(InvalidInputError, match=r"no config\.json"):
        build_encoder("hf", path=tmp_path / "nowhere")
    bert = transformers.BertModel(transformers.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                          intermediate_size=16, vocab_size=32))  # fmt: skip
    bert.save_pretrained(tmp_path / "bert")
    with pytest.raises(UnsupportedFormatError, match=r"bert.*not a supported speech encoder"):
        build_encoder("hf", path=tmp_path / "bert")
    with pytest.raises(InvalidInputError, match="overlap"):
        MelEncoder().encode(Waveform(np.zeros(16000, np.float32), 16000), window_s=1.0, overlap_s=2.0)
