"""evaluate.py as a user meets it: output formats, exit statuses and every kind of bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import evaluate
from nncore import mnist_cnn, save_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(path, mnist_cnn(seed=0))
    return path


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    """A dark stroke on white paper: a '1'."""
    canvas = np.full((120, 90), 255, np.uint8)
    canvas[20:100, 40:52] = 0
    path = tmp_path_factory.mktemp("img") / "one.png"
    Image.fromarray(canvas).save(path)
    return path


def run(capsys, *argv):
    status = evaluate.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_text_output_one_line_per_image(capsys, model_file, digit_png):
    status, out, err = run(capsys, digit_png, "--model", model_file, "--top-k", "3")
    assert status == 0 and err == ""
    line, = out.splitlines()
    assert line.startswith(f"{digit_png}: ")
    digit, percent = line.split(": ")[1].split("  then ")[0].split(" ")
    assert digit.isdigit() and percent.startswith("(") and percent.endswith("%)")
    assert line.count("%") == 3


def test_json_contract(capsys, model_file, digit_png, tmp_path):
    (tmp_path / "blank.png").write_bytes(b"")
    status, out, err = run(capsys, digit_png, tmp_path / "blank.png", "--model", model_file, "--json")
    assert status == 1
    good, bad = (json.loads(line) for line in out.splitlines())
    assert set(good) == {"path", "digit", "confidence", "probabilities", "text", "digits"}
    one, = good["digits"]                                  # one digit: also at the top level
    assert good["text"] == str(good["digit"]) and set(one) == {"digit", "confidence", "probabilities", "box"}
    assert all(one[k] == good[k] for k in ("digit", "confidence", "probabilities"))
    assert good["path"] == str(digit_png) and 0 <= good["digit"] <= 9
    assert len(good["probabilities"]) == 10 and abs(sum(good["probabilities"]) - 1) < 1e-4
    assert good["confidence"] == max(good["probabilities"])
    assert good["digit"] == int(np.argmax(good["probabilities"]))
    assert set(bad) == {"path", "error"} and "empty file" in bad["error"]
    assert "empty file" in err


def test_directories_are_searched_recursively_in_sorted_order(capsys, model_file, digit_png, tmp_path):
    for name in ["b/z.png", "a.png", "b/c.jpg"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.open(digit_png).convert("RGB").save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    status, out, _ = run(capsys, tmp_path, "--model", model_file)
    assert status == 0
    assert [line.split(":")[0] for line in out.splitlines()] == [
        str(tmp_path / "a.png"), str(tmp_path / "b/c.jpg"), str(tmp_path / "b/z.png")]


def bad_inputs(tmp_path, digit_png):
    png = digit_png.read_bytes()
    jpeg = tmp_path / "ok.jpg"
    Image.open(digit_png).convert("RGB").save(jpeg, quality=90)
    files = {
        "missing.png": None,
        "empty.png": b"",
        "text.png": b"hello, I am not an image\n",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpeg.read_bytes()[:300],
        "blank.png": None,
    }
    for name, data in files.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    (tmp_path / "emptydir").mkdir()
    return {
        "missing.png": "no such file",
        "empty.png": "empty file",
        "text.png": "not an image",
        "truncated.png": "truncated or corrupt",
        "truncated.jpg": "truncated or corrupt",
        "blank.png": "no digit found",
        "emptydir": "no image files",
    }


def test_each_bad_input_gets_its_own_error_and_the_rest_still_run(capsys, model_file, digit_png, tmp_path):
    expected = bad_inputs(tmp_path, digit_png)
    paths = [tmp_path / name for name in expected] + [digit_png]
    status, out, err = run(capsys, *paths, "--model", model_file, "--json")
    assert status == 1
    results = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    for name, fragment in expected.items():
        assert fragment in results[name]["error"], (name, results[name])
    assert "digit" in results[digit_png.name]
    assert "Traceback" not in err


def test_decompression_bomb_is_refused(capsys, model_file, tmp_path, monkeypatch):
    Image.new("L", (300, 300), 255).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    status, out, err = run(capsys, tmp_path / "big.png", "--model", model_file)
    assert status == 1 and out == "" and "too large" in err


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_a_bad_model_is_reported_once_before_any_image(problem, tmp_path, digit_png):
    model = tmp_path / "model.npz"
    if problem == "corrupt":
        model.write_bytes(b"PK\x03\x04 garbage")
    result = subprocess.run([sys.executable, str(REPO / "evaluate.py"), str(digit_png), "--model",
                             str(model)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("error:") == 1 and str(model) in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path):
    for argv in [[], ["x.png", "--top-k", "11"], ["--no-such-flag", "x.png"]]:
        result = subprocess.run([sys.executable, str(REPO / "evaluate.py"), *argv],
                                capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 2, argv
        assert "usage:" in result.stderr


def test_save_preprocessed_writes_what_the_network_saw(capsys, model_file, digit_png, tmp_path):
    status, _, _ = run(capsys, digit_png, "--model", model_file, "--save-preprocessed", tmp_path / "seen")
    assert status == 0
    saved, = (tmp_path / "seen").iterdir()
    image = np.asarray(Image.open(saved))
    assert image.shape == (28, 28) and image.max() == 255 and image[0, 0] == 0


def test_many_images_take_the_kernel_path_with_the_same_answers(capsys, model_file, digit_png, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(evaluate.NUMPY_MAX_IMAGES + 1):
        (folder / f"{k:03d}.png").write_bytes(digit_png.read_bytes())
    _, few, _ = run(capsys, digit_png, "--model", model_file, "--json")
    status, many, _ = run(capsys, folder, "--model", model_file, "--json")
    assert status == 0
    expected = json.loads(few)["probabilities"]
    for line in many.splitlines():
        np.testing.assert_allclose(json.loads(line)["probabilities"], expected, atol=2e-6)


def test_worker_processes_give_the_same_output_in_input_order(capsys, model_file, digit_png, tmp_path,
                                                              monkeypatch):
    folder = tmp_path / "mixed"
    folder.mkdir()
    canvas = np.full((120, 90), 255, np.uint8)
    for k in range(12):
        canvas[20 + k: 100, 10 + 5 * k: 22 + 5 * k] = 0          # a different stroke each time
        Image.fromarray(canvas).save(folder / f"{k:02d}.png")
    (folder / "05_broken.png").write_bytes(b"not an image")      # an error among them
    argv = [folder, "--model", model_file, "--json"]
    serial = run(capsys, *argv, "--save-preprocessed", tmp_path / "serial")
    monkeypatch.setattr(evaluate, "POOL_MIN_IMAGES", 2)
    monkeypatch.setattr(evaluate, "CHUNK", 3)
    pooled = run(capsys, *argv, "--save-preprocessed", tmp_path / "pooled")
    assert pooled == serial and serial[0] == 1                  # same lines, same order, same status
    assert "not an image" in serial[1].splitlines()[6]
    saved = sorted(p.name for p in (tmp_path / "pooled").iterdir())
    assert saved == sorted(p.name for p in (tmp_path / "serial").iterdir()) and len(saved) == 12


# --- The fault barrier: one image's trouble is that image's error line, never the run's. ---

def copies(folder, digit_png, count):
    folder.mkdir()
    for k in range(count):
        (folder / f"{k:03d}.png").write_bytes(digit_png.read_bytes())
    return folder


def test_an_unexpected_exception_is_one_images_error(capsys, model_file, digit_png, tmp_path,
                                                      monkeypatch):
    import reader.segment
    real = reader.segment.read_number

    def fails_on_007(image, name, classify):
        if name.endswith("007.png"):
            raise IndexError("index 3 is out of bounds for axis 0 with size 1")
        return real(image, name, classify)

    monkeypatch.setattr(reader.segment, "read_number", fails_on_007)
    folder = copies(tmp_path / "many", digit_png, 12)
    status, out, err = run(capsys, folder, "--model", model_file)
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == 11 and all(": " in line and "%" in line for line in lines)
    message, = err.splitlines()
    assert message == (f"error: {folder / '007.png'}: internal error while preprocessing "
                       "(IndexError: index 3 is out of bounds for axis 0 with size 1); please report")


def test_a_preprocessed_copy_that_cannot_be_saved_is_that_images_error(capsys, model_file, digit_png,
                                                                        tmp_path):
    seen = tmp_path / "seen"
    (seen / "00000_one.png").mkdir(parents=True)        # the copy's name is taken by a directory
    other = tmp_path / "two.png"
    other.write_bytes(digit_png.read_bytes())
    status, out, err = run(capsys, digit_png, other, "--model", model_file, "--save-preprocessed", seen)
    assert status == 1
    assert out.startswith(f"{other}: ") and len(out.splitlines()) == 1
    assert "could not save its preprocessed copy" in err and "IsADirectoryError" in err


def test_save_preprocessed_into_a_file_is_a_usage_error(capsys, model_file, digit_png, tmp_path):
    (tmp_path / "file").write_text("")
    status, out, err = run(capsys, digit_png, "--model", model_file, "--save-preprocessed",
                           tmp_path / "file")
    assert status == 2 and out == ""
    assert err.startswith("error: --save-preprocessed") and err.count("\n") == 1


def test_file_names_cannot_forge_lines_or_crash_the_output(capsys, model_file, digit_png, tmp_path):
    forged = tmp_path / "x.png: 7 (99.9%)\nfake.png"
    undecodable = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.png"))
    for path in (forged, undecodable):
        path.write_bytes(digit_png.read_bytes())
    status, out, err = run(capsys, forged, undecodable, "--model", model_file)
    assert status == 0 and err == ""
    first, second = out.splitlines()
    assert first.startswith(f"{tmp_path}/x.png: 7 (99.9%)\\nfake.png: ")
    assert second.startswith(f"{tmp_path}/\\xff\\xfe.png: ")
    status, out, _ = run(capsys, forged, undecodable, "--model", model_file, "--json")
    assert [json.loads(line)["path"] for line in out.splitlines()] == [
        str(forged), f"{tmp_path}/\\xff\\xfe.png"]


def test_a_non_finite_answer_is_an_error_not_nan(capsys, model_file, digit_png, monkeypatch):
    from nncore import Sequential
    monkeypatch.setattr(Sequential, "predict", lambda model, x, **kwargs: np.full((len(x), 10), np.nan))
    status, out, err = run(capsys, digit_png, "--model", model_file, "--json")
    assert status == 1
    assert "not finite" in json.loads(out)["error"] and "NaN" not in out


PREPARE = evaluate.prepare


def prepare_or_die(job, save_dir):
    """evaluate.prepare, except that its worker process dies (SIGKILL, as from the system's
    out-of-memory killer) on 013.png. Module-level, so that it can be sent to a worker."""
    if job[1].name == "013.png":
        os.kill(os.getpid(), signal.SIGKILL)
    return PREPARE(job, save_dir)


def always_die(job, save_dir):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_run_costs_only_its_image(capsys, model_file, digit_png, tmp_path,
                                                     monkeypatch):
    folder = copies(tmp_path / "many", digit_png, 30)
    monkeypatch.setattr(evaluate, "POOL_MIN_IMAGES", 2)
    monkeypatch.setattr(evaluate, "CHUNK", 4)
    monkeypatch.setattr(evaluate, "prepare", prepare_or_die)
    status, out, err = run(capsys, folder, "--model", model_file)
    assert status == 1
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(folder / f"{k:03d}.png") for k in range(30)
                                                      if k != 13]
    assert err == f"error: {folder / '013.png'}: the worker process preparing it died (out of memory?)\n"


def test_workers_that_keep_dying_end_the_run_with_an_error_per_image(capsys, model_file, digit_png,
                                                                     tmp_path, monkeypatch):
    folder = copies(tmp_path / "many", digit_png, 12)
    monkeypatch.setattr(evaluate, "POOL_MIN_IMAGES", 2)
    monkeypatch.setattr(evaluate, "CHUNK", 2)
    monkeypatch.setattr(evaluate, "prepare", always_die)
    status, out, err = run(capsys, folder, "--model", model_file)
    assert status == 1 and out == ""
    errors = err.splitlines()
    assert len(errors) == 12
    assert sum("died" in e for e in errors) == evaluate.MAX_DEATHS
    assert all("keep dying" in e for e in errors[evaluate.MAX_DEATHS:])


def test_an_externally_killed_worker_never_hangs_the_run(model_file, digit_png, tmp_path):
    """kill -9 of a worker process of a real `evaluate.py` run: every image is still answered."""
    folder = copies(tmp_path / "many", digit_png, 600)
    process = subprocess.Popen([sys.executable, str(REPO / "evaluate.py"), str(folder), "--model",
                                str(model_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    children = []
    for _ in range(200):                                  # wait up to 20 s for the workers
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if len(children) >= 2:
            break
        time.sleep(0.1)
    assert children, "no worker process started"
    os.kill(int(children[-1]), signal.SIGKILL)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert len(out.splitlines()) == 600 and "Traceback" not in err


def test_the_default_model_is_the_one_trained_here_else_the_shipped_one(capsys, digit_png, tmp_path,
                                                                        monkeypatch, model_file):
    monkeypatch.setattr(evaluate, "TRAINED_MODEL", tmp_path / "models" / "mnist_cnn.npz")
    status, shipped_out, err = run(capsys, digit_png, "--json")
    assert status == 0 and err == ""                         # the shipped model, silently
    evaluate.TRAINED_MODEL.parent.mkdir()
    evaluate.TRAINED_MODEL.write_bytes(model_file.read_bytes())
    status, trained_out, err = run(capsys, digit_png, "--json")
    assert status == 0 and err.startswith("using the model trained here, models/mnist_cnn.npz")
    assert trained_out == run(capsys, digit_png, "--json", "--model", model_file)[1] != shipped_out


def test_a_long_name_still_gets_its_preprocessed_copy(capsys, model_file, digit_png, tmp_path):
    long = tmp_path / ("é" * 123 + ".png")                      # 250 bytes: the most a name holds
    long.write_bytes(digit_png.read_bytes())
    status, out, err = run(capsys, long, "--model", model_file, "--save-preprocessed", tmp_path / "seen")
    assert status == 0 and err == ""
    saved, = (tmp_path / "seen").iterdir()
    assert saved.name.startswith("00000_éé") and len(os.fsencode(saved.name)) <= 255
