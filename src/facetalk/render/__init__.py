"""Offscreen rendering of faces: frames, videos with sound, and blendshape contact sheets."""

from facetalk.render.offscreen import BACKENDS, Camera, Renderer, frame_camera
from facetalk.render.sheet import contact_strip, face_sheet
from facetalk.render.video import render_side_by_side, render_video

__all__ = ["BACKENDS", "Camera", "Renderer", "contact_strip", "face_sheet", "frame_camera", "render_side_by_side", "render_video"]
