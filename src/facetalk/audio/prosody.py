"""Prosody on the motion frame grid: pitch (YIN), voicing and energy of a waveform.

Pitch follows YIN (de Cheveigné & Kawahara, "YIN, a fundamental frequency estimator for speech and
music", JASA 2002), steps 2-5 of its Section II:

1. the difference function d(τ) = Σ_j (x_j - x_{j+τ})² over a 25 ms integration window (step 2),
   computed for all lags at once from an FFT cross-correlation and running energies;
2. the cumulative mean normalised difference d'(τ) = d(τ) τ / Σ_{k≤τ} d(k) (step 3);
3. the first lag in the 60-400 Hz search range whose d' dips below an absolute threshold, moved on
   to the bottom of that dip (step 4);
4. parabolic interpolation of d' around the chosen lag (step 5).

Because the threshold is higher than the paper's, a strong second harmonic can dip below it at half
the period; a dip at twice the lag that is more than twice as deep wins (an octave check). YIN's
step 6 (best local estimate) is replaced by the usual post-processing of pitch trackers: a
3-frame median over voiced runs and the removal of voiced runs shorter than 30 ms. A frame is voiced
when its dip is below the threshold and it is louder than `VOICING_FLOOR_DB` below the loudest frame.

Analysis runs at a fixed 100 frames per second (10 ms hop); the result is then put on the motion
frame grid, whose frame i describes time i / fps (the convention of `facetalk.audio.rate`): pitch is
interpolated linearly between voiced analysis frames, voicing is that of the nearest analysis frame.

Energy is the RMS level in dBFS (a full-scale sine is -3 dBFS), over a window of max(25 ms, 1/fps)
centred on each motion frame, floored at `ENERGY_FLOOR_DB`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facetalk.audio.rate import num_motion_frames
from facetalk.errors import InvalidInputError
from facetalk.types import Waveform

PITCH_MIN_HZ = 60.0
PITCH_MAX_HZ = 400.0
YIN_WINDOW_S = 0.025
"""YIN's integration window; the paper's 25 ms suits speech down to 40 Hz."""
YIN_THRESHOLD = 0.2
"""Absolute threshold on d'; a frame whose dips all stay above it is unvoiced. The paper's 0.1-0.15
leaves a third of the frames inside Piper's vowels unvoiced (its vocoder adds jitter); 0.2 keeps
unvoiced fricatives out (below 1% of their frames)."""
ANALYSIS_HOP_S = 0.01
PITCH_RATE = 8000
"""Pitch is tracked on the speech resampled to this rate (when it is sampled faster)."""
YIN_BLOCK_FRAMES = 1000
"""Analysis frames per block: about 60 MB of frame copies and spectra at 16 kHz."""
VOICING_FLOOR_DB = 40.0
"""Frames quieter than the loudest frame by more than this are unvoiced, whatever their periodicity."""
SILENCE_DB = -60.0
"""Frames below this level (dBFS) are unvoiced: digital silence is perfectly "periodic"."""
OCTAVE_RATIO = 0.5
"""A dip at twice the lag that is deeper than this fraction of the chosen dip wins (octave check)."""
OCTAVE_SEARCH = 3  # samples either side of 2τ where that deeper dip is looked for
MEDIAN_FRAMES = 3
MIN_VOICED_RUN_S = 0.03
ENERGY_WINDOW_S = 0.025
ENERGY_FLOOR_DB = -100.0
_POWER_FLOOR = 10.0 ** (ENERGY_FLOOR_DB / 10.0)


@dataclass(frozen=True)
class Prosody:
    """Per-frame pitch, voicing and energy of speech, on the motion frame grid (frame i at i / fps).

    Attributes:
        pitch_hz: fundamental frequency in Hz, 0 where unvoiced, shape (T,).
        voiced: True where the frame is voiced, shape (T,).
        energy: RMS level in dBFS (full-scale sine = -3 dB), at least `ENERGY_FLOOR_DB`, shape (T,).
        fps: frames per second.
    """

    pitch_hz: np.ndarray
    voiced: np.ndarray
    energy: np.ndarray
    fps: float

    def __post_init__(self) -> None:
        pitch = np.asarray(self.pitch_hz, dtype=np.float32)
        voiced = np.asarray(self.voiced, dtype=bool)
        energy = np.asarray(self.energy, dtype=np.float32)
        if pitch.ndim != 1 or voiced.shape != pitch.shape or energy.shape != pitch.shape:
            raise InvalidInputError(
                f"prosody tracks must share one shape (T,), got {pitch.shape}, {voiced.shape}, {energy.shape}"
            )
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise InvalidInputError(f"prosody fps must be positive, got {self.fps}")
        if not (np.isfinite(pitch).all() and np.isfinite(energy).all()):
            raise InvalidInputError("prosody has non-finite values")
        if (pitch[~voiced] != 0).any() or (pitch[voiced] <= 0).any():
            raise InvalidInputError("prosody pitch must be positive exactly where the frames are voiced")
        object.__setattr__(self, "pitch_hz", pitch)
        object.__setattr__(self, "voiced", voiced)
        object.__setattr__(self, "energy", energy)

    @property
    def num_frames(self) -> int:
        return int(self.pitch_hz.shape[0])

    def resample(self, num_frames: int, fps: float) -> Prosody:
        """The same contours on another frame grid (nearest frame in time)."""
        index = np.clip(np.round(np.arange(num_frames) / fps * self.fps).astype(np.int64), 0, max(self.num_frames - 1, 0))
        if self.num_frames == 0:
            zeros = np.zeros(num_frames, dtype=np.float32)
            return Prosody(zeros, zeros.astype(bool), zeros + ENERGY_FLOOR_DB, fps)
        return Prosody(self.pitch_hz[index], self.voiced[index], self.energy[index], fps)


def extract_prosody(waveform: Waveform, *, fps: float, num_frames: int | None = None) -> Prosody:
    """Pitch (YIN, 60-400 Hz), voicing and RMS energy of a waveform at `fps` frames per second.

    Args:
        waveform: mono speech, any sample rate (at least 2 × `PITCH_MAX_HZ`).
        fps: motion frames per second.
        num_frames: T; defaults to ceil(duration × fps) (`num_motion_frames`). Frames past the end of
            the audio are silent and unvoiced.

    Returns:
        The prosody on frames i / fps, i = 0 ... T - 1.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidInputError(f"fps must be positive, got {fps}")
    if num_frames is None:
        num_frames = num_motion_frames(waveform.duration, fps)
    if num_frames < 0:
        raise InvalidInputError(f"number of frames must be >= 0, got {num_frames}")
    if waveform.sample_rate < 2 * PITCH_MAX_HZ:
        raise InvalidInputError(
            f"{waveform.name}: sample rate {waveform.sample_rate} Hz is too low for pitch up to {PITCH_MAX_HZ:.0f} Hz"
        )
    x = waveform.samples  # float32; each block below takes its float64 copy, so memory stays bounded
    rate = waveform.sample_rate
    frame_times = np.arange(num_frames) / fps  # (T,)
    energy = _rms_db(x, rate, frame_times, max(ENERGY_WINDOW_S, 1.0 / fps))

    analysis_times = np.arange(0, waveform.duration + ANALYSIS_HOP_S, ANALYSIS_HOP_S)  # (N,)
    pitch, voiced = _yin(*_for_pitch(x, rate), analysis_times)
    pitch, voiced = _clean(pitch, voiced, min_run=max(1, round(MIN_VOICED_RUN_S / ANALYSIS_HOP_S)))

    nearest = np.clip(np.round(frame_times / ANALYSIS_HOP_S).astype(np.int64), 0, len(analysis_times) - 1)
    voiced_out = voiced[nearest] & (frame_times < waveform.duration)
    pitch_out = np.zeros(num_frames)
    if voiced.any():
        pitch_out = np.interp(frame_times, analysis_times[voiced], pitch[voiced])
    pitch_out = np.where(voiced_out, pitch_out, 0.0)
    return Prosody(pitch_out.astype(np.float32), voiced_out, energy.astype(np.float32), fps)


