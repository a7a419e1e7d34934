"""Coarticulation: Cohen & Massaro dominance functions blend the phones' target poses over time.

Cohen & Massaro, "Modeling coarticulation in synthetic visual speech" (Models and Techniques in
Computer Animation, 1993), Section 3: every speech segment s has, for every articulatory parameter
p, a target T_sp and a dominance function that rises toward the segment's centre and falls after it,

    D_sp(τ) = α_sp · exp(-θ_sp |τ|^c),   τ = t - centre_s,

with separate rates θ before the centre (anticipation) and after it (carry-over). The parameter
track is the dominance-weighted average of all targets,

    F_p(t) = Σ_s D_sp(t) T_sp / Σ_s D_sp(t),

so a segment with low dominance for a parameter (an alveolar for lip rounding) lets its neighbours'
values show through, and one with high dominance (a bilabial for lip closure) holds its own.

Choices made here, with their reasons:

- The rates are written as time constants, θ = 1 / τ_g^c, per parameter group g (`TIME_CONSTANTS_S`):
  lip rounding anticipates over the longest span (it spreads over several consonants before a
  rounded vowel, Benguerel & Cowan 1974), closure over the shortest.
- |τ| is measured from the edges of a central plateau covering `PLATEAU_FRACTION` of the segment
  rather than from its centre, so a long vowel holds its target instead of peaking once.
- A weak rest segment spans the whole clip (`REST_DOMINANCE`), so the face returns to rest far from
  any phone and the average is always defined.
- Bilabial closure is guaranteed, not left to the average (as in JALI, Edwards et al., SIGGRAPH
  2016, where the lip closure of bilabials is a hard constraint): `enforce_closures` sets the closure
  parameter to 1 on every frame inside each bilabial's interval (or the frame nearest its middle,
  when the interval holds no frame time) and ramps it smoothly in and out around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facetalk.procedural.visemes import GROUPS, PARAM_GROUP, PARAMS, phone_targets
from facetalk.text.phonemes import Viseme, viseme
from facetalk.types import Phone, Seconds

TIME_CONSTANTS_S: dict[str, tuple[float, float]] = {
    "jaw": (0.07, 0.06),
    "rounding": (0.13, 0.08),
    "lips": (0.055, 0.045),
    "closure": (0.035, 0.03),
}
"""Per group: (before, after) time constants of the dominance fall-off, τ_g with θ = 1 / τ_g^c."""
DOMINANCE_POWER = 1.0
"""Cohen & Massaro's exponent c; 1 gives exponential fall-off, their most used setting."""
PLATEAU_FRACTION = 0.5
"""The central part of a segment where its dominance stays at α."""
REST_DOMINANCE = 1e-3
"""α of the rest pose that spans the clip: negligible next to any phone, decisive far from all."""
BLEND_BLOCK_FRAMES = 512
"""Frames blended together: bounds the (segments, frames, parameters) dominance array."""
NEGLIGIBLE_LOG = 40.0
"""Segments whose dominance is e^-40 of the rest pose's are left out of a block: they change nothing."""
CLOSURE_RAMP_S = 0.05
"""How long the lips take to seal before a bilabial and to part after it."""


@dataclass(frozen=True)
class Segment:
    """One articulatory target in time.

    Attributes:
        start: seconds.
        end: seconds.
        target: parameter targets, shape (P,).
        dominance: α per parameter, shape (P,).
    """

    start: Seconds
    end: Seconds
    target: np.ndarray
    dominance: np.ndarray

    @property
    def centre(self) -> Seconds:
        return 0.5 * (self.start + self.end)


def segments_from_phones(phones: Sequence[Phone], *, shift: Seconds = 0.0) -> list[Segment]:
    """The articulatory segments of a phone sequence (diphthongs give two), shifted by `shift` seconds."""
    segments = []
    for phone in phones:
        duration = phone.end - phone.start
        for part in phone_targets(phone.label):
            segments.append(
                Segment(
                    phone.start + shift + part.start * duration,
                    phone.start + shift + part.end * duration,
                    part.target,
                    part.dominance,
                )
            )
    return segments


def _time_constants() -> tuple[np.ndarray, np.ndarray]:
    """(before, after) time constants per parameter, shapes (P,) each."""
    before = np.array([TIME_CONSTANTS_S[g][0] for g in GROUPS])[PARAM_GROUP]
    after = np.array([TIME_CONSTANTS_S[g][1] for g in GROUPS])[PARAM_GROUP]
    return before, after


