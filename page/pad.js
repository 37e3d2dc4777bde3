// The drawing pad: strokes drawn with a mouse, a finger or a pen, kept so that Undo can take
// the last one back.
//
// Pointer events (pointerdown / pointermove / pointerup) report all three kinds of pointer
// alike. The pad's CSS sets `touch-action: none`, so that a finger drawing on it does not scroll
// or zoom the page, and the pad captures the pointer, so that a stroke that leaves the pad and
// comes back stays one stroke. A stroke is a list of points in the canvas's own pixels
// (280 x 280, however large the pad is shown), drawn as a round-capped line as thick as a
// marker's. The pad is dark ink on white paper, as a person's scan would be: the server brings it
// into MNIST's form (light on black, 20x20 in 28x28) exactly as it does any image.

const INK = "#111";
const PAPER = "#fff";
const MARKER = 0.065; // the stroke's width, as a share of the pad's side (18 px of 280)

export class Pad {
  // canvas: the <canvas> to draw on; onChange(finished): called after every change, with
  // finished = false while a stroke is still being drawn.
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onChange = onChange;
    this.strokes = [];
    this.active = null; // the pointer drawing now, by its pointerId
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.extend(event));
    for (const type of ["pointerup", "pointercancel"]) {
      canvas.addEventListener(type, (event) => this.finish(event));
    }
    this.redraw();
  }

  get empty() {
    return this.strokes.length === 0;
  }

  // The point under the pointer, in the canvas's pixels.
  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (this.canvas.width / box.width),
            (event.clientY - box.top) * (this.canvas.height / box.height)];
  }

  start(event) {
    if (this.active !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    this.active = event.pointerId;
    this.canvas.setPointerCapture(event.pointerId);
    const start = this.point(event);
    this.strokes.push([start]);
    this.dot(start);
    this.onChange(false);
  }

  extend(event) {
    if (event.pointerId !== this.active) return;
    event.preventDefault();
    const stroke = this.strokes[this.strokes.length - 1];
    // A fast pen reports more points than there are animation frames: take them all.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const each of events.length ? events : [event]) {
      const [x, y] = this.point(each);
      this.segment(stroke[stroke.length - 1], [x, y]);
      stroke.push([x, y]);
    }
    this.onChange(false);
  }

  finish(event) {
    if (event.pointerId !== this.active) return;
    this.active = null;
    this.onChange(true);
  }

  undo() {
    if (this.active !== null) return;
    this.strokes.pop();
    this.redraw();
    this.onChange(true);
  }

  clear() {
    if (this.active !== null) return;
    this.strokes = [];
    this.redraw();
    this.onChange(true);
  }

  pen() {
    const context = this.context;
    context.strokeStyle = INK;
    context.fillStyle = INK;
    context.lineWidth = MARKER * this.canvas.width;
    context.lineCap = "round";
    context.lineJoin = "round";
    return context;
  }

  // A stroke is drawn as it was drawn live: a dot where it started, then each segment, so that
  // redrawing it (after an Undo) gives the very same pixels.
  dot(point) {
    const context = this.pen();
    context.beginPath();
    context.arc(...point, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fill();
  }

  segment(from, to) {
    const context = this.pen();
    context.beginPath();
    context.moveTo(...from);
    context.lineTo(...to);
    context.stroke();
  }

  drawStroke(stroke) {
    this.dot(stroke[0]);
    for (let k = 1; k < stroke.length; k++) this.segment(stroke[k - 1], stroke[k]);
  }

  redraw() {
    this.context.fillStyle = PAPER;
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    for (const stroke of this.strokes) this.drawStroke(stroke);
  }

  // The drawing as a PNG file (a Blob), as the server reads any image.
  png() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}
