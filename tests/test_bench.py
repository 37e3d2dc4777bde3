"""The benchmark's helpers, not its timings: the FLOP count, the per-layer profile, the report
and its kept notes, jobs and commands in fresh processes, the busy process of the under-load
case, and the PyTorch and Keras mirrors of our model."""
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bench.__main__ as bench_main
from bench import common, report, user_level
from bench.ours import forward_macs, layer_profile
from bench.runner import REPO, child_env, run_job
from nncore import Adam, SoftmaxCrossEntropy, mnist_cnn, save_model


def test_forward_macs_follow_the_architecture():
    conv1, conv2 = 26 * 26 * 32 * 3 * 3 * 1, 11 * 11 * 64 * 3 * 3 * 32
    assert forward_macs(mnist_cnn(0)) == conv1 + conv2 + 1600 * 128 + 128 * 10 == 2_631_040


def test_layer_profile_times_every_layer_and_really_trains():
    model, loss_fn, optimizer = mnist_cnn(0), SoftmaxCrossEntropy(), Adam()
    before = [param.copy() for _, param, _ in model.parameters()]
    x, y = common.random_mnist(2 * common.BATCH)
    rows = layer_profile(model, loss_fn, optimizer, common.batches(x, y), steps=2)
    assert [row["name"] for row in rows] == [  # as training runs them: each conv and its pool as one
        "0 Conv2D(1, 32, 3, relu) + 1 MaxPool2D(2)", "2 Conv2D(32, 64, 3, relu) + 3 MaxPool2D(2)",
        "4 Flatten", "5 Dense(1600, 128, relu)", "6 Dropout(0.5)", "7 Dense(128, 10)",
        "softmax cross-entropy (loss and gradient)", "Adam step"]
    for row in rows[:6]:
        assert row["forward_ms"] >= 0 and row["backward_ms"] >= 0
        assert row["total_ms"] == pytest.approx(row["forward_ms"] + row["backward_ms"])
    assert rows[1]["total_ms"] > 0 and rows[-1]["total_ms"] > 0
    after = [param for _, param, _ in model.parameters()]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))  # Adam updated every parameter


TORCH_MISSING = "not installed (pip install -e '.[bench]')"
KERAS_MISSING = "not installed (pip install -e '.[keras]')"


def _results(with_torch: bool, with_keras: bool) -> dict:
    settings = {"warmup": 1, "reps": 2, "steps": 3, "infer_reps": 2, "infer_images": 10_000,
                "profile_steps": 2, "memory_steps": 5, "process_runs": 2, "gemm_reps": 2,
                "epoch_images": 60_000, "cold_compile": True, "quick": True}
    profile = [{"name": "0 Conv2D(1, 32, 3)", "forward_ms": 1.0, "backward_ms": 2.0, "total_ms": 3.0},
               {"name": "Adam step", "forward_ms": None, "backward_ms": None, "total_ms": 1.0}]
    keras = {"default": {"train": [4000.0, 3900.0], "inference": {"256": [8000.0], "1000": [10000.0]}},
             "pinned": {"train": [4500.0], "inference": {"256": [9000.0], "1000": [9500.0]}}}
    process = {"evaluate": [0.5, 0.7, 0.6], "import_numpy_pil": [0.1]}
    process.update({"import_torch": [1.5]} if with_torch else {})
    process.update({"import_keras": [3.0]} if with_keras else {})
    torch = {"train": [4000.0], "inference": {"256": [10000.0], "1000": [12000.0]}}
    return {
        "settings": settings, "threads": 2, "date": "2000-01-01",
        "machine": {"cpu": "Test CPU", "cores": "2 logical cores", "python": "3.11", "numpy": "2",
                    "numba": "0.6", "torch": "2.13.0" if with_torch else None,
                    "tensorflow": "2.21.0" if with_keras else None,
                    "keras": "3.15.1" if with_keras else None},
        "ours": {"train": [5000.0, 4000.0, 6000.0], "inference": {"256": [20000.0], "1000": [16000.0]},
                 "profile": profile, "forward_macs": 2_631_040, "threads": 2},
        "torch": torch if with_torch else None,
        "keras": keras if with_keras else None,
        "missing": {"torch": None if with_torch else TORCH_MISSING,
                    "keras": None if with_keras else KERAS_MISSING},
        "memory": {"ours": 400.0, "torch": 800.0 if with_torch else None,
                   "keras": 1000.0 if with_keras else None},
        "load": {"ours": [3000.0, 2000.0, 2500.0], "keras": [2000.0] if with_keras else None},
        "epoch": {"images": 60_000, "ours": {"epochs_1_s": 20.0, "epochs_2_s": 30.5},
                  "keras": {"epoch_s": [16.0, 15.75]} if with_keras else None},
        "compile": {"cold_s": 30.0, "warm_s": 1.0},
        "gemm": {"gflops": 200.0, "n": 2048, "blas": "openblas"},
        "process": process,
    }


