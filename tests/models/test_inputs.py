"""The input pipeline: phones and durations against the alignment, windows cut mid-phone, style
references, and one clip fed identically by training, `facetalk eval` and `facetalk animate`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from facetalk.config import load_config
from facetalk.data.collate import Batch, collate
from facetalk.data.windows import ClipArrays, StyleSampler, WindowDataset, crop_labels
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, save_model
from facetalk.models.inputs import InputPipeline, InputSpec, phone_tokens
from facetalk.text.phonemes import PHONE_VOCAB, phone_id
from facetalk.train.distributed import DistInfo
from facetalk.train.recipe import build_recipe
from facetalk.types import Alignment, Phone, Waveform, Word

SIL = PHONE_VOCAB.index("SIL")


def test_phone_tokens_hand_computed() -> None:
    # frames at 0.0, 0.1, ..., 0.5 s: a pause, HH, AH0 over two frames, then a pause again
    alignment = Alignment(words=(Word("ha", 0.1, 0.4),), phones=(Phone("HH", 0.1, 0.2), Phone("AH0", 0.2, 0.4)))
    ids, index = phone_tokens(alignment, num_frames=6, fps=10.0)
    assert ids.tolist() == [SIL, phone_id("HH"), phone_id("AH"), SIL]
    assert index.tolist() == [0, 1, 2, 2, 3, 3]


def test_a_window_cut_mid_phone_keeps_the_partial_duration() -> None:
    phones = (Phone("M", 0.0, 0.3), Phone("AA1", 0.3, 0.8), Phone("P", 0.8, 1.0))
    ids, index = phone_tokens(Alignment(phones=phones), num_frames=10, fps=10.0)  # M M M AA AA AA AA AA P P
    motion = np.zeros((10, 2), dtype=np.float32)
    clip = ClipArrays(clip_id="c", num_frames=10, fps=10.0, motion=motion, phone_ids=ids, phone_index=index)
    dataset = WindowDataset([clip], length=4, stride=4)  # windows at 0, 4 and the tail at 6
    first, second, tail = (dataset[i] for i in range(3))
    assert first["phone_tokens"].tolist() == [phone_id("M"), phone_id("AA")] and first["phone_durations"].tolist() == [3, 1]
    assert second["phone_durations"].tolist() == [4] and second["phone_tokens"].tolist() == [phone_id("AA")]
    assert tail["phone_tokens"].tolist() == [phone_id("AA"), phone_id("P")] and tail["phone_durations"].tolist() == [2, 2]
    batch = collate([first, second, tail])
    assert batch["phone_ids"][0].tolist() == [phone_id("M")] * 3 + [phone_id("AA")]
    assert batch["phone_lengths"].tolist() == [2, 1, 2]
    assert (batch["phone_durations"].sum(dim=1) == batch["lengths"]).all()
    assert batch["phone_tokens"][1].tolist() == [phone_id("AA"), 0]  # padded with id 0


def _clips(speakers: list[str], frames: int = 30) -> list[ClipArrays]:
    return [ClipArrays(clip_id=f"c{i}", num_frames=frames, fps=30.0, speaker=speaker,
                       motion=np.full((frames, 3), float(i), dtype=np.float32))
            for i, speaker in enumerate(speakers)]  # fmt: skip


def test_style_references_self_same_speaker_and_none() -> None:
    clips = _clips(["a", "a", "a", "b"])
    own = WindowDataset(clips, length=10, style=StyleSampler("self"))
    np.testing.assert_array_equal(own[0]["style"], own[0]["motion"])
    other = WindowDataset(clips, length=10, style=StyleSampler("same_speaker", frames=8, seed=3))
    for index in range(len(other)):
        source = other.windows[index].clip
        drawn = int(other[index]["style"][0, 0])  # each clip's motion holds its index
        assert other[index]["style"].shape == (8, 3)
        if clips[source].speaker == "a":
            assert drawn in (0, 1, 2) and drawn != source  # another clip of the same speaker
        else:
            assert drawn == source  # speaker b has no other clip
    draws = [int(other[i]["style"][0, 0]) for i in range(len(other))]
    assert draws == [int(other[i]["style"][0, 0]) for i in range(len(other))]  # fixed by (seed, epoch, window)
    epochs = []
    for epoch in range(4):
        other.set_epoch(epoch)
        epochs.append([int(other[i]["style"][0, 0]) for i in range(len(other))])
    assert len({tuple(draw) for draw in epochs}) > 1  # and drawn anew each epoch
    assert "style" not in WindowDataset(clips, length=10, style=StyleSampler("none"))[0]


def test_crop_labels_take_the_label_most_frames_carry() -> None:
    labels = np.array([1, 1, 2, 2, 2, 0])
    assert crop_labels(labels, 3).tolist() == [1, 2, 2, 2]  # [1,1,2] [1,2,2] [2,2,2] [2,2,0]
    assert crop_labels(labels, 4).tolist() == [1, 2, 2]  # a 2-2 tie goes to the lower label
    assert crop_labels(labels, 10).tolist() == [2]  # longer than the clip: the whole clip


def test_same_emotion_references_carry_the_windows_emotion() -> None:
    # speaker a: clips 0-3 happy (1) in their first half and sad (2) in their second, clip 4 all anger (6);
    # speaker b: one clip, so its references fall back to itself
    halves = np.array([1] * 15 + [2] * 15)
    labels = [halves, halves, halves, halves, np.full(30, 6), halves]
    speakers = ["a", "a", "a", "a", "a", "b"]
    motion = [np.stack([np.full(30, i), np.arange(30), np.zeros(30)], axis=1).astype(np.float32)  # (clip, frame, 0)
              for i in range(6)]  # fmt: skip
    clips = [ClipArrays(clip_id=f"c{i}", num_frames=30, fps=30.0, speaker=speakers[i], motion=motion[i], emotion_labels=labels[i])
             for i in range(6)]  # fmt: skip
    data = WindowDataset(clips, length=10, stride=5, style=StyleSampler("same_emotion", frames=8, seed=1))
    drawn_any = set()
    for epoch in range(3):
        data.set_epoch(epoch)
        for index, window in enumerate(data.windows):
            style = data[index]["style"]  # (8, 3): the source clip's index and its frame numbers
            source, start = int(style[0, 0]), int(style[0, 1])
            label = crop_labels(labels[window.clip][window.start : window.start + window.length], window.length)[0]
            if window.clip == 5:
                assert source == 5  # nobody else: the same_speaker fallback, the clip itself
            elif window.clip == 4:
                assert source in (0, 1, 2, 3)  # no other anger clip of speaker a: any other clip of a
            else:
                assert source in (0, 1, 2, 3) and source != window.clip
                assert crop_labels(labels[source][start : start + 8], 8)[0] == label  # mostly the window's emotion
                assert data[index]["style_emotion"] == label  # the reference's label rides along
                drawn_any.add((source, int(label)))
    assert len(drawn_any) > 4  # several clips and both emotions were drawn
    again = WindowDataset(clips, length=10, stride=5, style=StyleSampler("same_emotion", frames=8, seed=1))
    again.set_epoch(2)
    assert all(np.array_equal(again[i]["style"], data[i]["style"]) for i in range(len(data)))  # fixed by (seed, epoch, window)
    first, last = data[0], data[len(data) - 1]
    assert collate([first, last])["style_emotion"].tolist() == [first["style_emotion"], last["style_emotion"]]
    unlabelled = _clips(["a", "a"])
    with pytest.raises(InvalidInputError, match="emotion labels"):
        WindowDataset(unlabelled, length=10, style=StyleSampler("same_emotion", frames=8))


def test_emotion_mask_is_zero_for_clips_without_labels() -> None:
    clips = _clips(["a", "b"], frames=5)
    happy = np.eye(7, dtype=np.float32)[[1] * 5]
    labelled = ClipArrays(clip_id="l", num_frames=5, fps=30.0, motion=clips[0].motion, emotion=happy)
    batch = collate([WindowDataset([labelled, clips[1]], length=None)[i] for i in range(2)])
    assert batch["emotion_mask"].tolist() == [[1.0] * 5, [0.0] * 5]
    assert batch["emotion"][1].abs().sum() == 0  # no silent neutral filling


def test_a_model_that_predicts_its_phones_generates_without_an_alignment() -> None:
    spec = InputSpec(speech="none", phones=True, generate_reads_phones=False)
    assert not spec.needs_alignment and InputSpec(phones=True).needs_alignment and InputSpec(text=True).needs_alignment
    pipeline = InputPipeline(spec)
    clip = pipeline.clip(
        clip_id="c", waveform=Waveform(np.zeros(1600, np.float32), 16000), fps=30.0, num_frames=3, alignment=None
    )
    assert "phone_ids" not in pipeline.batch(clip)  # generating: no alignment, no phones
    with pytest.raises(InvalidInputError, match="no alignment"):  # training and evaluation need the phones
        pipeline.clip(clip_id="c", waveform=Waveform(np.zeros(1600, np.float32), 16000), fps=30.0, num_frames=3, alignment=None,
                      motion=np.zeros((3, 2), np.float32))  # fmt: skip


# --- one clip through training, eval and animate --------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facetalk.synth.build import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), hours=1.0, seed=2, max_clips=4, word_semantics=False, progress=False)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Batch]]:
    """Every batch a model's `generate` is called with."""
    batches: list[Batch] = []
    original = Animator.generate

    def generate(self: Animator, batch: Batch) -> Any:
        batches.append(batch)
        return original(self, batch)

    monkeypatch.setattr(Animator, "generate", generate)
    yield batches


