"""serve.py's page in a real browser: headless Chromium (Debian's chromium and chromium-driver),
driven by Selenium, against a real server on a loopback port (tests/serve_server.py).

The test draws a 7 on the pad stroke by stroke with pointer actions, as a mouse, a pen and a
finger would, waits for the answer and checks it, checks that every picture of inside the
network is drawn and captioned with its file, that Undo and Clear work, that a phone-sized
window neither overflows nor scrolls while a finger draws, and that the browser's console
shows no error. It saves a screenshot of the page into its temporary directory, and to the path
in $SERVE_SCREENSHOT too when that is set (the README's picture: docs/serve_page.png).

Without Chromium, its driver or Selenium the test is skipped, except in CI (CI=true), where
that is a failure: .ci/run installs them.
"""
import base64
import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from serve_server import REPO, running_server

SHIPPED = REPO / "models" / "shipped" / "mnist_cnn.npz"
# A 7 in the pad's own pixels (280 x 280): the bar, then the stem, as a person draws it.
SEVEN = [[(62, 66), (214, 62)], [(214, 62), (176, 130), (140, 205), (128, 236)]]
STRAY = [(30, 200), (60, 262)]   # a stroke to take back with Undo
PAD_PIXELS = "return document.getElementById('pad').toDataURL()"
SEEN_PIXELS = "return document.getElementById('seen').toDataURL()"
WAIT = 30   # seconds for an answer to show


def browser_or_skip():
    """(chromium, chromedriver) paths; skip without them, or fail in CI."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        message = "the browser test needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (.ci/run installs them)", pytrace=False)
        pytest.skip(message + " (apt-get install chromium chromium-driver)")
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    chromium, chromedriver = browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with running_server(tmp_path_factory.mktemp("serve"), "--model", str(SHIPPED)) as server:
        driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        try:
            driver.get(server.url)
            yield driver
        finally:
            driver.quit()


def draw(driver, strokes, kind="mouse"):
    """Draw the strokes (lists of points in the pad's pixels) with a pointer of this kind, in
    small moves, as a hand does."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By
    pad = driver.find_element(By.ID, "pad")
    side = pad.rect["width"]
    kinds = {"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
             "touch": interaction.POINTER_TOUCH}
    actions = ActionBuilder(driver, mouse=PointerInput(kinds[kind], kind), duration=15)

    def to(x, y):   # offsets from the pad's centre, in CSS pixels
        actions.pointer_action.move_to(pad, round((x - 140) * side / 280), round((y - 140) * side / 280))

    for stroke in strokes:
        to(*stroke[0])
        actions.pointer_action.pointer_down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for k in range(1, 9):
                to(x0 + (x1 - x0) * k / 8, y0 + (y1 - y0) * k / 8)
        actions.pointer_action.pointer_up()
    actions.perform()


def wait_for(driver, condition, what):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        WebDriverWait(driver, WAIT).until(condition)
    except TimeoutException:
        shown = f"{text(driver, 'verdict')!r} ({text(driver, 'detail')!r})"
        raise AssertionError(f"waited {WAIT} s for {what}; the page shows {shown}") from None


def settled(driver) -> bool:
    """No question on its way (the answer's section is not aria-busy): what the page shows is
    the answer for what the pad holds now."""
    return driver.find_element("id", "answer").get_attribute("aria-busy") == "false"


def shows(verdict):
    """A condition: the page has settled, showing this verdict."""
    return lambda driver: settled(driver) and text(driver, "verdict") == verdict


def text(driver, element_id):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id).text


def drawn_input(driver) -> str:
    """The 28x28 image the network saw, as the page shows it (a data: URL of its pixels)."""
    return driver.execute_script(SEEN_PIXELS)


def whole_page(driver) -> bytes:
    """A PNG of the whole page, below the window's bottom too (Chrome's DevTools protocol)."""
    width, height = driver.execute_script("const e = document.documentElement;"
                                          "return [e.scrollWidth, e.scrollHeight];")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    return base64.b64decode(shot["data"])


# For every canvas: [figure id or canvas id, distinct colours, pixels in colour (not grey)].
CANVASES = """
return [...document.querySelectorAll("#views canvas, #seen")].map((canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
  }
  return [canvas.closest("figure").id || canvas.id, colours.size, coloured];
});
"""