def test_report_sets_ours_pytorch_and_keras_side_by_side_with_the_ratios():
    text = report.document(_results(with_torch=True, with_keras=True))
    # ours / Keras against the faster of Keras' two thread settings: 5,000 / 4,500
    assert ("| Training, images/s: median (range) | 5,000 (4,000–6,000) | 4,000 (4,000–4,000) "
            "| 3,950 (3,900–4,000) | 4,500 (4,500–4,500) | 1.25 | 1.11 |") in text
    assert "| Inference, batch 1000, images/s: median (range) | 16,000 (16,000–16,000) |" in text
    # each at its own best batch: ours 20,000 at 256, PyTorch 12,000 and Keras 10,000 at 1000
    assert ("| Inference at its best batch size, images/s (batch) | 20,000 (256) | 12,000 (1000) "
            "| 10,000 (1000) | 9,500 (1000) | 1.67 | 2.00 |") in text
    assert "| 2,500 (2,000–3,000) |  | 2,000 (2,000–2,000) |  |  | 1.25 |" in text
    # 30.5 - 20.0 s against 15.75 s: Keras' seconds / ours
    assert ("| An epoch as a user runs it (60,000 images), s "
            "| `train.py --epochs 2` minus `--epochs 1`: 10.50 "
            "|  | `model.fit`, second epoch: 15.75 |  |  | 1.50 |") in text
    assert "| Peak memory of a training run, MiB | 400 | 800 | 1,000 |  | 0.50 | 0.40 |" in text
    assert "`evaluate.py one.png`: 0.60 | `import torch` alone: 1.50 | `import keras` alone: 3.00 |" in text
    # 5,000 images/s x 6 x 2,631,040 FLOP = 78.9 GFLOP/s, 39 % of 200
    assert "| 78.9 (39 %) |" in text
    assert "| Adam step |  |  | 1.00 | 25.0 % |" in text
    assert "PyTorch 2.13.0, TensorFlow 2.21.0, Keras 3.15.1" in text


def test_report_without_pytorch_and_keras_says_how_to_install_them():
    text = report.document(_results(with_torch=False, with_keras=False))
    assert (f"| Training, images/s: median (range) | 5,000 (4,000–6,000) | {TORCH_MISSING} | {KERAS_MISSING} "
            "| — |  |  |") in text
    assert f"| Peak memory of a training run, MiB | 400 | {TORCH_MISSING} | {KERAS_MISSING} |  |  |  |" \
        in text
    assert f"`--epochs 1`: 10.50 |  | {KERAS_MISSING} |  |  |  |" in text  # the epoch row
    assert "PyTorch not measured, Keras not measured" in text


def test_missing_frameworks_name_the_extra_to_install_or_the_flag(monkeypatch):
    monkeypatch.setattr(bench_main.importlib.util, "find_spec", lambda name: None)
    assert bench_main.missing_frameworks(no_torch=False, no_keras=False) == {
        "torch": TORCH_MISSING, "keras": KERAS_MISSING}
    assert bench_main.missing_frameworks(no_torch=True, no_keras=True) == {
        "torch": "not measured (--no-torch)", "keras": "not measured (--no-keras)"}


