import numpy as np
import pytest
import torch

from ivifbench.fusion import METHODS, MethodError, create_method
from ivifbench.fusion.base import check_output
from ivifbench.imageio import read_image, read_pair

BASELINES = ["average", "max", "weighted", "laplacian", "dwt", "gff"]


@pytest.mark.parametrize("name", BASELINES)
def test_contract_shapes_range_and_batch_consistency(name):
    g = torch.Generator().manual_seed(0)
    ir = torch.rand(3, 1, 37, 53, generator=g)
    vis = torch.rand(3, 3, 37, 53, generator=g)
    method = create_method(name)
    out = method(ir, vis)
    assert out.shape == vis.shape and out.dtype == torch.float32
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    single = torch.cat([method(ir[i : i + 1], vis[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(out, single, atol=1e-5, rtol=0)
    grey = method(ir, vis[:, :1])
    assert grey.shape == (3, 1, 37, 53)
    torch.testing.assert_close(method(ir, vis), out)  # deterministic


@pytest.mark.parametrize("name", BASELINES)
def test_same_source_twice_gives_it_back(name):
    x = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(create_method(name)(x, x), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", BASELINES)
def test_tiny_and_odd_sizes(name):
    for h, w in ((1, 1), (3, 5), (8, 8)):
        out = create_method(name)(torch.rand(1, 1, h, w), torch.rand(1, 3, h, w))
        assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


def test_max_and_average_rules():
    ir = torch.tensor([[[[0.2, 0.9]]]])
    y = torch.tensor([[[[0.6, 0.1]]]])
    torch.testing.assert_close(create_method("max")(ir, y), torch.tensor([[[[0.6, 0.9]]]]))
    torch.testing.assert_close(create_method("average")(ir, y), torch.tensor([[[[0.4, 0.5]]]]))


def test_output_contract_errors():
    with pytest.raises(MethodError, match="NaN"):
        check_output("m", torch.full((1, 1, 2, 2), float("nan")), torch.Size((1, 1, 2, 2)))
    with pytest.raises(MethodError, match="shape"):
        check_output("m", torch.zeros(1, 3, 2, 2), torch.Size((1, 1, 2, 2)))
    with pytest.raises(MethodError, match="outside"):
        check_output("m", torch.full((1, 1, 2, 2), 2.0), torch.Size((1, 1, 2, 2)))
    with pytest.raises(MethodError, match="B×1×H×W"):
        create_method("average")(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))


def test_registry_lists_the_baselines():
    assert set(BASELINES) <= set(METHODS.names())


@pytest.mark.parametrize("pair", ["carLight", "manCall"])
def test_gff_matches_vifb_published_gff(shared_data, pair):
    """Independent reference: VIFB's own GFF outputs (JPEG) agree with ours to ~1 grey level on average."""
    ir, vis = read_pair(shared_data / f"vifb/input/IR/{pair}.jpg", shared_data / f"vifb/input/VI/{pair}.jpg")
    ref = read_image(shared_data / f"fused/GFF/vifb/{pair}.jpg").pixels

    def t(img):
        return torch.from_numpy(img.pixels).permute(2, 0, 1)[None]

    ours = create_method("gff")(t(ir), t(vis))[0].permute(1, 2, 0).numpy()
    mae = float(np.abs(ours - ref).mean() * 255)
    assert mae < 2.0, f"mean absolute difference {mae:.2f} grey levels"