def _same(a: Batch, b: Batch, keys: tuple[str, ...]) -> None:
    for key in keys:
        assert key in a and key in b, key
        assert a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("kind", ["features_text_phones", "fine_tuned_encoder"])
def test_training_eval_and_animate_feed_identical_inputs(kind: str, corpus: Path, tmp_path: Path, recorded: list[Batch],
                                                         tiny_wav2vec2: Path) -> None:  # fmt: skip
    from facetalk.animate import animate_with_model
    from facetalk.data.formats import open_dataset
    from facetalk.eval.evaluate import evaluate

    overrides = [f"data.root={corpus}", "data.max_clips=3", "data.holdout_clips=1", "train.tensorboard=false"]
    if kind == "features_text_phones":
        overrides += ["features.encoder=mel", "features.options.n_mels=16", "features.options.fps=30",
                      "model.name=conv_baseline_tiny", "model.options.text=true", "model.options.phones=true"]  # fmt: skip
        keys: tuple[str, ...] = ("features", "text", "phone_ids", "phone_tokens", "phone_durations", "phone_lengths",
                                 "emotion", "emotion_mask", "mask", "lengths", "subject")  # fmt: skip
    else:  # a model that fine-tunes its speech encoder is fed raw audio everywhere, never features of the untuned one
        overrides += ["features.encoder=hf", f"features.options.path={tiny_wav2vec2}", "model.name=composite_regional_tiny",
                      "model.options.encoder=hf", f"model.options.encoder_options.path={tiny_wav2vec2}"]  # fmt: skip
        keys = ("audio", "audio_mask", "mask", "lengths")
    config = load_config(None, overrides)
    recipe = build_recipe(config, DistInfo(), tmp_path / "cache")
    training = collate([recipe.val_set[0]])  # the held-out clip: the third of the split, whole
    model_dir = save_model(recipe.model, tmp_path / "model")

    evaluate(str(model_dir), corpus, split="train", max_clips=3, diversity_conditions=0, progress=False)
    evaluation = recorded[2]
    sample = list(open_dataset("native", corpus, split="train"))[2]
    animate_with_model(sample.audio, str(model_dir), alignment=sample.alignment, emotion=sample.emotion,  # type: ignore[arg-type]
                       style_ref=sample.motion)  # fmt: skip
    animation = recorded[-1]
    _same(training, evaluation, keys)
    _same(training, animation, tuple(k for k in keys if k != "subject"))  # animate has no training speaker
    if kind == "fine_tuned_encoder":
        assert "features" not in evaluation and "features" not in animation
    else:
        assert training["text"].abs().sum() > 0 and (training["phone_durations"].sum() == training["lengths"]).all()