def test_rewriting_the_report_keeps_the_hand_written_notes(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    report.write(path, _results(with_torch=True, with_keras=True))
    assert path.read_text().endswith(report.DEFAULT_NOTES)
    notes = "## Notes\n\nThe profile said conv2; we rewrote it.\n\n### More\n\nkept too\n"
    path.write_text("# Performance\n\nold table\n\n" + notes)
    report.write(path, _results(with_torch=False, with_keras=False))
    text = path.read_text()
    assert text.startswith("# Performance") and "old table" not in text and "PyTorch not measured" in text
    assert text.endswith(notes)


def test_a_job_runs_in_its_own_process_and_reports_its_memory():
    job = run_job("bench.machine:gemm", n=64, reps=1, threads=1)
    assert job["result"]["gflops"] > 0 and job["result"]["n"] == 64
    assert job["peak_rss_mib"] > 10 and job["elapsed_s"] > 0
    with pytest.raises(RuntimeError, match="bench.machine:gemm failed"):
        run_job("bench.machine:gemm", n=-1, reps=1, threads=1)


def test_the_pytorch_model_mirrors_ours():
    torch = pytest.importorskip(
        "torch",
        reason="PyTorch is not installed; it is optional, for the benchmark only: pip install -e '.[bench]'")
    from bench import torch_side

    ours, theirs = mnist_cnn(0), torch_side.build_model()
    assert sum(p.numel() for p in theirs.parameters()) == ours.num_params() == 225_034
    torch_side.copy_weights(theirs, {name: param for name, param, _ in ours.parameters()})
    ours.eval()
    theirs.eval()
    x, _ = common.random_mnist(16, seed=3)
    with torch.no_grad():
        their_logits = theirs(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    np.testing.assert_allclose(their_logits, ours.forward(x), atol=1e-4)


def test_a_child_environment_can_unset_a_variable(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("BENCH_TEST_KEPT", "yes")
    env = child_env({**user_level.AS_A_USER, "BENCH_TEST_NEW": "1"})
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["BENCH_TEST_KEPT"] == "yes" and env["BENCH_TEST_NEW"] == "1"
    child = subprocess.run([sys.executable, "-c", "import sys; print(sys.dont_write_bytecode)"],
                           env=env, capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "False"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _gone(pid: int) -> bool:
    """True once the process has ended (exited, or a zombie waiting for its new parent to reap it)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU times from Linux's /proc")
def test_the_busy_process_spins_and_is_stopped_even_by_ctrl_c():
    with pytest.raises(KeyboardInterrupt):
        with user_level.busy_core() as spinner:
            time.sleep(0.3)
            before = _cpu_seconds(spinner.pid)
            time.sleep(1.0)
            assert _cpu_seconds(spinner.pid) - before > 0.2  # it computes, it does not sleep
            raise KeyboardInterrupt
    assert spinner.returncode is not None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from Linux's /proc")
def test_the_busy_process_ends_by_itself_when_the_benchmark_is_killed():
    script = ("import time\nfrom bench.user_level import busy_core\n"
              "with busy_core() as spinner:\n    print(spinner.pid, flush=True)\n    time.sleep(60)\n")
    bench = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    spinner_pid = int(bench.stdout.readline())
    assert not _gone(spinner_pid)
    bench.send_signal(signal.SIGKILL)  # no finally block runs
    bench.wait()
    deadline = time.monotonic() + 10
    while not _gone(spinner_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(spinner_pid)


MIRROR = """import json, sys
import numpy as np
from bench import keras_side
model = keras_side.build_model()
with np.load(sys.argv[1]) as f:
    keras_side.copy_weights(model, {name: f[name] for name in f.files if name != "__model__"})
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
layers = [type(layer).__name__ for layer in model.layers]
print(json.dumps({"params": model.count_params(), "layers": layers}))
"""


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="TensorFlow is not installed; it is optional, for the benchmark only, and CI "
                           "does not install it: pip install -e '.[keras]'")
def test_the_keras_model_mirrors_ours(tmp_path):
    ours = mnist_cnn(0)
    save_model(tmp_path / "seed.npz", ours)
    x, _ = common.random_mnist(16, seed=3)
    np.save(tmp_path / "x.npy", x)
    # In its own process, so that TensorFlow's threads and memory stay out of the test session.
    child = subprocess.run([sys.executable, "-c", MIRROR, str(tmp_path / "seed.npz"), str(tmp_path / "x.npy"),
                            str(tmp_path / "p.npy")], cwd=REPO, env=child_env(bench_main.KERAS_ENV),
                           capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-2000:]
    mirror = json.loads(child.stdout.strip().splitlines()[-1])
    assert mirror["params"] == ours.num_params() == 225_034
    assert mirror["layers"] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
                                "Dropout", "Dense"]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), ours.predict(x), atol=1e-5)


def test_the_reading_benchmark_times_photos_of_numbers_it_reads(mnist_data_dir, capsys):
    """bench/reading.py on 4 photos: its photos of six digits are read (the table says how many
    exactly, which evaluate.py's own output must match), and every figure is printed."""
    from bench import reading
    assert reading.main(["--photos", "4", "--runs", "1", "--dir-runs", "1",
                         "--data-dir", str(mnist_data_dir)]) == 0
    table = capsys.readouterr().out
    exact = int(re.search(r"numbers read exactly \| (\d) of 4", table).group(1))
    assert exact >= 3
    assert re.search(r"fresh process \| \d\.\d{3} s", table)
    assert re.search(r"\| \d+ images/s \|", table)


def test_read_exactly_compares_each_line_with_its_number():
    from bench.reading import read_exactly
    out = "a.jpg: 123456  (1 99.0%, ...)\nb.jpg: 654321  (...)\nc.jpg: 7 (98.0%)\n"
    assert read_exactly(out, ["123456", "654322", "7"]) == 2
