import pytest

from ivifbench.errors import NotFoundError
from ivifbench.registry import DuplicateNameError, Registry, import_string


def test_register_get_and_lazy_entries():
    reg: Registry[object] = Registry("thing")
    reg.register("join", "os.path:join")
    reg.register("direct", len)
    import os.path

    assert reg.get("join") is os.path.join
    assert reg["direct"] is len
    assert reg.names() == ["direct", "join"]
    assert "join" in reg and "nope" not in reg


def test_decorator_and_duplicates():
    reg: Registry[object] = Registry("thing")

    @reg.register("f")
    def f():
        return 1

    assert reg.get("f") is f
    with pytest.raises(DuplicateNameError, match="already registered"):
        reg.register("f", len)
    reg.register("f", len, overwrite=True)
    assert reg.get("f") is len


def test_did_you_mean_lists_names():
    reg: Registry[object] = Registry("method")
    for name in ("laplacian", "average", "gff"):
        reg.register(name, len)
    with pytest.raises(NotFoundError) as err:
        reg.get("laplacain")
    msg = str(err.value)
    assert "did you mean 'laplacian'" in msg and "known: average, gff, laplacian" in msg


def test_bad_lazy_entry_is_a_clear_error():
    reg: Registry[object] = Registry("thing")
    reg.register("broken", "no_such_module_xyz:thing")
    with pytest.raises(Exception, match="cannot import 'no_such_module_xyz'"):
        reg.get("broken")
    with pytest.raises(Exception, match="not an import path"):
        import_string("nodots")


def test_entry_point_plugins(monkeypatch):
    from importlib.metadata import EntryPoint

    import ivifbench.registry as registry_mod

    eps = [EntryPoint(name="plug", value="os.path:basename", group="ivifbench.methods")]
    monkeypatch.setattr(registry_mod, "entry_points", lambda group: [e for e in eps if e.group == group])
    reg: Registry[object] = Registry("method", group="ivifbench.methods")
    import os.path

    assert reg.get("plug") is os.path.basename

    dup: Registry[object] = Registry("method", group="ivifbench.methods")
    dup.register("plug", len)
    with pytest.raises(DuplicateNameError, match="plugin"):
        dup.names()
