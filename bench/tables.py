"""The benchmark's two tables, as Markdown: ours, PyTorch and Keras side by side, and our per-layer profile.

A framework that was not measured fills its column with the reason (not installed, or left out
by a flag). Keras has two columns, its threads as TensorFlow chooses them and pinned to the run's
thread count; "ours / Keras" is taken against the faster of the two, so it never flatters us.
Every ratio is a speed ratio, above 1 when we are faster, except memory's (ours / theirs, below
1 when we use less).
"""
import statistics

from bench.common import INFER_BATCHES

EPOCH = 60_000  # images in an epoch of MNIST's training set


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _rate(rates: list[float]) -> str:
    return f"{_num(statistics.median(rates))} ({_num(min(rates))}–{_num(max(rates))})"


def _seconds(times) -> str:
    """The median of a list of seconds, or the text that stands in for it."""
    return f"{statistics.median(times):.2f}" if isinstance(times, list) else times


def _ratio(mine: float | None, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}" if mine and theirs else ""


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def training_flops_per_image(forward_macs: int) -> float:
    return 3 * 2 * forward_macs


def best_inference(side: dict) -> tuple[float, str]:
    """(median images/s, batch size) at the side's fastest inference batch size."""
    return max((statistics.median(side["inference"][str(b)]), str(b)) for b in INFER_BATCHES)


def _rate_rows(results: dict) -> list[list[str]]:
    """Training, its arithmetic and inference: ours, PyTorch, Keras (its threads), Keras (pinned)."""
    ours, keras = results["ours"], results["keras"] or {}
    sides = [ours, results["torch"], keras.get("default"), keras.get("pinned")]
    absent = ["", results["missing"]["torch"], results["missing"]["keras"], "—"]
    flops, gemm = training_flops_per_image(ours["forward_macs"]), results["gemm"]["gflops"]

    def cells(figure):
        return [figure(side) if side else reason for side, reason in zip(sides, absent)]

    def faster_keras(figure):
        return max((figure(side) for side in sides[2:] if side), default=None)

    def train_gflops(side):
        gflops = statistics.median(side["train"]) * flops / 1e9
        return f"{gflops:.1f} ({100 * gflops / gemm:.0f} %)"

    def infer_median(batch):
        return lambda side: statistics.median(side["inference"][batch])

    def row(label, figure, rate=None):
        ratios = [_ratio(rate(ours), rate(sides[1]) if sides[1] else None),
                  _ratio(rate(ours), faster_keras(rate))] if rate else ["", ""]
        return [label, *cells(figure), *ratios]

    rows = [row("Training, images/s: median (range)", lambda side: _rate(side["train"]),
                lambda side: statistics.median(side["train"])),
            row("Epoch of 60,000 images at that rate, s",
                lambda side: f"{EPOCH / statistics.median(side['train']):.2f}"),
            row("Training arithmetic, GFLOP/s (share of the GEMM rate)", train_gflops)]
    rows += [row(f"Inference, batch {b}, images/s: median (range)",
                 lambda side, b=str(b): _rate(side["inference"][b]), infer_median(str(b)))
             for b in INFER_BATCHES]
    rows.append(row("Inference at its best batch size, images/s (batch)",
                    lambda side: f"{_num(best_inference(side)[0])} ({best_inference(side)[1]})",
                    lambda side: best_inference(side)[0]))
    return rows


def _epoch_row(epoch, keras_reason: str | None) -> list[str]:
    """An epoch as a user runs it: train.py's against model.fit's, or why it was not measured."""
    if isinstance(epoch, str):
        return ["An epoch as a user runs it, s", epoch, "", keras_reason or epoch, "", "", ""]
    ours, keras = epoch["ours"], epoch["keras"]
    ours_s = ours["epochs_2_s"] - ours["epochs_1_s"] if isinstance(ours, dict) else None
    keras_s = keras["epoch_s"][-1] if keras else None
    return [f"An epoch as a user runs it ({epoch['images']:,} images), s",
            ours if ours_s is None else f"`train.py --epochs 2` minus `--epochs 1`: {ours_s:.2f}", "",
            keras_reason if keras_s is None else f"`model.fit`, second epoch: {keras_s:.2f}", "", "",
            _ratio(keras_s, ours_s)]


def _user_rows(results: dict) -> list[list[str]]:
    """Under load, an epoch as a user runs it, memory, one image: ours, PyTorch, Keras (its threads)."""
    missing, memory, load, process = (results[key] for key in ("missing", "memory", "load", "process"))
    no_torch, no_keras = missing["torch"], missing["keras"]
    keras_load = statistics.median(load["keras"]) if load["keras"] else None

    def imported(name: str, reason: str | None) -> str:
        key = f"import_{name}"
        return f"`import {name}` alone: {_seconds(process[key])}" if key in process else reason

    return [
        ["Training under load (one other process spinning on a core), images/s: median (range)",
         _rate(load["ours"]), "", _rate(load["keras"]) if keras_load else no_keras, "", "",
         _ratio(statistics.median(load["ours"]), keras_load)],
        _epoch_row(results["epoch"], no_keras),
        ["Peak memory of a training run, MiB", _num(memory["ours"]),
         _num(memory["torch"]) if memory["torch"] else no_torch,
         _num(memory["keras"]) if memory["keras"] else no_keras, "",
         _ratio(memory["ours"], memory["torch"]), _ratio(memory["ours"], memory["keras"])],
        ["One image in a fresh process, s", f"`evaluate.py one.png`: {_seconds(process['evaluate'])}",
         imported("torch", no_torch), imported("keras", no_keras), "", "", ""],
    ]


def summary(results: dict) -> str:
    """The side-by-side table, then our own figures: the bare imports, compiling, the GEMM rate."""
    process, gemm, compiled = results["process"], results["gemm"], results["compile"]
    rows = _rate_rows(results) + _user_rows(results) + [
        ["`import numpy, PIL.Image` alone, s", _seconds(process["import_numpy_pil"]), "", "", "", "", ""],
        ["Numba compile: import, first step and predict with an empty cache, s",
         "not measured (--quick)" if compiled["cold_s"] is None else
         f"{compiled['cold_s']:.1f} (warm cache: {compiled['warm_s']:.1f})", "", "", "", "", ""],
        [f"float32 GEMM rate, numpy, {gemm['n']}², {results['threads']} threads, GFLOP/s",
         f"{gemm['gflops']:.0f}", "", "", "", "", ""],
    ]
    header = ["seed model, batch 128, float32", "ours", "PyTorch", "Keras",
              f"Keras, {results['threads']} threads", "ours / PyTorch", "ours / Keras"]
    return table(header, rows)


def profile(results: dict) -> str:
    rows = results["ours"]["profile"]
    grand = sum(r["total_ms"] for r in rows)

    def ms(value):
        return "" if value is None else f"{value:.2f}"

    show = [[r["name"], ms(r["forward_ms"]), ms(r["backward_ms"]), ms(r["total_ms"]),
             f"{100 * r['total_ms'] / grand:.1f} %"] for r in rows]
    show.append(["**total**", "", "", f"**{grand:.2f}**", "100 %"])
    return table(["layer", "forward ms", "backward ms", "total ms", "share"], show)
