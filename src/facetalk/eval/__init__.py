"""Evaluation: metrics, emotion recognition, reports.

`facetalk.eval.metrics` holds the field's objective metrics as pure numpy functions, each written
exactly as the repository that reports it computes it (CodeTalker's squared LVE and FDD, FaceDiffuser's
MVE and diversity, mm2023's masked mean/max errors and DTW, MeshTalk's centred lip error, paper 002's
aligned lip key points and mouth shape, BEAT's Fréchet distance), plus lip-sync and motion statistics
that need no ground truth. Submodules are imported explicitly; this package imports nothing heavy.
"""
