// The page: the pad (pad.js) or an image file goes to the server, the answer comes back and is
// shown: the digit(s) read, the ten probabilities, the 28x28 image the network saw, and the
// pictures of what happens inside the network (views.js).
//
// While a stroke is being drawn the page asks again at most every READ_EVERY_MS, and at once
// when the stroke ends; a question waits for the one before it to be answered, so that
// answers never arrive out of order. The answer's section is aria-busy from a change until the
// answer for it is shown. Each question is two requests sent together: POST
// /api/read (evaluate.py's answer) and POST /api/explain (one digit, layer by layer), both
// with the image, a PNG of the pad or the file itself, as the body.

import { Pad } from "./pad.js";
import { caption, drawInput, drawSaliency, drawView } from "./views.js";

const READ_EVERY_MS = 120;
const $ = (id) => document.getElementById(id);

const state = {
  file: null,     // the image file being read, or null: the pad is
  bitmap: null,   // ... that file, decoded, to draw its boxes over
  digit: 0,       // which digit of several is explained
  timer: 0,       // the question waiting to be asked
  asking: false,  // a question is on its way
  again: false,   // ... and another one waits for it
};

const pad = new Pad($("pad"), (finished) => {
  state.file = null;
  state.digit = 0;
  $("photo-view").hidden = true;
  schedule(finished);
});

// Busy while a question waits or is on its way.
function settle() {
  const busy = state.asking || state.timer !== 0;
  $("answer").setAttribute("aria-busy", String(busy));
}

function schedule(now) {
  if (now || (pad.empty && state.file === null)) {
    clearTimeout(state.timer);
    state.timer = 0;
  }
  if (pad.empty && state.file === null) {
    showEmpty();
  } else if (now) {
    ask();
  } else if (!state.timer) {
    state.timer = setTimeout(() => { state.timer = 0; ask(); }, READ_EVERY_MS);
  }
  settle();
}

async function post(url, body) {
  const response = await fetch(url, { method: "POST", body });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

async function ask() {
  if (state.asking) {
    state.again = true;
    return;
  }
  state.asking = true;
  const file = state.file;
  try {
    const body = file || await pad.png();
    const [reading, explained] = await Promise.all([
      post("/api/read", body), post(`/api/explain?digit=${state.digit}`, body)]);
    const stale = file !== state.file || (file === null && pad.empty);
    if (!stale) show(reading, explained);
  } catch (error) {
    if (file === state.file) showProblem(String(error.message || error));
  } finally {
    state.asking = false;
    if (state.again) {
      state.again = false;
      ask();
    }
    settle();
  }
}

const unnamed = (message) => message.replace(/^upload: /, "");
const percent = (p) => `${(100 * p).toFixed(1)}%`;

function showEmpty() {
  $("verdict").textContent = "draw a digit";
  $("detail").textContent = "";
  $("choose").replaceChildren();
  setBars(null);
  drawBoxes($("boxes"), [], 1);
  $("seen").getContext("2d").clearRect(0, 0, $("seen").width, $("seen").height);
  document.body.classList.add("waiting");
}

function showProblem(message) {
  $("verdict").textContent = "?";
  $("detail").textContent = unnamed(message);
  $("detail").classList.add("problem");
}

function show(reading, explained) {
  $("detail").classList.remove("problem");
  if (reading.error) {
    showEmpty();
    $("verdict").textContent = "no digit yet";
    $("detail").textContent = unnamed(reading.error);
    return;
  }
  document.body.classList.remove("waiting");
  const digits = reading.digits;
  const chosen = digits[explained.index];
  $("verdict").textContent = reading.text;
  $("detail").textContent = digits.length === 1
    ? `${percent(chosen.confidence)} sure`
    : digits.map((d) => `${d.digit} ${percent(d.confidence)}`).join(", ");
  showChoice(digits, explained.index);
  setBars(chosen.probabilities);
  drawInput($("seen"), explained.input);
  if (state.file) {
    if (state.bitmap) drawPhoto(digits);
  } else {
    drawBoxes($("boxes"), digits.length > 1 ? digits : [], 1);
  }
  showInside(explained);
}

// With several digits read: a button for each, to choose the one explained.
function showChoice(digits, index) {
  const buttons = digits.length < 2 ? [] : digits.map((d, k) => {
    const button = document.createElement("button");
    button.textContent = String(d.digit);
    button.title = `explain digit ${k + 1} of ${digits.length}`;
    button.setAttribute("aria-pressed", String(k === index));
    button.addEventListener("click", () => { state.digit = k; schedule(true); });
    return button;
  });
  $("choose").replaceChildren(...buttons);
}

function setBars(probabilities) {
  const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  document.querySelectorAll("#bars .bar").forEach((bar, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    bar.querySelector(".fill").style.width = `${100 * p}%`;
    bar.querySelector(".pct").textContent = probabilities ? percent(p) : "";
    bar.classList.toggle("best", digit === best);
  });
}

function drawBoxes(canvas, digits, scale) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "#d6336c";
  context.fillStyle = "#d6336c";
  context.lineWidth = 2;
  context.font = "bold 16px sans-serif";
  digits.forEach((d, k) => {
    const [x, y, w, h] = d.box.map((v) => v * scale);
    context.lineWidth = k === state.digit ? 3 : 1.5;
    context.strokeRect(x, y, w, h);
    context.fillText(String(d.digit), x + 2, Math.max(14, y - 4));
  });
}

