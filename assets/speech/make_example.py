"""Synthesize the bundled example speech with facetalk's own Piper voice.

    python assets/speech/make_example.py

Writes `example.wav` (16 kHz mono, 16-bit) and `example.txt` (its transcript) beside this script.
Needs the `synth` extra (`pip install -e '.[synth]'`).
"""

from __future__ import annotations

from pathlib import Path

from facetalk.audio import save_wav
from facetalk.synth.voices import synthesize

# Bilabials (m, b, p), labiodentals (f, v), rounded and open vowels, a question and a pause: a clip
# that shows whether lip-sync works at a glance.
TEXT = "Hello! My name is Maya, and I bring you the morning news. Would you believe how far a happy boat can float?"
HERE = Path(__file__).parent


def main() -> None:
    waveform, _ = synthesize(TEXT, noise_scale=0.0, noise_w_scale=0.0)
    save_wav(waveform, HERE / "example.wav")
    (HERE / "example.txt").write_text(TEXT + "\n")
    print(f"wrote {HERE / 'example.wav'} ({waveform.duration:.2f} s)")


if __name__ == "__main__":
    main()
