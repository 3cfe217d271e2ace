"""Shared pieces: atomic output, progress lines, the one-line error contract of tools and the
synthetic pictures."""

import io
import subprocess
import sys

import numpy as np
import pytest

from od_tools.common import synthetic
from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir, atomic_path, read_text, write_text_atomic
from od_tools.common import progress as progress_lib
from od_tools.common.progress import Progress, bazel_output_base, format_duration, format_progress, status_file


def test_atomic_path_publishes_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
        assert not target.exists()
    assert target.read_bytes() == b"whole"
    assert list(tmp_path.iterdir()) == [target]


def test_read_text_reads_a_bucket_through_tensorflow_with_the_same_errors():
    """ram:// is TensorFlow's in-memory file system, read through the same layer as gs://."""
    import tensorflow as tf

    with tf.io.gfile.GFile("ram://od_read/label_map.pbtxt", "wb") as f:
        f.write("\ufeffitem { id: 1 name: 'a' }\n".encode("utf-8"))
    assert read_text("ram://od_read/label_map.pbtxt", "label map", encoding="utf-8-sig") == "item { id: 1 name: 'a' }\n"
    with pytest.raises(UserError, match=r"^ram://od_read/missing.pbtxt: label map not found; check --label_map$"):
        read_text("ram://od_read/missing.pbtxt", "label map", not_found_hint="check --label_map")
    with tf.io.gfile.GFile("ram://od_read/latin1.pbtxt", "wb") as f:
        f.write(b"caf\xe9")
    with pytest.raises(UserError, match=r"^ram://od_read/latin1.pbtxt: not UTF-8 text .* save the label map as UTF-8$"):
        read_text("ram://od_read/latin1.pbtxt", "label map")


def test_atomic_write_replaces_existing_file(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise ValueError("failed export")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path):
    """kill -9 in the middle of an export leaves its hidden temporary; the next run of the same
    output removes it, but not one of a run still alive, nor one of another output."""
    target = tmp_path / "export"
    killed = subprocess.Popen([sys.executable, "-c",
                               "import sys; from od_tools.common.files import atomic_dir\n"
                               "with atomic_dir(sys.argv[1]) as tmp:\n"
                               "    (tmp / 'half').write_text('x'); print(tmp.name, flush=True); input()",
                               str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    left_behind = tmp_path / killed.stdout.readline().strip()
    killed.kill()
    killed.wait()
    assert left_behind.is_dir() and left_behind.name.startswith(".export.")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = left_behind.name.split(".")[2].rsplit("-", 1)[0]
        live_tmp = tmp_path / f".export.{host}-{alive.pid}.abcd1234.tmp"
        live_tmp.mkdir()
        other_output = tmp_path / f".exported.{host}-{killed.pid}.abcd1234.tmp"
        other_output.mkdir()
        with atomic_dir(target) as tmp:
            (tmp / "whole").write_text("1")
        assert not left_behind.exists()
        assert live_tmp.is_dir() and other_output.is_dir()
        assert sorted(p.name for p in target.iterdir()) == ["whole"]
    finally:
        alive.kill()
        alive.wait()


def test_user_error_is_one_line():
    assert str(UserError("a\n  b\tc")) == "a b c"


def test_progress_line_with_total():
    line = format_progress("convert", 30, 120, 10.0, "images")
    assert line == "convert [######..................] 30/120 images 3.0 images/s ETA 0:30"


def test_progress_line_without_total():
    assert format_progress("train", 50, None, 125.0, "steps") == "train 50 steps 0.4 steps/s elapsed 2:05"


def test_the_output_base_of_actions_and_runfiles():
    base = "/home/u/.cache/bazel/_bazel_u/0123abcd"
    assert bazel_output_base(f"{base}/execroot/od_toolchain") == base
    assert bazel_output_base(f"{base}/sandbox/linux-sandbox/9/execroot/od_toolchain") == base
    assert bazel_output_base(f"{base}/execroot/od_toolchain/bazel-out/k8-fastbuild/bin/od_tools/"
                             "export_tflite.runfiles/od_toolchain/od_tools/export_tflite.py") == base
    assert bazel_output_base("/home/u/src/od_toolchain") is None


def test_an_action_mirrors_its_progress_where_the_watcher_looks(tmp_path, monkeypatch):
    """A build action (its cwd in the sandbox) and the binary that started the build (its runfiles)
    find the same status file; without OD_STATUS_FILE nothing is written."""
    base = tmp_path / "output_base"
    sandbox = base / "sandbox/linux-sandbox/3/execroot/od_toolchain"
    sandbox.mkdir(parents=True)
    monkeypatch.setattr(progress_lib, "STATUS_ROOT", tmp_path / "status")
    monkeypatch.chdir(sandbox)
    monkeypatch.delenv(progress_lib.STATUS_ENV, raising=False)
    Progress("train", total=10, unit="steps", stream=io.StringIO()).set(3)
    assert not (tmp_path / "status").exists()
    monkeypatch.setenv(progress_lib.STATUS_ENV, "od_tools/demo/detector")
    with Progress("train", total=10, unit="steps", stream=io.StringIO()) as bar:
        bar.set(4, "loss 0.5")
    watcher = status_file("od_tools/demo/detector", base / "execroot/od_toolchain/bazel-out/bin/x.runfiles/x.py",
                          root=tmp_path / "status")
    assert watcher.read_text().startswith("train [#########...............] 4/10 steps")
    assert watcher.read_text().endswith("loss 0.5\n")
    assert [p.name for p in watcher.parent.iterdir()] == ["detector.txt"]  # no temporaries left


def test_durations():
    assert format_duration(59.6) == "1:00"
    assert format_duration(3725) == "1:02:05"


def test_progress_in_logs_is_rate_limited():
    stream = io.StringIO()
    with Progress("work", total=1000, unit="items", stream=stream, log_every=3600) as progress:
        for _ in range(1000):
            progress.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1].startswith("work [########################] 1000/1000 items")


def test_progress_rate_counts_from_first_update_not_from_set_up():
    # A resumed run at step 100 whose first report (after tracing) is step 140: no rate can be
    # known yet, so none is claimed (not 40 steps in ~0 s).
    stream = io.StringIO()
    progress = Progress("train", total=200, unit="steps", stream=stream, initial=100, clock_from_first_update=True)
    progress.set(140)
    assert " 0.0 steps/s ETA ?" in stream.getvalue().splitlines()[0]


TOOL = """
from od_tools.common import cli
from od_tools.common.errors import UserError

def main(argv):
    if argv[1:] == ["bad"]:
        raise UserError("data.csv: row 3: class 'cat' is not in the label map; add it")
    if argv[1:] == ["bug"]:
        raise KeyError("oops")
    print("ok")

cli.run(main, positional_args=POSITIONAL)
"""


def _run_tool(tmp_path, *args, positional_args=True):
    script = tmp_path / "mytool.py"
    script.write_text(f"POSITIONAL = {positional_args}\n" + TOOL)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})