// A dropped or chosen file, shrunk to fit, with the boxes of the digits read in it.
function drawPhoto(digits) {
  const canvas = $("photo");
  const scale = Math.min(1, 480 / state.bitmap.width, 360 / state.bitmap.height);
  canvas.width = Math.round(state.bitmap.width * scale);
  canvas.height = Math.round(state.bitmap.height * scale);
  canvas.getContext("2d").drawImage(state.bitmap, 0, 0, canvas.width, canvas.height);
  const boxes = document.createElement("canvas");
  [boxes.width, boxes.height] = [canvas.width, canvas.height];
  drawBoxes(boxes, digits, scale);
  canvas.getContext("2d").drawImage(boxes, 0, 0);
}

// One <figure> per view, made the first time and redrawn after.
function figure(name, title) {
  let element = document.getElementById(`view-${name}`);
  if (!element) {
    element = document.createElement("figure");
    element.id = `view-${name}`;
    element.className = name;
    element.append(document.createElement("h3"), document.createElement("canvas"),
                   document.createElement("figcaption"));
    $("views").append(element);
  }
  element.querySelector("h3").textContent = title;
  return element;
}

function showInside(explained) {
  const views = [explained.filters, ...explained.layers];
  let before = null;
  views.forEach((view, k) => {
    const last = k === views.length - 1;
    const element = figure(view.name, `${view.name}: ${view.layer}`);
    element.classList.toggle("logits", last);
    drawView(element.querySelector("canvas"), view, { last });
    const first = view.name === "conv1";
    element.querySelector("figcaption").replaceChildren(
      ...caption(view, { first, last, before, winner: explained.digit }));
    if (view.shape.length === 3 && !view.name.startsWith("filters")) before = view.shape[0];
  });
  const saliency = explained.saliency;
  const element = figure("saliency", `saliency: ${saliency.layer}`);
  drawSaliency(element.querySelector("canvas"), saliency, explained.input);
  element.querySelector("figcaption").replaceChildren(
    ...caption(saliency, { winner: saliency.digit }));
}

async function useFile(file) {
  if (!file) return;
  try {
    state.bitmap = await createImageBitmap(file);
  } catch {
    state.bitmap = null;  // a format the browser cannot show: the server may still read it
  }
  state.file = file;
  state.digit = 0;
  $("photo-view").hidden = state.bitmap === null;
  $("photo-name").textContent = file.name;
  pad.strokes = [];
  pad.redraw();
  drawBoxes($("boxes"), [], 1);
  schedule(true);
}

// Ten bars, one per digit.
$("bars").replaceChildren(...Array.from({ length: 10 }, (_, digit) => {
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.innerHTML = `<span class="label">${digit}</span><span class="track">`
                  + '<span class="fill"></span></span><span class="pct"></span>';
  return bar;
}));
$("undo").addEventListener("click", () => pad.undo());
$("clear").addEventListener("click", () => pad.clear());
$("file").addEventListener("change", (event) => useFile(event.target.files[0]));
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") {
    event.preventDefault();
    pad.undo();
  }
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  useFile(event.dataTransfer.files[0]);
});
showEmpty();
