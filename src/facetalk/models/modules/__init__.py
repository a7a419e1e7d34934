"""Blocks shared by more than one model."""

from facetalk.models.modules.feature_norm import MIN_FEATURE_STD, FeatureNorm
from facetalk.models.modules.resnet1d import BasicBlock1d, FrameLayerNorm, ResNet1D, downsample_mask, masked

__all__ = ["MIN_FEATURE_STD", "BasicBlock1d", "FeatureNorm", "FrameLayerNorm", "ResNet1D", "downsample_mask", "masked"]
