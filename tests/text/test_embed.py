"""Word-level contextual text embeddings (paper 003): the real MiniLM, a tiny local GPT-2, and the
frame spreading and smoothing checked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from facetalk.errors import InvalidInputError, MissingDependencyError, UnsupportedFormatError
from facetalk.text.embed import (
    MINILM_DIM,
    SMOOTH_AFTER_FRAMES,
    SMOOTH_BEFORE_FRAMES,
    TEXT_EMBEDDERS,
    TextEmbedder,
    build_text_embedder,
    default_text_embedder,
    spread_and_smooth,
    word_frame_index,
)
from facetalk.types import Alignment, Word

FPS = 25.0
GPT2_DIM = 32
GPT2_POSITIONS = 24  # small, so that a 20-word utterance needs more than one chunk
TINY_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, how are you today?",
    "I sat by the river bank and watched the water.",
    "She put the money in the bank!",
]

# --- spread_and_smooth: a pure function, checked by hand ---------------------------------------


def test_window_is_paper_003s_sixteen_frames() -> None:
    assert (SMOOTH_BEFORE_FRAMES, SMOOTH_AFTER_FRAMES) == (8, 7)
    assert SMOOTH_BEFORE_FRAMES + 1 + SMOOTH_AFTER_FRAMES == 16


def test_spread_and_smooth_matches_hand_computed_moving_average() -> None:
    # fps 10, T = 20. Word A covers [0.0, 0.3) = frames 0, 1, 2 (0.3 * 10 is 3.0000000000000004 in
    # floating point: frame 3 must stay out). Word B covers [1.0, 1.2) = frames 10, 11.
    words = [Word("a", 0.0, 0.3), Word("b", 1.0, 1.2)]
    vectors = torch.tensor([[16.0, 0.0], [0.0, 16.0]])  # 16 = window length: outputs count frames
    out = spread_and_smooth(vectors, words, num_frames=20, fps=10.0)
    # Frame t averages frames t-8 .. t+7 with zeros outside the clip, so channel 0 counts A's frames
    # in that window and channel 1 counts B's: A reaches up to 2 + 8 = frame 10, B back to 10 - 7 = 3.
    a_count = [3.0] * 9 + [2.0, 1.0] + [0.0] * 9
    b_count = [0.0] * 3 + [1.0] + [2.0] * 15 + [1.0]
    torch.testing.assert_close(out, torch.tensor([a_count, b_count]).T, rtol=0, atol=1e-6)


def test_spreading_alone_follows_the_frame_convention() -> None:
    # Frame t is at t / fps and a word covers [start, end): [0.1, 0.2) at 10 fps is frame 1 only.
    vectors = torch.tensor([[1.0], [2.0]])
    words = [Word("x", 0.1, 0.2), Word("y", 0.5, 0.7)]
    out = spread_and_smooth(vectors, words, num_frames=8, fps=10.0, before=0, after=0)
    assert out[:, 0].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0]


def test_word_shorter_than_a_frame_takes_the_frame_nearest_its_midpoint() -> None:
    # [0.42, 0.45) contains no frame time at 10 fps; its midpoint 0.435 is nearest frame 4.
    index = word_frame_index([Word("a", 0.42, 0.45)], num_frames=8, fps=10.0)
    assert index.tolist() == [-1, -1, -1, -1, 0, -1, -1, -1]
    # ...but it does not take a frame from a word that really covers it.
    index = word_frame_index([Word("long", 0.0, 0.4), Word("a", 0.4, 0.4)], num_frames=8, fps=10.0)
    assert index.tolist() == [0, 0, 0, 0, 1, -1, -1, -1]


def test_spread_and_smooth_length_pauses_and_words() -> None:
    duration = 2.75
    num_frames = math.ceil(duration * FPS)  # the T used for every per-frame stream
    words = [Word("one", 0.25, 0.75), Word("two", 1.75, duration)]  # a 1 s pause between them
    out = spread_and_smooth(torch.ones(2, 3), words, num_frames, FPS)
    assert out.shape == (69, 3)
    last_of_one, first_of_two = math.ceil(0.75 * FPS) - 1, math.ceil(1.75 * FPS)  # frames 18 and 44
    # The pause is frames 19..43; the window reaches 8 frames past "one" and 7 frames before "two".
    pause = out[last_of_one + SMOOTH_BEFORE_FRAMES + 1 : first_of_two - SMOOTH_AFTER_FRAMES]  # frames 27..36
    assert len(pause) == 10 and bool((pause == 0).all())
    assert bool((out[last_of_one + SMOOTH_BEFORE_FRAMES] != 0).all())  # the reach ends exactly there...
    assert bool((out[first_of_two - SMOOTH_AFTER_FRAMES] != 0).all())  # ...and starts exactly here
    for word in words:
        inside = out[math.ceil(word.start * FPS) : math.ceil(word.end * FPS)]
        assert len(inside) > 0 and bool((inside != 0).all())


def test_spread_and_smooth_edge_cases() -> None:
    assert spread_and_smooth(torch.zeros(0, 4), [], num_frames=5, fps=FPS).equal(torch.zeros(5, 4))
    assert spread_and_smooth(torch.ones(1, 4), [Word("a", 0.0, 1.0)], num_frames=0, fps=FPS).shape == (0, 4)
    late = spread_and_smooth(torch.ones(1, 4), [Word("late", 5.0, 6.0)], num_frames=10, fps=FPS)
    assert bool((late == 0).all())  # a word after the last frame is clipped away
    with pytest.raises(InvalidInputError, match="one vector per word"):
        spread_and_smooth(torch.ones(2, 4), [Word("a", 0.0, 1.0)], num_frames=10, fps=FPS)
    with pytest.raises(InvalidInputError, match="frame rate"):
        spread_and_smooth(torch.ones(1, 4), [Word("a", 0.0, 1.0)], num_frames=10, fps=0.0)


def test_spread_and_smooth_seeded_determinism() -> None:
    words = [Word("a", 0.0, 0.4), Word("b", 0.6, 0.9), Word("c", 1.3, 2.0)]

    def run(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return spread_and_smooth(torch.randn(3, 8, generator=generator), words, num_frames=50, fps=FPS)

    assert run(0).equal(run(0))
    assert not run(0).equal(run(1))


# --- MiniLM, the offline default ----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> TextEmbedder:
    return default_text_embedder()


def test_default_is_minilm_cached_and_in_eval_mode(minilm: TextEmbedder) -> None:
    assert default_text_embedder() is minilm
    assert minilm.dim == MINILM_DIM
    assert not minilm.training and not minilm.model.training
    assert not any(p.requires_grad for p in minilm.parameters())


def test_minilm_shape_determinism_and_regression_value(minilm: TextEmbedder) -> None:
    words = ["Hello", "world"]
    vectors = minilm.embed_words(words)
    assert vectors.shape == (2, MINILM_DIM) and vectors.dtype == torch.float32
    assert bool(torch.isfinite(vectors).all())
    assert vectors.equal(minilm.embed_words(words))
    torch.testing.assert_close(vectors[0, :4], torch.tensor([-0.4514, 0.2848, 0.4309, -0.1681]), rtol=0, atol=1e-3)
    assert minilm.embed_words([]).shape == (0, MINILM_DIM)


def test_minilm_context_matters(minilm: TextEmbedder) -> None:
    river = minilm.embed_words(["I", "sat", "by", "the", "river", "bank"])[-1]
    money = minilm.embed_words(["I", "put", "money", "in", "the", "bank"])[-1]
    assert float(torch.cosine_similarity(river, money, dim=0)) < 0.95


def _token_states(embedder: TextEmbedder, words: list[str]) -> tuple[torch.Tensor, list[int | None]]:
    encoding = embedder.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    inputs = {k: encoding[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding}
    with torch.inference_mode():
        hidden = embedder.model(**inputs).last_hidden_state[0]  # (N, C)
    return hidden, list(encoding.word_ids())


def test_minilm_pools_a_multi_token_word_into_one_vector(minilm: TextEmbedder) -> None:
    words = ["That", "was", "unbelievably", "good"]
    hidden, word_ids = _token_states(minilm, words)
    tokens = [i for i, w in enumerate(word_ids) if w == 2]
    assert len(tokens) >= 3  # un ##bel ##ie ##va ##bly
    vectors = minilm.embed_words(words)
    torch.testing.assert_close(vectors[2], hidden[tokens].mean(dim=0), rtol=0, atol=1e-5)


def test_minilm_punctuation_and_casing_stay_with_their_words(minilm: TextEmbedder) -> None:
    words = ["Hello,", "world!", '"Quoted"', "U.S.A.", "—", "\u200b", "end."]
    vectors = minilm.embed_words(words)
    assert vectors.shape == (len(words), MINILM_DIM) and bool(torch.isfinite(vectors).all())
    hidden, word_ids = _token_states(minilm, words)
    world = [i for i, w in enumerate(word_ids) if w == 1]
    assert len(world) == 2  # "world" and "!" are both pooled into word 1
    torch.testing.assert_close(vectors[1], hidden[world].mean(dim=0), rtol=0, atol=1e-5)
    assert bool((vectors[5] != 0).any())  # a word with no token gets the utterance context, not zeros
    # MiniLM is uncased: casing changes nothing, and the word count never shifts.
    torch.testing.assert_close(minilm.embed_words(["HELLO,", "WORLD!"]), minilm.embed_words(["hello,", "world!"]))


def test_embed_each_equals_one_word_at_a_time(minilm: TextEmbedder, gpt2: TextEmbedder) -> None:
    words = ["lighthouse", "a", "unbelievably", "keeper's", "Hello,", "\u200b"]  # long, short, multi-token, no token
    for embedder in (minilm, gpt2):  # GPT-2's tokenizer cannot pad: the one-by-one path
        alone = torch.stack([embedder.embed_words([word])[0] for word in words])
        torch.testing.assert_close(embedder.embed_each(words), alone, atol=1e-5, rtol=1e-4)


def test_minilm_frame_features(minilm: TextEmbedder) -> None:
    alignment = Alignment(words=(Word("Hello,", 0.1, 0.5), Word("world!", 1.5, 2.0)))
    num_frames = math.ceil(alignment.duration * FPS)
    features = minilm.frame_features(alignment, num_frames=num_frames, fps=FPS)
    assert features.shape == (50, MINILM_DIM)
    speaking = features.abs().sum(dim=1) > 0
    # Hello = frames 3..12, world = frames 38..49; the 16-frame window reaches 12 + 8 and 38 - 7.
    assert speaking.tolist() == [True] * 21 + [False] * 10 + [True] * 19
    expected = spread_and_smooth(minilm.embed_words(["Hello,", "world!"]), alignment.words, num_frames, FPS)
    torch.testing.assert_close(features, expected)
    empty = minilm.frame_features(Alignment(), num_frames=7, fps=FPS)
    assert empty.equal(torch.zeros(7, MINILM_DIM))


def test_frame_features_can_feed_a_trained_model(minilm: TextEmbedder) -> None:
    alignment = Alignment(words=(Word("hi", 0.0, 0.3),))
    features = minilm.frame_features(alignment, num_frames=10, fps=FPS)
    assert not features.is_inference()
    head = nn.Linear(MINILM_DIM, 2)
    head(features).sum().backward()
    assert head.weight.grad is not None


# --- Any local transformers model: a tiny GPT-2 built offline --------------------------------------


def _save_tiny_gpt2(directory: Path, seed: int = 0) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2Model, GPT2Tokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TINY_CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer = GPT2Tokenizer(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(
        n_embd=GPT2_DIM,
        n_layer=2,
        n_head=2,
        n_positions=GPT2_POSITIONS,
        vocab_size=len(tokenizer),
        bos_token_id=0,
        eos_token_id=0,
    )
    tokenizer.save_pretrained(directory)
    GPT2Model(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="module")
def gpt2(gpt2_dir: Path) -> TextEmbedder:
    return build_text_embedder("hf", path=gpt2_dir)


def test_registry_names_and_unknown_name() -> None:
    assert TEXT_EMBEDDERS.names() == ["hf", "minilm"]
    with pytest.raises(UnsupportedFormatError, match="unknown text embedder 'bert'"):
        build_text_embedder("bert")


def test_hf_gpt2_from_a_local_directory(gpt2: TextEmbedder) -> None:
    words = ["Hello,", "world!", "how", "are", "you?"]
    vectors = gpt2.embed_words(words)
    assert gpt2.dim == GPT2_DIM and vectors.shape == (5, GPT2_DIM)
    assert bool(torch.isfinite(vectors).all()) and vectors.equal(gpt2.embed_words(words))
    assert not gpt2.training
    # GPT-2 is causal: a word sees only what precedes it. A shared prefix gives equal vectors, a
    # different prefix different ones, which also proves tokens are matched to the right words.
    torch.testing.assert_close(gpt2.embed_words(["hello", "world"])[0], gpt2.embed_words(["hello", "there"])[0])
    assert not torch.allclose(gpt2.embed_words(["hello", "world"])[1], gpt2.embed_words(["the", "world"])[1])


def test_hf_gpt2_words_get_a_prefix_space(gpt2: TextEmbedder) -> None:
    encoding = gpt2.tokenizer(["the", "dog", "Hello,", "world!"], is_split_into_words=True)
    tokens = gpt2.tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    word_ids = encoding.word_ids()
    first_tokens = [tokens[word_ids.index(w)] for w in range(4)]
    assert all(t.startswith("Ġ") for t in first_tokens)  # every word is tokenized as in running text
    assert [t for t, w in zip(tokens, word_ids, strict=True) if w == 2][-1] == ","  # punctuation stays with its word


def test_hf_layer_and_pooling_choices(gpt2_dir: Path, gpt2: TextEmbedder) -> None:
    words = ["the", "quick", "brown", "fox"]
    embeddings = build_text_embedder("hf", path=gpt2_dir, layer=0).embed_words(words)
    assert not torch.allclose(embeddings, gpt2.embed_words(words))
    last = build_text_embedder("hf", path=gpt2_dir, pooling="last").embed_words(["xylophone"])
    hidden, _ = _token_states(gpt2, ["xylophone"])
    assert len(hidden) > 1
    torch.testing.assert_close(last[0], hidden[-1])
    with pytest.raises(InvalidInputError, match="layer 5 does not exist in a 2-layer model"):
        build_text_embedder("hf", path=gpt2_dir, layer=5)
    with pytest.raises(InvalidInputError, match="unknown word pooling 'max'"):
        build_text_embedder("hf", path=gpt2_dir, pooling="max")


def test_hf_long_utterance_is_encoded_in_chunks(gpt2: TextEmbedder) -> None:
    words = ("the quick brown fox jumps over the lazy dog " * 3).split()
    num_tokens = len(gpt2.tokenizer(words, is_split_into_words=True)["input_ids"])
    assert num_tokens > GPT2_POSITIONS
    vectors = gpt2.embed_words(words)
    assert vectors.shape == (len(words), GPT2_DIM) and bool(torch.isfinite(vectors).all())
    # Chunks hold whole words and start afresh: the first word of the second chunk has no context.
    first_chunk = gpt2._chunks(words)[0]
    assert 0 < len(first_chunk) < len(words)
    second_start = len(first_chunk)
    torch.testing.assert_close(vectors[second_start], gpt2.embed_words(words[second_start : second_start + 1])[0])


def test_hf_seeded_determinism(tmp_path: Path, gpt2: TextEmbedder) -> None:
    again = build_text_embedder("hf", path=_save_tiny_gpt2(tmp_path / "again", seed=0))
    assert again.embed_words(["hello", "world"]).equal(gpt2.embed_words(["hello", "world"]))


def test_hf_missing_or_empty_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingDependencyError, match=f"{missing}: no such language model directory"):
        build_text_embedder("hf", path=missing)
    with pytest.raises(InvalidInputError, match=f"{tmp_path}: not a transformers model directory"):
        build_text_embedder("hf", path=tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=f"{tmp_path}: cannot load a language model"):
        build_text_embedder("hf", path=tmp_path)
