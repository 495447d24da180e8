import numpy as np
import pytest
from PIL import Image

from ivifbench.errors import InputError
from ivifbench.imageio import list_images, pair_folders, read_image, read_pair, to_uint8, write_png


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA"])
def test_lossless_formats_and_modes(tmp_path, rng, suffix, mode):
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (9, 11, channels), dtype=np.uint8)
    if suffix == ".bmp" and mode == "LA":
        pytest.skip("BMP has no grey+alpha")
    path = tmp_path / f"x{suffix}"
    Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode).save(path)
    img = read_image(path, "vis")
    colour = 3 if channels >= 3 else 1
    assert img.pixels.shape == (9, 11, colour) and img.bit_depth == 8
    np.testing.assert_array_equal(to_uint8(img.pixels), arr[..., :colour])
    assert read_image(path, "ir").pixels.shape == (9, 11, 1)


def test_jpeg_reads(tmp_path, rng):
    path = tmp_path / "x.jpg"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path, quality=95)
    assert read_image(path, "vis").pixels.shape == (16, 16, 3)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257, 65535], [1000, 30000, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    img = read_image(path, "ir")
    assert img.bit_depth == 16
    np.testing.assert_allclose(img.pixels[..., 0], arr / 65535.0, rtol=1e-6)


def test_grey_stored_as_rgb_collapses_and_ir_becomes_one_channel(tmp_path, rng):
    grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    path = tmp_path / "g.png"
    Image.fromarray(np.repeat(grey[..., None], 3, -1)).save(path)
    img = read_image(path, "vis")
    assert img.pixels.shape == (8, 8, 1) and img.channels_on_disk == 3
    np.testing.assert_array_equal(to_uint8(img.pixels[..., 0]), grey)


def test_truncated_and_not_an_image(tmp_path, rng):
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="cut.png: unreadable or truncated"):
        read_image(bad)
    text = tmp_path / "text.png"
    text.write_text("hello")
    with pytest.raises(InputError, match="text.png"):
        read_image(text)
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_size_mismatch_names_both_files(tmp_path):
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "ir.png")
    Image.fromarray(np.zeros((10, 13, 3), np.uint8)).save(tmp_path / "vi.png")
    with pytest.raises(InputError, match=r"ir.png is 12×10 but .*vi.png is 13×10"):
        read_pair(tmp_path / "ir.png", tmp_path / "vi.png")


def test_pairing_by_stem_and_missing_partner(tmp_path):
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    for d, names in (("ir", ["a.png", "b.png", "c.png"]), ("vi", ["a.jpg", "b.png"])):
        for n in names:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / d / n)
    with pytest.raises(InputError, match=r"c.png has no partner named 'c\.\*'"):
        pair_folders(tmp_path / "ir", tmp_path / "vi")
    (tmp_path / "ir" / "c.png").unlink()
    assert [p[0] for p in pair_folders(tmp_path / "ir", tmp_path / "vi")] == ["a", "b"]
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "vi" / "a.png")
    with pytest.raises(InputError, match="have stem 'a'"):
        list_images(tmp_path / "vi")


def test_write_png_round_trip(tmp_path, rng):
    arr = rng.random((5, 7, 3)).astype(np.float32)
    path = write_png(tmp_path / "sub" / "o.png", arr)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), to_uint8(arr))
    assert to_uint8(np.array([0.5 / 255, 1.5 / 255])).tolist() == [1, 2]  # round half up, as save_image