def test_tool_reports_user_errors_as_one_line(tmp_path):
    result = _run_tool(tmp_path, "bad")
    assert result.returncode == 1
    assert result.stderr == "mytool: error: data.csv: row 3: class 'cat' is not in the label map; add it\n"


def test_tool_keeps_tracebacks_for_bugs(tmp_path):
    result = _run_tool(tmp_path, "bug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "KeyError" in result.stderr


def test_tool_success(tmp_path):
    result = _run_tool(tmp_path)
    assert (result.returncode, result.stdout) == (0, "ok\n")


def test_a_tool_without_positional_arguments_refuses_a_word_that_is_not_a_flag(tmp_path):
    result = _run_tool(tmp_path, "output_directory=x", positional_args=False)
    assert result.returncode == 1
    assert result.stderr == ("mytool: error: unexpected arguments output_directory=x; all options are --flags "
                             "(e.g. --output_directory=PATH; see --help)\n")
    assert _run_tool(tmp_path, positional_args=False).stdout == "ok\n"


def test_the_machine_names_the_instruction_sets_int8_kernels_use():
    from od_tools.common import machine

    avx2_only = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\n"
    name, flags = machine.parse_cpuinfo(avx2_only)
    assert name == "AMD EPYC 7B12" and machine.named_instruction_sets(flags) == ["AVX2"]
    vnni = machine.parse_cpuinfo("model name : Intel Xeon\nflags : avx2 avx512f avx512_vnni amx_int8\n")[1]
    assert machine.named_instruction_sets(vnni) == ["AVX2", "AVX-512", "AVX512-VNNI", "AMX"]
    assert machine.parse_cpuinfo("") == ("unknown CPU", set())
    described = machine.describe()
    assert " cores, " in described and " GB RAM, " in described
    assert described.endswith(" ".join(machine.instruction_sets()) or "no AVX2")


def test_synthetic_pictures_are_seeded_and_fit_any_size():
    first, second = synthetic.pictures(2, 120, 160, seed=3)
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    assert np.array_equal(first, synthetic.pictures(1, 120, 160, seed=3)[0])
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, synthetic.pictures(1, 120, 160, seed=4)[0])
    for height, width in ((1, 1), (5, 300), (8, 8), (33, 33)):  # down to pictures with no room for a shape
        assert synthetic.pictures(1, height, width)[0].shape == (height, width, 3)


def test_synthetic_shapes_do_not_overlap_and_their_masks_cover_them():
    layout = synthetic.Layout(min_objects=8, max_objects=8, min_object_size=20, max_object_size=40)
    picture, shapes = synthetic.render(np.random.default_rng(0), 128, 192, layout)
    assert picture.size == (192, 128) and 4 <= len(shapes) <= 8  # as many as 100 tries place
    for i, a in enumerate(shapes):
        x, y, w, h = a.bbox
        assert 0 <= x and 0 <= y and x + w <= 192 and y + h <= 128
        for b in shapes[i + 1:]:
            bx, by, bw, bh = b.bbox
            assert x + w <= bx or bx + bw <= x or y + h <= by or by + bh <= y
        mask = synthetic.mask(a, 128, 192)
        assert abs(int(mask.sum()) - a.area) < 0.15 * a.area + w + h  # the outline's pixels, give or take its edge
        ys, xs = np.nonzero(mask)
        assert x - 1 <= xs.min() and xs.max() <= x + w + 1 and y - 1 <= ys.min() and ys.max() <= y + h + 1
