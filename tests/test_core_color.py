import cv2
import numpy as np
import torch

from ivifbench.color import fuse_luminance, rgb_to_ycrcb, ycrcb_to_rgb


def test_matches_opencv_ycrcb():
    rgb = np.random.default_rng(0).random((1, 3, 16, 16)).astype(np.float32)
    ours = rgb_to_ycrcb(torch.from_numpy(rgb))[0].permute(1, 2, 0).numpy()
    ref = cv2.cvtColor(np.ascontiguousarray(rgb[0].transpose(1, 2, 0)), cv2.COLOR_RGB2YCrCb)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_round_trip_and_luminance_only():
    rgb = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(ycrcb_to_rgb(rgb_to_ycrcb(rgb)).numpy(), rgb.numpy(), atol=2e-3)
    ir = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    out = fuse_luminance(lambda a, y: y, ir, rgb)  # identity rule keeps the visible image
    np.testing.assert_allclose(out.numpy(), rgb.numpy(), atol=2e-3)
    grey = fuse_luminance(lambda a, y: a, ir, rgb[:, :1])
    assert grey.shape == (2, 1, 8, 8) and torch.equal(grey, ir)


def test_8bit_path_is_bit_exact_with_opencv_on_all_corner_colours():
    from ivifbench.color import luminance_and_chroma, rgb_to_ycrcb_8bit

    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[0, :8] = [
        [0, 0, 0],
        [255, 255, 255],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [1, 2, 3],
        [254, 0, 255],
        [128, 128, 128],
    ]
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    ours = rgb_to_ycrcb_8bit(t)[0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_array_equal(np.round(ours).astype(np.uint8), ref)
    y, chroma = luminance_and_chroma(t)  # 8-bit data takes the exact path
    torch.testing.assert_close(torch.cat((y, chroma), 1), rgb_to_ycrcb_8bit(t))
    from ivifbench.color import _rgb_to_ycrcb_8bit_int  # the arithmetic used off the CPU

    assert torch.equal(_rgb_to_ycrcb_8bit_int(t), rgb_to_ycrcb_8bit(t))
    assert torch.equal(_rgb_to_ycrcb_8bit_int(t.double()), rgb_to_ycrcb_8bit(t.double()))


def test_8bit_inverse_is_bit_exact_with_opencv():
    from ivifbench.color import ycrcb_to_rgb_8bit

    ycc = np.random.default_rng(2).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    ref = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    ours = ycrcb_to_rgb_8bit(torch.from_numpy(ycc).permute(2, 0, 1)[None].double() / 255)
    assert torch.equal(torch.round(ours[0] * 255).to(torch.uint8).permute(1, 2, 0), torch.from_numpy(ref))


def test_8bit_grey_is_bit_exact_with_opencv():
    from ivifbench.color import rgb_to_grey_8bit

    rgb = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    ours = rgb_to_grey_8bit(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert torch.equal(torch.round(ours[0, 0] * 255).to(torch.uint8), torch.from_numpy(ref))
