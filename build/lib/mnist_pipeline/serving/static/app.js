// The drawing page: strokes on a white canvas are sent as a PNG to the image endpoint, the same
// path a photo takes, and the three best classes are shown while drawing.
"use strict";
const modelName = document.querySelector('meta[name="model-name"]').content;
const endpoint = `/v1/models/${encodeURIComponent(modelName)}:classify-image?k=3`;
const pad = document.getElementById("pad");
const context = pad.getContext("2d");
const guesses = document.getElementById("guesses");
const message = document.getElementById("message");
let drawing = false;
let inFlight = false;
let pending = false;
let hasInk = false;

function clearPad() {
  context.fillStyle = "#fff";
  context.fillRect(0, 0, pad.width, pad.height);
  context.lineWidth = 18;
  context.lineCap = "round";
  context.lineJoin = "round";
  context.strokeStyle = "#000";
  hasInk = false;
  guesses.replaceChildren();
  message.textContent = "";
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function show(result) {
  guesses.replaceChildren(...result.top.map((guess) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = guess.label;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, guess.probability * 100)}%`;
    const value = document.createElement("span");
    value.textContent = `${(guess.probability * 100).toFixed(1)}%`;
    item.append(name, bar, value);
    return item;
  }));
  message.textContent = "";
}

async function classify(blob) {
  const response = await fetch(endpoint, { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
  const result = await response.json();
  if (response.ok) {
    show(result);
  } else {
    guesses.replaceChildren();
    message.textContent = result.error;
  }
}

// At most one request at a time; strokes made meanwhile are sent once it returns.
function classifyDrawing() {
  if (!hasInk) return;
  if (inFlight) { pending = true; return; }
  inFlight = true;
  pad.toBlob(async (blob) => {
    try { await classify(blob); } catch (error) { message.textContent = `cannot reach the server (${error})`; }
    inFlight = false;
    if (pending) { pending = false; classifyDrawing(); }
  }, "image/png");
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  context.beginPath();
  context.moveTo(x, y);
  context.lineTo(x, y);
  context.stroke();
  hasInk = true;
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  context.lineTo(x, y);
  context.stroke();
  classifyDrawing();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (drawing) { drawing = false; classifyDrawing(); } });
}
document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) classify(file).catch((error) => { message.textContent = `cannot reach the server (${error})`; });
});
clearPad();
