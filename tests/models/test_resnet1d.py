"""ResNet1D: shapes and strides, the per-frame norm, the receptive field, and padding that cannot leak."""

from __future__ import annotations

import pytest
import torch

from facetalk.models.modules import BasicBlock1d, FrameLayerNorm, ResNet1D, downsample_mask

TINY_WIDTHS = (8, 8, 16, 16)
ENCODER_STRIDES = (1, 2, 2, 1)


def _net(strides: tuple[int, ...] = (1, 1, 1, 1), seed: int = 0) -> ResNet1D:
    torch.manual_seed(seed)
    return ResNet1D(4, 6, widths=TINY_WIDTHS, strides=strides).eval()


def test_shapes_and_time_stride() -> None:
    x = torch.randn(2, 4, 10)
    assert _net()(x).shape == (2, 6, 10)
    encoder = _net(ENCODER_STRIDES)
    assert encoder.time_stride == 4
    assert encoder(x).shape == (2, 6, 3)  # 10 -> ceil(10 / 2) = 5 -> ceil(5 / 2) = 3
    assert encoder(torch.randn(1, 4, 12)).shape == (1, 6, 3)  # T' -> T'/4 when 4 divides T'


def test_output_mask_follows_the_strides() -> None:
    mask = torch.tensor([[1.0] * 10, [1.0] * 7 + [0.0] * 3])
    out = _net(ENCODER_STRIDES).output_mask(mask)
    # output frame t sits on input frame 4t: frames 0, 4, 8; the second clip's frame 8 is padding
    assert torch.equal(out, torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]))
    assert torch.equal(downsample_mask(mask, 1), mask)


def test_projection_shortcut_only_when_the_shape_changes() -> None:
    assert BasicBlock1d(8, 8).shortcut is None
    assert BasicBlock1d(8, 16).shortcut is not None
    assert BasicBlock1d(8, 8, stride=2).shortcut is not None


def test_masked_batch_norm_ignores_padding_and_keeps_amplitude() -> None:
    from facetalk.models.modules.resnet1d import ResNet1D

    torch.manual_seed(0)
    net = ResNet1D(4, 3, widths=(8, 8), blocks=(1, 1), strides=(1, 1), norm="batch")
    x = torch.randn(2, 4, 10)
    mask = torch.ones(2, 10)
    mask[1, 6:] = 0.0
    padded = x.clone()
    padded[1, :, 6:] = 100.0  # garbage in the padding must not reach the statistics
    net.train()
    a, b = net(x, mask), net(padded, mask)
    assert torch.allclose(a[:, :, :6], b[:, :, :6], atol=1e-5)
    net.eval()  # running statistics: a sequence twice as large gives a different output (per-frame LayerNorm would not)
    small = net(x[:1])
    large = net(2.0 * x[:1])
    assert not torch.allclose(small, large, atol=1e-3)


def test_frame_layer_norm_normalises_each_frame_over_channels() -> None:
    norm = FrameLayerNorm(3)
    x = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]]])  # (B=1, C=3, T=2)
    out = norm(x)
    # frame 0: channels (1, 2, 3), mean 2, population std sqrt(2/3)
    expected0 = torch.tensor([-1.0, 0.0, 1.0]) / (2.0 / 3.0) ** 0.5
    assert torch.allclose(out[0, :, 0], expected0, atol=1e-4)
    assert torch.allclose(out.mean(dim=1), torch.zeros(1, 2), atol=1e-6)


def test_no_batch_statistics_in_training_mode() -> None:
    net = _net().train()
    a, b = torch.randn(1, 4, 9), 100.0 * torch.randn(1, 4, 9)
    # a sample's output does not depend on what else is in its batch (BatchNorm's would)
    assert torch.allclose(net(torch.cat([a, b]))[:1], net(a), atol=1e-5)


def test_receptive_field_of_the_stride_one_decoder() -> None:
    net = _net()
    x = torch.randn(1, 4, 40)
    y = x.clone()
    y[0, :, 0] += 5.0
    changed = (net(x) - net(y)).abs().amax(dim=1)[0]  # (T,)
    # stem + 8 blocks x 2 convs, each kernel 3: a frame sees 1 + 16 = 17 frames to each side
    assert changed[17] > 0
    assert torch.all(changed[18:] == 0)


@pytest.mark.parametrize("strides", [(1, 1, 1, 1), ENCODER_STRIDES])
def test_padding_does_not_reach_the_real_frames(strides: tuple[int, ...]) -> None:
    net = _net(strides)
    real = torch.randn(1, 4, 13)
    padded = torch.cat([real, 50.0 * torch.randn(1, 4, 7)], dim=2)  # garbage in 7 padded frames
    mask = torch.cat([torch.ones(1, 13), torch.zeros(1, 7)], dim=1)
    out = net(padded, mask)
    real_out = net(real)
    frames = real_out.shape[2]
    assert int(net.output_mask(mask).sum()) == frames
    assert torch.allclose(out[:, :, :frames], real_out, atol=1e-5)


def test_mismatched_stages_are_rejected() -> None:
    with pytest.raises(ValueError, match="same stages"):
        ResNet1D(4, 6, widths=(8, 8), blocks=(2, 2, 2), strides=(1, 1))
