"""rkbs._io: output paths checked up front, atomic writes (even under SIGKILL), clear errors
on damaged files."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rkbs import _io

ROOT = Path(__file__).resolve().parent.parent


def test_check_output_file_refuses_bad_paths(tmp_path):
    with pytest.raises(_io.OutputPathError, match=r"folder '.*missing' does not exist"):
        _io.check_output_file(tmp_path / "missing" / "out.json", what="--json file")
    with pytest.raises(_io.OutputPathError, match="is a directory"):
        _io.check_output_file(tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(_io.OutputPathError, match="is not a folder"):
        _io.check_output_file(tmp_path / "afile" / "out.json")
    with pytest.raises(_io.OutputPathError, match="empty path"):
        _io.check_output_file("")
    # accepted: a new file in an existing folder, and (on request) a missing parent
    assert _io.check_output_file(tmp_path / "ok.json") == tmp_path / "ok.json"
    _io.check_output_file(tmp_path / "new" / "ok.json", create_parent=True)
    assert (tmp_path / "new").is_dir()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permission bits do not bind root")
def test_check_output_refuses_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(_io.OutputPathError, match="not writable"):
            _io.check_output_file(ro / "out.json")
        with pytest.raises(_io.OutputPathError, match="not writable"):
            _io.check_output_dir(ro / "sub")
    finally:
        ro.chmod(0o700)


def test_check_output_dir(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(_io.OutputPathError, match="exists and is not a folder"):
        _io.check_output_dir(tmp_path / "afile")
    with pytest.raises(_io.OutputPathError, match="is a file, not a folder"):
        _io.check_output_dir(tmp_path / "afile" / "sub")
    made = _io.check_output_dir(tmp_path / "a" / "b")
    assert made.is_dir()
    assert not _io.check_output_dir(tmp_path / "c", create=False).exists()


def test_atomic_write_keeps_old_content_on_error(tmp_path):
    p = tmp_path / "f.txt"
    _io.write_text(p, "old\n")
    with pytest.raises(RuntimeError), _io.atomic_write(p) as fh:
        fh.write("new, half")
        raise RuntimeError("boom")
    assert p.read_text() == "old\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]  # no temp file left
    _io.write_text(p, "new\n")  # control: a successful write replaces it
    assert p.read_text() == "new\n"
    with pytest.raises(ValueError, match="mode must be"):
        with _io.atomic_write(p, "a"):
            pass


def test_write_json_converts_numpy_and_nonfinite(tmp_path):
    obj = {"a": np.float64(1.5), "b": np.arange(3), "c": [math.inf, -math.inf, math.nan],
           1: (np.int64(2), Path("x/y"))}
    p = _io.write_json(tmp_path / "o.json", obj)
    back = json.loads(Path(p).read_text())  # strict JSON: no NaN literals
    assert back == {"a": 1.5, "b": [0, 1, 2], "c": ["inf", "-inf", "nan"], "1": [2, "x/y"]}
    assert _io.read_json(p) == back


def test_read_json_reports_a_truncated_file(tmp_path):
    p = tmp_path / "cache.json"
    full = json.dumps({"results": list(range(50))})
    p.write_text(full[: len(full) // 2])
    with pytest.raises(_io.CorruptFileError, match=r"cache file '.*cache.json' is corrupt or "
                       r"truncated .*; rerun with --fresh"):
        _io.read_json(p, what="cache file", hint="rerun with --fresh")
    p.write_text(full)  # control
    assert _io.read_json(p)["results"][-1] == 49


def test_torch_save_load_and_damage(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "ck.pt"
    _io.save_torch(p, {"w": torch.arange(4.0), "step": 3})
    ck = _io.load_torch(p)
    assert ck["step"] == 3 and torch.equal(ck["w"], torch.arange(4.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(_io.CorruptFileError, match="corrupt, truncated"):
        _io.load_torch(p)
    _io.save_torch(p, {"w": torch.zeros(1)})

    def needs_step(ck):
        if "step" not in ck:
            raise KeyError("missing 'step'")

    with pytest.raises(_io.CorruptFileError, match=r"missing 'step'"):
        _io.load_torch(p, check=needs_step)


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from rkbs import _io
target, mark, atomic = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
cm = _io.atomic_write(target) if atomic else open(target, "w", encoding="utf-8")
with cm as fh:
    fh.write("partial " * 1000)
    fh.flush()
    mark.touch()
    time.sleep(60)
    fh.write("end")
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "plain-open-control"])
def test_sigkill_during_write_never_leaves_a_partial_file(atomic, tmp_path):
    target, mark = tmp_path / "out.txt", tmp_path / "mark"
    target.write_text("old complete content\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(target),
                             str(mark), "1" if atomic else "0"], env=env)
    t0 = time.monotonic()
    while not mark.exists():
        assert proc.poll() is None and time.monotonic() - t0 < 60, "writer did not start"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    text = target.read_text()
    if atomic:
        assert text == "old complete content\n"
    else:  # the control shows the test can see the damage a plain write does
        assert text.startswith("partial") and not text.endswith("end")