def _rms_db(x: np.ndarray, rate: int, times: np.ndarray, window_s: float) -> np.ndarray:
    """RMS level in dBFS over windows centred on `times` (ascending), zero outside the signal, shape (T,).

    Computed in blocks of `YIN_BLOCK_FRAMES` frames, each from running sums over its own samples.
    """
    half = window_s * rate / 2
    start = np.clip(np.round(times * rate - half).astype(np.int64), 0, len(x))
    stop = np.clip(np.round(times * rate + half).astype(np.int64), 0, len(x))
    power = np.zeros(len(times))
    for i in range(0, len(times), YIN_BLOCK_FRAMES):
        block = slice(i, i + YIN_BLOCK_FRAMES)
        first = int(start[block].min())
        local = x[first : int(stop[block].max())].astype(np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(local * local)])
        power[block] = (cumulative[stop[block] - first] - cumulative[start[block] - first]) / max(2 * half, 1.0)
    return 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))


def _for_pitch(x: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """The signal at `PITCH_RATE` when it is sampled faster: pitch up to 400 Hz needs no more, and YIN's
    cost grows with the rate (its windows and lags are counted in samples)."""
    if rate <= PITCH_RATE:
        return x, rate
    import soxr

    return np.asarray(soxr.resample(x, rate, PITCH_RATE), dtype=np.float32), PITCH_RATE


def _yin(x: np.ndarray, rate: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch (Hz) and voicing of analysis frames centred on `times` (at least one), shapes (N,) and (N,).

    Frames are analysed in blocks of `YIN_BLOCK_FRAMES`, so memory stays bounded on long audio.
    """
    blocks = [_yin_block(x, rate, times[i : i + YIN_BLOCK_FRAMES]) for i in range(0, len(times), YIN_BLOCK_FRAMES)]
    pitch, has_dip, frame_db = (np.concatenate([block[k] for block in blocks]) for k in range(3))
    loud = (frame_db > frame_db.max() - VOICING_FLOOR_DB) & (frame_db > SILENCE_DB)
    voiced = has_dip & loud & (pitch >= PITCH_MIN_HZ) & (pitch <= PITCH_MAX_HZ)
    return np.where(voiced, pitch, 0.0), voiced


def _yin_block(x: np.ndarray, rate: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch (Hz), whether YIN found a dip, and level (dB) of the frames centred on `times`, each (N,)."""
    window = round(YIN_WINDOW_S * rate)  # W
    tau_min = max(2, math.floor(rate / PITCH_MAX_HZ))
    tau_max = math.ceil(rate / PITCH_MIN_HZ)
    length = window + tau_max + 1  # each frame needs W samples and their copies up to τ_max later
    centres = np.round(times * rate).astype(np.int64)
    index = (centres - window // 2)[:, None] + np.arange(length)[None]  # (N, L): the window centred on the frame
    inside = (index >= 0) & (index < len(x))  # zeros beyond the signal's ends
    source = x if len(x) else np.zeros(1, np.float32)  # an empty signal is all zeros
    segments = np.where(inside, source[np.clip(index, 0, len(source) - 1)].astype(np.float64), 0.0)  # (N, L)

    # Step 2: d(τ) = E(0) + E(τ) - 2 r(τ), with r from one FFT cross-correlation per frame.
    n_fft = 1 << math.ceil(math.log2(length + window))
    head = np.fft.rfft(segments[:, :window], n_fft)
    full = np.fft.rfft(segments, n_fft)
    r = np.fft.irfft(np.conj(head) * full, n_fft)[:, : tau_max + 1]  # (N, τ_max + 1)
    squares = np.concatenate([np.zeros((len(segments), 1)), np.cumsum(segments**2, axis=1)], axis=1)
    lags = np.arange(tau_max + 1)
    shifted_energy = squares[:, lags + window] - squares[:, lags]  # E(τ) = Σ_{j<W} x_{j+τ}²
    d = np.maximum(squares[:, window : window + 1] + shifted_energy - 2 * r, 0.0)

    # Step 3: cumulative mean normalised difference.
    running = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(running, 1e-12)

    # Step 4: first dip below the threshold in range, then down to the bottom of that dip.
    in_range = lags >= tau_min
    below = (cmnd < YIN_THRESHOLD) & in_range
    has_dip = below.any(axis=1)
    first = np.argmax(below, axis=1)
    rising = np.zeros_like(below)
    rising[:, :-1] = cmnd[:, 1:] >= cmnd[:, :-1]
    rising[:, -1] = True
    bottom = np.argmax(rising & (lags[None] >= first[:, None]), axis=1)
    # Frames without a dip take their global minimum (for the record; they are unvoiced anyway).
    global_min = np.argmin(np.where(in_range, cmnd, np.inf), axis=1)
    tau = np.where(has_dip, bottom, global_min)
    tau = _undo_octave_jumps(cmnd, tau)

    # Step 5: parabolic interpolation of d' around the chosen lag.
    rows = np.arange(len(tau))
    left = cmnd[rows, np.maximum(tau - 1, 0)]
    mid = cmnd[rows, tau]
    right = cmnd[rows, np.minimum(tau + 1, tau_max)]
    curvature = left - 2 * mid + right
    offset = np.where(np.abs(curvature) > 1e-12, 0.5 * (left - right) / np.where(curvature == 0, 1.0, curvature), 0.0)
    period = tau + np.clip(offset, -1.0, 1.0)
    pitch = rate / np.maximum(period, 1.0)

    frame_db = 10.0 * np.log10(np.maximum(squares[:, window] / window, _POWER_FLOOR))
    return pitch, has_dip, frame_db


def _undo_octave_jumps(cmnd: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Double the lag where d' at twice it is much deeper: the first dip was half a period.

    With a threshold above the paper's, a strong second harmonic can dip below it at half the true
    period; a truly periodic frame dips as deep at 2τ as at τ, a frame with period 2τ much deeper.
    """
    tau_max = cmnd.shape[1] - 1
    rows = np.arange(len(tau))
    out = tau.copy()
    reach = np.arange(-OCTAVE_SEARCH, OCTAVE_SEARCH + 1)
    lags = np.clip(2 * tau[:, None] + reach[None], 0, tau_max)  # (N, 2R + 1)
    double_values = cmnd[rows[:, None], lags]
    best = lags[rows, np.argmin(double_values, axis=1)]
    deeper = (2 * tau + OCTAVE_SEARCH <= tau_max) & (cmnd[rows, best] < OCTAVE_RATIO * cmnd[rows, tau])
    out[deeper] = best[deeper]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _clean(pitch: np.ndarray, voiced: np.ndarray, *, min_run: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop voiced runs shorter than `min_run` frames; median-filter pitch within each voiced run."""
    pitch = pitch.copy()
    voiced = voiced.copy()
    half = MEDIAN_FRAMES // 2
    for start, stop in _runs(voiced):
        if stop - start < min_run:
            voiced[start:stop] = False
            pitch[start:stop] = 0.0
            continue
        run = pitch[start:stop]
        padded = np.concatenate([np.repeat(run[:1], half), run, np.repeat(run[-1:], half)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, MEDIAN_FRAMES)
        pitch[start:stop] = np.median(windows, axis=1)
    return pitch, voiced
