"""The synthetic corpus: speech synthesis with exact phone timings (voices.py), and later the corpus builder."""
