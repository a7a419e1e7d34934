"""Speech-to-motion models: the `Animator` interface, the `MODELS` registry, saving and loading."""

from facetalk.models import audio_text_fusion as audio_text_fusion  # registers "audio_text_fusion*"
from facetalk.models import composite_regional as composite_regional  # registers "composite_regional*"
from facetalk.models import conv_baseline as conv_baseline  # registers "conv_baseline"
from facetalk.models import emotion_control as emotion_control  # registers "emotion_control*"
from facetalk.models import faceformer as faceformer  # registers "faceformer*"
from facetalk.models import style_duration as style_duration  # registers "style_duration*"
from facetalk.models import voca as voca  # registers "voca*"
from facetalk.models.base import (
    MODELS,
    Animator,
    Conditions,
    ModelOutput,
    ModelSpec,
    build_model,
    load_model,
    save_model,
)

__all__ = ["MODELS", "Animator", "Conditions", "ModelOutput", "ModelSpec", "build_model", "load_model", "save_model"]