def test_draw_a_seven(page, tmp_path):
    from selenium.webdriver.common.by import By
    assert text(page, "verdict") == "draw a digit"
    style = "return getComputedStyle(document.getElementById('pad')).touchAction"
    assert page.execute_script(style) == "none"
    draw(page, SEVEN[:1], "mouse")
    draw(page, SEVEN[1:], "pen")
    wait_for(page, shows("7"), "the answer 7")
    assert text(page, "detail").endswith("% sure")
    best = page.find_elements(By.CSS_SELECTOR, "#bars .bar.best .label")
    assert [bar.text for bar in best] == ["7"]

    figures = [f.get_attribute("id") for f in page.find_elements(By.CSS_SELECTOR, "#views figure")]
    assert figures == ["view-filters1", "view-conv1", "view-pool1", "view-conv2", "view-pool2",
                       "view-dense1", "view-dense2", "view-saliency"]
    for figure in page.find_elements(By.CSS_SELECTOR, "#views figure"):
        assert "nncore/" in figure.find_element(By.TAG_NAME, "figcaption").text, figure.get_attribute("id")
    drawn = {name: (colours, coloured) for name, colours, coloured in page.execute_script(CANVASES)}
    assert set(drawn) == set(figures) | {"seen"}
    for name, (colours, coloured) in drawn.items():
        assert colours > 2, f"{name} is blank"
    assert drawn["view-saliency"][1] > 20, "the saliency map shows no colour"
    assert drawn["view-filters1"][1] > 20, "the filters show no colour"

    seven, seven_seen = page.execute_script(PAD_PIXELS), drawn_input(page)
    draw(page, [STRAY], "touch")
    assert page.execute_script(PAD_PIXELS) != seven
    wait_for(page, lambda d: settled(d) and drawn_input(d) != seven_seen, "the stray stroke read")
    page.find_element(By.ID, "undo").click()
    assert page.execute_script(PAD_PIXELS) == seven
    wait_for(page, shows("7"), "7 again after Undo")
    assert drawn_input(page) == seven_seen

    screenshot = whole_page(page)
    (tmp_path / "serve_page.png").write_bytes(screenshot)
    if os.environ.get("SERVE_SCREENSHOT"):   # the README's picture: 8-bit colours, a small file
        picture = Image.open(io.BytesIO(screenshot)).convert("RGB").quantize(256)
        picture.save(Path(os.environ["SERVE_SCREENSHOT"]), optimize=True)

    page.find_element(By.ID, "clear").click()
    wait_for(page, shows("draw a digit"), "an empty pad after Clear")
    assert not [e for e in page.get_log("browser") if e["level"] == "SEVERE"]


def test_phone_sized_window(page):
    """A finger draws on a phone-sized window: nothing overflows, the page does not scroll."""
    page.set_window_size(390, 844)
    try:
        width = page.execute_script("return window.innerWidth")
        assert page.execute_script("return document.documentElement.scrollWidth") <= width
        pad = page.execute_script("const r = document.getElementById('pad').getBoundingClientRect();"
                                  "return [r.left, r.right, r.top];")
        assert 0 <= pad[0] and pad[1] <= width
        page.execute_script("window.scrollTo(0, arguments[0])", max(0, pad[2] - 20))
        before = page.execute_script("return window.scrollY")
        draw(page, SEVEN, "touch")
        wait_for(page, shows("7"), "the answer 7, drawn by a finger")
        assert page.execute_script("return window.scrollY") == before
    finally:
        page.set_window_size(1280, 1000)
    assert not [e for e in page.get_log("browser") if e["level"] == "SEVERE"]


def test_open_an_image_file(page, tmp_path, capsys, mnist_data):
    """A picture of a number, chosen as a file: read digit by digit as evaluate.py reads it,
    its boxes drawn over it, and a button per digit to explain that one."""
    import json

    import numpy as np
    from number_images import number
    from selenium.webdriver.common.by import By

    import evaluate
    digits = [mnist_data.test_images[k] for k in (0, 1, 2)]
    image, _ = number(digits, np.random.default_rng(5), "clear", "dark_on_white")
    path = tmp_path / "number.png"
    image.save(path)
    capsys.readouterr()
    evaluate.main(["--json", "--model", str(SHIPPED), str(path)])
    expected = json.loads(capsys.readouterr().out)
    assert len(expected["digits"]) == 3
    page.find_element(By.ID, "file").send_keys(str(path))
    wait_for(page, shows(expected["text"]), f"the number {expected['text']}")
    assert page.find_element(By.ID, "photo-view").is_displayed()
    assert text(page, "photo-name") == "number.png"
    buttons = page.find_elements(By.CSS_SELECTOR, "#choose button")
    assert [b.text for b in buttons] == list(expected["text"])
    buttons[1].click()
    second = expected["text"][1]
    wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, "#view-saliency h3").text
             == f"saliency: d(score of {second}) / d(input)", "the second digit explained")
    page.find_element(By.ID, "clear").click()
    wait_for(page, shows("draw a digit"), "an empty pad after Clear")
    assert not page.find_element(By.ID, "photo-view").is_displayed()
    assert not [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