def dominance(segments: Sequence[Segment], times: np.ndarray, *, power: float = DOMINANCE_POWER) -> np.ndarray:
    """log D_sp(t) of every segment at every time, shape (S, T, P).

    Returned in the log domain so that far-away segments underflow gracefully.
    """
    before, after = _time_constants()
    centre = np.array([s.centre for s in segments])[:, None]  # (S, 1)
    half = np.array([0.5 * (s.end - s.start) for s in segments])[:, None]
    offset = times[None, :] - centre  # (S, T), negative before the centre
    distance = np.maximum(np.abs(offset) - PLATEAU_FRACTION * half, 0.0)  # (S, T)
    tau = np.where(offset[..., None] < 0, before, after)  # (S, T, P)
    alpha = np.stack([s.dominance for s in segments])[:, None, :]  # (S, 1, P)
    return np.log(np.maximum(alpha, 1e-12)) - (distance[..., None] / tau) ** power


def blend(segments: Sequence[Segment], times: np.ndarray, *, power: float = DOMINANCE_POWER) -> np.ndarray:
    """Cohen & Massaro's dominance-weighted average of the segments' targets, shape (T, P).

    Frames are blended in blocks of `BLEND_BLOCK_FRAMES`, each with only the segments close enough
    to weigh anything there (`_reach`), so time and memory grow linearly with the clip's length.

    Args:
        segments: the articulatory segments, in any order.
        times: frame times in seconds, shape (T,).
        power: the exponent c of the dominance functions.
    """
    out = np.zeros((len(times), len(PARAMS)))
    if not segments:
        return out
    reach = _reach(segments, power)
    centre = np.array([s.centre for s in segments])
    half = np.array([0.5 * (s.end - s.start) for s in segments])
    targets = np.stack([s.target for s in segments])  # (S, P)
    for start in range(0, len(times), BLEND_BLOCK_FRAMES):
        block = times[start : start + BLEND_BLOCK_FRAMES]
        near = np.flatnonzero((centre - half - reach <= block[-1]) & (centre + half + reach >= block[0]))
        rest = np.full((1, len(block), len(PARAMS)), np.log(REST_DOMINANCE))
        log_d = np.concatenate([dominance([segments[int(i)] for i in near], block, power=power), rest]) if len(near) else rest
        log_d -= log_d.max(axis=0, keepdims=True)  # (S' + 1, T', P)
        weight = np.exp(log_d)
        block_targets = np.concatenate([targets[near], np.zeros((1, len(PARAMS)))])  # (S' + 1, P)
        out[start : start + len(block)] = np.einsum("stp,sp->tp", weight, block_targets) / weight.sum(axis=0)
    return out


def _reach(segments: Sequence[Segment], power: float) -> float:
    """How far past its edges a segment can still weigh more than e^-`NEGLIGIBLE_LOG` of the rest pose."""
    before, after = _time_constants()
    strongest = max(float(np.max(s.dominance)) for s in segments)
    drop = max(np.log(max(strongest, REST_DOMINANCE) / REST_DOMINANCE), 0.0) + NEGLIGIBLE_LOG
    return float(max(before.max(), after.max()) * drop ** (1.0 / power))


def closure_frames(start: Seconds, end: Seconds, times: np.ndarray) -> np.ndarray:
    """Indices of the frames whose (ascending) times lie in [start, end], or the frame nearest the middle if none do."""
    inside = np.arange(np.searchsorted(times, start), np.searchsorted(times, end, side="right"))
    if len(inside) or not len(times):
        return inside
    middle = 0.5 * (start + end)
    after = int(np.searchsorted(times, middle))
    candidates = [i for i in (after - 1, after) if 0 <= i < len(times)]
    return np.array([min(candidates, key=lambda i: abs(times[i] - middle))])  # the earlier one on a tie


def bilabial_intervals(phones: Sequence[Phone], *, shift: Seconds = 0.0) -> list[tuple[Seconds, Seconds]]:
    """(start, end) of every P, B and M, shifted by `shift` seconds."""
    return [(p.start + shift, p.end + shift) for p in phones if viseme(p.label) is Viseme.BILABIAL]


def enforce_closures(
    closure: np.ndarray, times: np.ndarray, intervals: Sequence[tuple[Seconds, Seconds]], *, ramp_s: float = CLOSURE_RAMP_S
) -> np.ndarray:
    """The closure track raised to 1 inside every bilabial and ramped smoothly around it, shape (T,).

    Args:
        closure: the blended closure parameter, shape (T,).
        times: frame times, shape (T,).
        intervals: bilabial (start, end) times.
        ramp_s: the smoothstep ramp before and after each closure.
    """
    out = closure.copy()
    for start, end in intervals:
        frames = closure_frames(start, end, times)
        if not len(frames):
            continue
        first, last = times[frames[0]], times[frames[-1]]
        near = slice(np.searchsorted(times, first - ramp_s), np.searchsorted(times, last + ramp_s, side="right"))
        outside = np.maximum(first - times[near], 0.0) + np.maximum(times[near] - last, 0.0)  # 0 on the closed frames
        u = np.clip(1.0 - outside / ramp_s, 0.0, 1.0)
        out[near] = np.maximum(out[near], u * u * (3.0 - 2.0 * u))
    return out
