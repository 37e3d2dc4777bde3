"""The benchmark's helpers, not its timings: the FLOP count, the per-layer profile, the report
and its kept notes, jobs in fresh processes, and the PyTorch mirror of our model."""
import numpy as np
import pytest

from bench import common, report
from bench.ours import forward_macs, layer_profile
from bench.runner import run_job
from nncore import Adam, SoftmaxCrossEntropy, mnist_cnn


def test_forward_macs_follow_the_architecture():
    conv1, conv2 = 26 * 26 * 32 * 3 * 3 * 1, 11 * 11 * 64 * 3 * 3 * 32
    assert forward_macs(mnist_cnn(0)) == conv1 + conv2 + 1600 * 128 + 128 * 10 == 2_631_040


def test_layer_profile_times_every_layer_and_really_trains():
    model, loss_fn, optimizer = mnist_cnn(0), SoftmaxCrossEntropy(), Adam()
    before = [param.copy() for _, param, _ in model.parameters()]
    x, y = common.random_mnist(2 * common.BATCH)
    rows = layer_profile(model, loss_fn, optimizer, common.batches(x, y), steps=2)
    assert [row["name"] for row in rows] == [
        "0 Conv2D(1, 32, 3, relu)", "1 MaxPool2D(2)", "2 Conv2D(32, 64, 3, relu)", "3 MaxPool2D(2)",
        "4 Flatten", "5 Dense(1600, 128, relu)", "6 Dropout(0.5)", "7 Dense(128, 10)",
        "softmax cross-entropy (loss and gradient)", "Adam step"]
    for row in rows[:8]:
        assert row["forward_ms"] >= 0 and row["backward_ms"] >= 0
        assert row["total_ms"] == pytest.approx(row["forward_ms"] + row["backward_ms"])
    assert rows[2]["total_ms"] > 0 and rows[-1]["total_ms"] > 0
    after = [param for _, param, _ in model.parameters()]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))  # Adam updated every parameter


def _results(with_torch: bool) -> dict:
    settings = {"warmup": 1, "reps": 2, "steps": 3, "infer_reps": 2, "profile_steps": 2,
                "memory_steps": 5, "process_runs": 2, "gemm_reps": 2, "quick": True}
    profile = [{"name": "0 Conv2D(1, 32, 3)", "forward_ms": 1.0, "backward_ms": 2.0, "total_ms": 3.0},
               {"name": "Adam step", "forward_ms": None, "backward_ms": None, "total_ms": 1.0}]
    return {
        "settings": settings, "threads": 2, "date": "2000-01-01",
        "machine": {"cpu": "Test CPU", "cores": "2 logical cores", "python": "3.11", "numpy": "2",
                    "numba": "0.6", "torch": "2.13.0" if with_torch else None},
        "ours": {"train": [5000.0, 4000.0, 6000.0], "inference": [20000.0], "profile": profile,
                 "forward_macs": 2_631_040, "threads": 2},
        "torch": {"train": [4000.0], "inference": [10000.0], "threads": 2} if with_torch else None,
        "memory": {"ours": 400.0, "torch": 800.0 if with_torch else None},
        "compile": {"cold_s": 30.0, "warm_s": 1.0},
        "gemm": {"gflops": 200.0, "n": 2048, "blas": "openblas"},
        "process": {"evaluate": [0.5, 0.7, 0.6], "import_numpy_pil": [0.1],
                    "import_torch": [1.5] if with_torch else None},
    }


def test_report_shows_ratios_and_the_gemm_share():
    text = report.document(_results(with_torch=True))
    assert "| Training, images/s: median (range) | 5,000 (4,000–6,000) | 4,000 (4,000–4,000) | 1.25 |" in text
    assert "| Peak memory of a training run, MiB | 400 | 800 | 0.50 |" in text
    # 5,000 images/s x 6 x 2,631,040 FLOP = 78.9 GFLOP/s, 39 % of 200
    assert "| 78.9 (39 %) |" in text
    assert "| Adam step |  |  | 1.00 | 25.0 % |" in text
    assert "`evaluate.py one.png`: 0.60" in text


def test_report_without_pytorch_leaves_its_column_empty():
    text = report.document(_results(with_torch=False))
    assert "| Training, images/s: median (range) | 5,000 (4,000–6,000) | — |  |" in text
    assert "PyTorch not measured" in text


def test_rewriting_the_report_keeps_the_hand_written_notes(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    report.write(path, _results(with_torch=True))
    assert path.read_text().endswith(report.DEFAULT_NOTES)
    notes = "## Notes\n\nThe profile said conv2; we rewrote it.\n\n### More\n\nkept too\n"
    path.write_text("# Performance\n\nold table\n\n" + notes)
    report.write(path, _results(with_torch=False))
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
