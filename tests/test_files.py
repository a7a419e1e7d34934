import pytest

from facetalk.errors import OutputError, UnsupportedFormatError
from facetalk.files import _umask, atomic_directory, atomic_output
from facetalk.registry import Registry


def test_atomic_output_renames_on_success_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == target.parent
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()

    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash midway")
    assert target.read_text() == "done"  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_output_under_a_regular_file_is_a_one_line_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write here") as info, atomic_output(blocker / "out.npz"):
        raise AssertionError("unreachable: no temporary file can be made under a regular file")
    assert "\n" not in str(info.value) and str(blocker / "out.npz") in str(info.value)


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "seq"
    with atomic_directory(target) as tmp:
        (tmp / "a.obj").write_text("v 0 0 0\n")
    assert [p.name for p in target.iterdir()] == ["a.obj"]
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "b.obj").write_text("")
        raise ValueError("bad frame")
    assert [p.name for p in target.iterdir()] == ["a.obj"]
    assert [p.name for p in tmp_path.iterdir()] == ["seq"]


def test_registry_lookup_and_errors():
    registry: Registry[int] = Registry("thing")
    registry.register("b")(2)
    registry.register("a")(1)
    assert registry.get("a") == 1 and registry.names() == ["a", "b"] and "b" in registry
    with pytest.raises(UnsupportedFormatError, match=r"unknown thing 'c' \(known: a, b\)"):
        registry.get("c")
    with pytest.raises(ValueError, match="twice"):
        registry.register("a")(3)
