"""The results as Markdown tables: printed, and written to docs/PERFORMANCE.md.

Everything in the file above the heading "## Notes" is regenerated on each run; the notes under
it are written by hand (what the profile showed, what changed because of it) and are kept.
"""
import statistics
from pathlib import Path

from bench.common import BATCH, INFER_BATCH

NOTES_HEADING = "## Notes"
DEFAULT_NOTES = f"""{NOTES_HEADING}

### What changed because of the profile

Hand-written notes go here; `python -m bench` keeps everything under "## Notes" when it rewrites
this file.
"""
FLOP_CONVENTION = (
    "FLOPs count the multiply-adds of the convolutions and dense layers, 2 FLOPs each:\n"
    "  {macs:,} multiply-adds, {fwd:.2f} MFLOP per image forward. A training step counts as\n"
    "  3 x forward (forward, input gradient, weight gradient) = {train:.2f} MFLOP per image, although\n"
    "  the first layer skips its input gradient; ReLU, pooling, dropout, loss and Adam are not counted.")


def training_flops_per_image(forward_macs: int) -> float:
    return 3 * 2 * forward_macs


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _rate(rates: list[float]) -> str:
    return f"{_num(statistics.median(rates))} ({_num(min(rates))}–{_num(max(rates))})"


def _seconds(times) -> str:
    return f"{statistics.median(times):.2f}" if isinstance(times, list) else times


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _ratio(mine: float, theirs: float) -> str:
    return f"{mine / theirs:.2f}"


SHARED_ROWS = ["Training, images/s: median (range)", "Epoch of 60,000 images at that rate, s",
               "Training arithmetic, GFLOP/s (share of the GEMM rate)",
               "Inference, images/s: median (range)", "Peak memory of a training run, MiB"]


def _column(side: dict | None, memory: float | None, flops_per_image: float, gemm_gflops: float) -> list[str]:
    """One framework's cells of the SHARED_ROWS; dashes for a framework that was not measured."""
    if side is None:
        return ["—"] * len(SHARED_ROWS)
    rate = statistics.median(side["train"])
    gflops = rate * flops_per_image / 1e9
    return [_rate(side["train"]), f"{60_000 / rate:.2f}",
            f"{gflops:.1f} ({100 * gflops / gemm_gflops:.0f} %)",
            _rate(side["inference"]), _num(memory)]


def summary(results: dict) -> str:
    ours, torch, memory, process = results["ours"], results["torch"], results["memory"], results["process"]
    gemm, compiled = results["gemm"], results["compile"]
    flops_per_image = training_flops_per_image(ours["forward_macs"])
    ratios = [""] * len(SHARED_ROWS)
    if torch:
        median = statistics.median
        ratios = [_ratio(median(ours["train"]), median(torch["train"])), "", "",
                  _ratio(median(ours["inference"]), median(torch["inference"])),
                  _ratio(memory["ours"], memory["torch"])]
    rows = [list(row) for row in zip(SHARED_ROWS,
                                     _column(ours, memory["ours"], flops_per_image, gemm["gflops"]),
                                     _column(torch, memory["torch"], flops_per_image, gemm["gflops"]),
                                     ratios)]
    rows += [
        ["One image in a fresh process, s", f"`evaluate.py one.png`: {_seconds(process['evaluate'])}",
         f"`import torch` alone: {_seconds(process['import_torch'])}" if torch else "—", ""],
        ["`import numpy, PIL.Image` alone, s", _seconds(process["import_numpy_pil"]), "", ""],
        ["Numba compile: import, first step and predict with an empty cache, s",
         f"{compiled['cold_s']:.1f} (warm cache: {compiled['warm_s']:.1f})", "", ""],
        [f"float32 GEMM rate, numpy, {gemm['n']}², {results['threads']} threads, GFLOP/s",
         f"{gemm['gflops']:.0f}", "", ""],
    ]
    return table(["seed model, batch 128, float32", "ours", "PyTorch", "ours / PyTorch"], rows)


def profile(results: dict) -> str:
    rows = results["ours"]["profile"]
    grand = sum(r["total_ms"] for r in rows)

    def ms(value):
        return "" if value is None else f"{value:.2f}"

    show = [[r["name"], ms(r["forward_ms"]), ms(r["backward_ms"]), ms(r["total_ms"]),
             f"{100 * r['total_ms'] / grand:.1f} %"] for r in rows]
    show.append(["**total**", "", "", f"**{grand:.2f}**", "100 %"])
    return table(["layer", "forward ms", "backward ms", "total ms", "share"], show)


def document(results: dict) -> str:
    s, m, ours = results["settings"], results["machine"], results["ours"]
    macs = ours["forward_macs"]
    step_ms = 1000 * BATCH / statistics.median(ours["train"])
    quick = ("\n**Quick run (`--quick`)**: few, short repetitions, to check that the benchmark works. "
             "Not figures to quote.\n" if s["quick"] else "")
    torch_line = f"PyTorch {m['torch']}" if m["torch"] else "PyTorch not measured"
    return f"""# Performance

Generated by `python -m bench` on {results['date']}. Re-run it to refresh everything above "Notes".
{quick}
## Machine

- CPU: {m['cpu']}, {m['cores']}
- Python {m['python']}, numpy {m['numpy']} ({results['gemm']['blas']}), numba {m['numba']}, {torch_line}
- Threads: ours {ours['threads']} Numba threads (`prange` over chunks of images), BLAS single-threaded
  inside them; PyTorch `torch.set_num_threads({results['threads']})`; the GEMM {results['threads']}
  BLAS threads

## Results

{summary(results)}

- Training: complete steps (forward, backward, Adam lr 1e-3, betas 0.9/0.999, eps 1e-7) on batches
  of 128 random MNIST-shaped images, cycling through 10,000; {s['warmup']} warm-up steps, then the
  median of {s['reps']} repetitions of {s['steps']} steps. Both frameworks start from the same seed weights.
- Inference: class probabilities for 10,000 images in batches of {INFER_BATCH} (both frameworks);
  median of {s['infer_reps']} runs
  after one warm-up.
- Peak memory: the peak resident set of a fresh process that holds 60,000 random images (float32)
  and trains {s['memory_steps']} steps on them: interpreter, libraries, data and all.
- One image: median of {s['process_runs']} fresh processes after an untimed one; `evaluate.py` imports,
  loads `models/shipped/mnist_cnn.npz`, reads a 200x200 PNG and prints the digit.
- Compile: a fresh process importing nncore, doing one training step and one predict, with
  `NUMBA_CACHE_DIR` set to an empty directory, so every kernel is compiled; and the same with the cache warm.
- {FLOP_CONVENTION.format(macs=macs, fwd=2 * macs / 1e6, train=training_flops_per_image(macs) / 1e6)}
- Ratios above 1 favour us for the rates; below 1 for memory. Each measurement ran alone, in its own process.

## Per-layer profile (ours)

Median milliseconds per batch of 128 over {s['profile_steps']} training steps, clocked layer by layer.
The whole step, measured without these clocks, takes {step_ms:.2f} ms (from the training rate).

{profile(results)}
"""


def kept_notes(path: Path) -> str:
    """The text from the "## Notes" heading to the end of the existing file, or the default notes."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.rstrip() == NOTES_HEADING:
                return "".join(lines[i:])
    return DEFAULT_NOTES


def write(path: Path, results: dict) -> None:
    notes = kept_notes(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document(results) + "\n" + notes)
