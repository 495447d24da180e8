"""Zoo weights: pickled whole modules are read without running pickled code; convert, fetch and the card."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ivifbench.errors import IvifError
from ivifbench.fusion import create_method
from ivifbench.fusion.zoo.caf import CARD as CAF_CARD
from ivifbench.fusion.zoo.caf import CafNet
from ivifbench.fusion.zoo.common import fetch_weights, read_state_dict
from ivifbench.fusion.zoo.tardal import TardalNet
from ivifbench.fusion.zoo.unpickle import UnsafePickleError, load_pickled_module, module_state_dict

SHARED_CAF = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "caf_det_final_official.pth"


class _Ours(CafNet):
    """Saved as the release saves it: a whole module under the release's class path ``models.Ours``."""


_Ours.__module__, _Ours.__qualname__, _Ours.__name__ = "models", "Ours", "Ours"


def _save_release_like(path: Path, net: nn.Module) -> None:
    import sys
    import types

    fake = types.ModuleType("models")
    fake.Ours = _Ours  # type: ignore[attr-defined]
    sys.modules["models"] = fake
    try:
        torch.save({"fuse": net}, path)
    finally:
        del sys.modules["models"]


def _plain_torch(module: nn.Module) -> None:
    """Swap our layer classes for the plain torch ones the release pickles (BatchNorm2d, ModuleList)."""
    from ivifbench.fusion.zoo.layers import DenseBlock, ImageBatchNorm2d

    for name, child in list(module.named_children()):
        if isinstance(child, ImageBatchNorm2d):
            plain = nn.BatchNorm2d(child.num_features)
            plain.load_state_dict(child.state_dict())
            setattr(module, name, plain)
        elif isinstance(child, DenseBlock):
            setattr(module, name, nn.ModuleList(list(child)))
        _plain_torch(getattr(module, name))


def _random_caf() -> CafNet:
    torch.manual_seed(0)
    net = _Ours()
    _plain_torch(net)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def caf_pickle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CafNet]:
    net = _random_caf()
    path = tmp_path_factory.mktemp("caf") / "Det_final.pth"
    _save_release_like(path, net)
    return path, net


def test_pickled_module_is_rebuilt_exactly(caf_pickle: tuple[Path, CafNet]) -> None:
    path, net = caf_pickle
    with pytest.raises(Exception, match="(?i)weights_only|unpickl"):
        torch.load(path, weights_only=True)  # what the release forces on a careful user
    state = module_state_dict(load_pickled_module(path, ["models.Ours"], key="fuse"))
    expected = net.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)


def _malicious(path: Path, payload: object) -> None:
    """A checkpoint shaped like CAF's whose pickle also names ``payload``'s callable."""
    buf = io.BytesIO()
    pickle.dump({"fuse": payload}, buf, protocol=2)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/version", "3\n")


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class _EvalsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("kind", ["system", "eval", "unknown-module-class"])
def test_malicious_pickle_is_refused_before_running(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if kind == "system":
        _malicious(path, _RunsCode(marker))
    elif kind == "eval":
        _malicious(path, _EvalsCode())
    else:  # a module class the caller did not allow
        _save_release_like(path, _random_caf())
    allowed = ["models.Ours"] if kind != "unknown-module-class" else ["models.Other"]
    with pytest.raises(UnsafePickleError, match="refusing to load"):
        load_pickled_module(path, allowed, key="fuse")
    with pytest.raises(UnsafePickleError):
        read_state_dict(path, allowed, key="fuse")
    assert not marker.exists()


def test_caf_method_loads_pickle_and_converted_safetensors(caf_pickle: tuple[Path, CafNet], tmp_path: Path) -> None:
    from ivifbench.cli import app

    path, _ = caf_pickle
    out = tmp_path / "caf.safetensors"
    result = CliRunner().invoke(app, ["methods", "convert", "caf", "--weights", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    g = torch.Generator().manual_seed(3)
    ir, vis = torch.rand(2, 1, 24, 32, generator=g), torch.round(torch.rand(2, 3, 24, 32, generator=g) * 255) / 255
    a = create_method("caf", weights=path)(ir, vis)
    b = create_method("caf", weights=out)(ir, vis)
    assert torch.equal(a, b)
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        assert f.metadata()["method"] == "caf"


def test_wrong_weights_name_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "tardal.pt"
    torch.save(TardalNet().state_dict(), path)
    with pytest.raises(IvifError, match="not CAF weights"):
        create_method("caf", weights=path)
    create_method("tardal", weights=path, bn="eval")  # the right network loads


def test_real_caf_checkpoint_has_the_pinned_hash() -> None:
    if not SHARED_CAF.is_file():
        pytest.skip(f"official CAF weights not available ({SHARED_CAF})")
    assert hashlib.sha256(SHARED_CAF.read_bytes()).hexdigest() == CAF_CARD.weights_sha256
    state = read_state_dict(SHARED_CAF, ["models.Ours"], key="fuse")
    assert len(state) == len(CafNet().state_dict())


@pytest.fixture()
def local_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_verifies_sha256_and_stores_in_the_cache(
    local_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = local_server
    payload = b"official weights bytes"
    (root / "w.pth").write_bytes(payload)
    (root / "bad.pth").write_bytes(b"tampered")
    card = replace(CAF_CARD, weights_sha256=hashlib.sha256(payload).hexdigest(), weights_url=f"{base}/w.pth")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, downloaded = fetch_weights("caf", card)
    assert downloaded and path.read_bytes() == payload
    assert path == tmp_path / "cache" / "ivifbench" / "weights" / "caf" / card.weights_file
    assert fetch_weights("caf", card) == (path, False)  # already there, nothing downloaded
    with pytest.raises(IvifError, match="sha256"):
        fetch_weights("caf", card, url=f"{base}/bad.pth", dest=tmp_path / "other.pth")
    assert not (tmp_path / "other.pth").exists() and not list(tmp_path.glob(".other.pth.*"))
    with pytest.raises(IvifError, match="only http"):
        fetch_weights("caf", card, url="file:///etc/passwd", dest=tmp_path / "x.pth")


def test_fetch_command_uses_a_mirror(local_server: tuple[str, Path], tmp_path: Path) -> None:
    from ivifbench.cli import app

    base, root = local_server
    (root / "bad.pth").write_bytes(b"not the official file")
    out = tmp_path / "caf.pth"
    result = CliRunner().invoke(app, ["methods", "fetch", "caf", "--url", f"{base}/bad.pth", "--out", str(out)])
    assert result.exit_code != 0 and "sha256" in result.output + str(result.exception) and not out.exists()
