// How the page draws what POST /api/explain answers, and what each picture's caption says.
//
// Every view comes as {name, layer, file, shape, scale, values}: `values` are whole numbers in
// [-255, 255], the layer's numbers divided by `scale` (the largest of them) and times 255. A
// stack of feature maps has shape [C, H, W] and is drawn as a grid of C small pictures, one per
// channel; a vector [N] as a grid of N cells. All pictures of one layer share one scale, so a
// faint map really is weakly active. Numbers that are never negative (after a ReLU or a
// pooling) go from black to yellow; numbers of either sign (weights, logits, the saliency map)
// from blue through white to red.

const GAP = 1; // pixels between the pictures of a grid

// A colour [r, g, b] for a value in [0, 255]: black, purple, orange, yellow (like "inferno").
const HEAT = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
function heat(value) {
  const t = Math.max(0, Math.min(1, value / 255)) * (HEAT.length - 1);
  const k = Math.min(HEAT.length - 2, Math.floor(t));
  const f = t - k;
  return HEAT[k].map((c, i) => Math.round(c + f * (HEAT[k + 1][i] - c)));
}

// A colour for a value in [-255, 255]: blue below 0, white at 0, red above.
function signed(value) {
  const f = Math.min(1, Math.abs(value) / 255);
  const fade = Math.round(255 * (1 - f));
  return value >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

function sized(canvas, width, height) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  return context;
}

// Pictures [C][H][W] as a grid `columns` wide; -> the canvas's pixels.
function drawGrid(canvas, pictures, columns, colour) {
  const count = pictures.length;
  const height = pictures[0].length;
  const width = pictures[0][0].length;
  const rows = Math.ceil(count / columns);
  const context = sized(canvas, columns * (width + GAP) - GAP, rows * (height + GAP) - GAP);
  const image = context.createImageData(canvas.width, canvas.height);
  image.data.fill(255); // the gaps: white
  pictures.forEach((picture, k) => {
    const left = (k % columns) * (width + GAP);
    const top = Math.floor(k / columns) * (height + GAP);
    picture.forEach((row, i) => row.forEach((value, j) => {
      const at = 4 * ((top + i) * canvas.width + left + j);
      image.data.set(colour(value), at);
    }));
  });
  context.putImageData(image, 0, 0);
}

// Bars for ten logits (either sign), each labelled with its digit, the winner's bar darker.
function drawBars(canvas, view) {
  const rowHeight = 22;
  const context = sized(canvas, 320, view.values.length * rowHeight);
  const zero = canvas.width / 2;
  const winner = view.values.indexOf(Math.max(...view.values));
  context.font = "14px sans-serif";
  context.textBaseline = "middle";
  view.values.forEach((value, digit) => {
    const y = digit * rowHeight;
    const length = (value / 255) * (zero - 24);
    context.fillStyle = digit === winner ? "#b2182b" : value >= 0 ? "#f4a582" : "#92c5de";
    context.fillRect(zero, y + 3, length, rowHeight - 6);
    context.fillStyle = "#222";
    context.fillText(String(digit), 4, y + rowHeight / 2);
  });
  context.fillStyle = "#888";
  context.fillRect(zero, 0, 1, canvas.height);
}

// The saliency map over the network's input: the input grey, the map's colour on top of it,
// as opaque as the gradient there is large.
export function drawSaliency(canvas, saliency, input) {
  const context = sized(canvas, 28, 28);
  const image = context.createImageData(28, 28);
  saliency.values.forEach((row, i) => row.forEach((value, j) => {
    const grey = 40 + 0.6 * input[i][j];
    const [r, g, b] = signed(value);
    const a = Math.min(1, Math.abs(value) / 160);
    image.data.set([grey + a * (r - grey), grey + a * (g - grey), grey + a * (b - grey), 255],
                   4 * (28 * i + j));
  }));
  context.putImageData(image, 0, 0);
}

// The 28x28 image the network saw, light ink on black, as MNIST's digits are.
export function drawInput(canvas, input) {
  drawGrid(canvas, [input], 1, (v) => [v, v, v]);
}

// One layer's output or the filters, on `canvas`.
export function drawView(canvas, view, { last = false } = {}) {
  if (last) return drawBars(canvas, view);
  if (view.shape.length === 1) { // a vector: a grid of cells, 16 to a row
    const columns = Math.min(16, view.shape[0]);
    const cells = [];
    for (let k = 0; k < view.values.length; k += columns) cells.push(view.values.slice(k, k + columns));
    return drawGrid(canvas, [cells], 1, heat);
  }
  const columns = view.shape[0] >= 16 ? 8 : Math.ceil(Math.sqrt(view.shape[0]));
  const colour = view.name.startsWith("filters") ? signed : heat;
  drawGrid(canvas, view.values, columns, colour);
}

function code(text) {
  const element = document.createElement("code");
  element.textContent = text;
  return element;
}

// The caption under a view: what the picture is, in a sentence or two, and which file computes
// it. -> a list of nodes for a <figcaption>.
export function caption(view, { first = false, last = false, before = null, winner = 0 } = {}) {
  const kind = view.layer.split(" ")[0];
  const [c, h, w] = view.shape;
  let text;
  if (view.name === "saliency") {
    return [`The saliency map: for each pixel of the input, how much the score of ${winner} (its `
            + "logit) would rise (red) or fall (blue) with a little more ink there. It is the "
            + "gradient d score / d input, computed by the network's own backward pass, the "
            + "chain rule run from the last layer to the first, each layer's ", code("backward"),
            " in turn: ", ...view.files.flatMap((file, k) => [k ? ", " : "", code(file)]), "."];
  }
  if (view.name.startsWith("filters")) {
    text = `The ${c} filters the first convolution learned, ${h}x${w} weights each (red `
           + "positive, blue negative): each of conv1's feature maps below is one of them slid over the "
           + "input. They are the trained weights, read from the model file.";
  } else if (kind === "Conv2D") {
    text = `${view.layer}: ${c} feature maps of ${h}x${w}. Each is one filter slid over `
           + (first ? "the 28x28 input" : `the ${before} maps before it, a sum over them all`)
           + ", bright where it finds its pattern; negative sums are cut to 0 by the ReLU.";
  } else if (kind === "MaxPool2D") {
    text = `After max pooling: every 2x2 window keeps only its largest value, so the ${c} maps `
           + `are half as wide (${h}x${w}) and a small shift of the ink changes little.`;
  } else if (kind === "Dense" && last) {
    text = `The ${c} outputs (logits), one per digit, each a weighted sum of the numbers before `
           + "them. The softmax in nncore/loss.py turns them into the probabilities above.";
  } else if (kind === "Dense") {
    text = `${view.layer}: ${c} numbers, one cell each, every one a weighted sum of all the `
           + "numbers of the last pooled maps, then the ReLU.";
  } else {
    text = `${view.layer}: shape ${view.shape.join("x")}.`;
  }
  return [text + " Computed by ", code(`${kind}.forward`), " in ", code(view.file), "."];
}
