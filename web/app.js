// The page: a drawing canvas -> preprocess.js (the port of digitlab.preprocess) -> the model, in
// onnxruntime-web (default) or TensorFlow.js, both WebAssembly -> the "not a digit" rule (abstain.js,
// the port of digitlab.serving.abstain, with the digit gate run in the same runtime), on the model's probabilities
// read as the writer says they write 1 and 7 (abstain.js readAs, the port of digitlab.serving.writing).
// Layout and events only; the recipe lives in preprocess.js and abstain.js, the models in model/
// (built by web/build.py).  Everything is loaded from this server: no CDN, works offline.

import { forLocale, judge, readAs, runnerUp } from "./abstain.js";
import { DRAWN_ON_TAG, ImageError, INK_TAG, isJpeg, MAX_PIXELS, PREPROCESS_VERSION, pngText, prepare, prepareDecoded } from "./preprocess.js";

const ORT_DIR = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;
const TFJS_SCRIPTS = [
  new URL("./node_modules/@tensorflow/tfjs/dist/tf.min.js", import.meta.url).href,
  new URL("./node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js", import.meta.url).href,
];
const TFJS_WASM_DIR = new URL("./node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).href;
const PAPER = "#ffffff";
const INK = "#000000";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });

// Shared with the browser test and handy in the console: the last result and every timing.
const state = {
  runtime: null, model: null, gate: null, info: null, gateInfo: null, loaded: {},
  predictions: 0, last: null, timings: [], error: null,
};
window.digitlab = state;

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = kind;
  el.className = kind === "error" ? "error" : "muted";
  if (kind === "error") state.error = text;
}

// ----------------------------------------------------------------------------- drawing

function clearPad() {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, pad.width, pad.height);
  plainPaper = true;
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

let stroke = null; // last point of the stroke being drawn
// An uploaded picture at its own size ({rgba, width, height, jpeg, name}): predicted from its own pixels, as the
// app and the CLI read the file; the canvas only shows it.  A stroke drawn over it, or Clear, predicts the canvas.
let picture = null;
// The canvas holds only strokes on its white paper (no picture shown on it): every pixel off the paper is ink.
let plainPaper = true;

pad.addEventListener("pointerdown", (e) => {
  pad.setPointerCapture(e.pointerId);
  picture = null;
  stroke = point(e);
  ctx.fillStyle = INK;
  ctx.beginPath();
  ctx.arc(stroke[0], stroke[1], $("brush").value / 2, 0, 2 * Math.PI);
  ctx.fill();
});

pad.addEventListener("pointermove", (e) => {
  if (!stroke) return;
  const p = point(e);
  ctx.strokeStyle = INK;
  ctx.lineWidth = $("brush").value;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...stroke);
  ctx.lineTo(...p);
  ctx.stroke();
  stroke = p;
});

function endStroke() {
  if (!stroke) return;
  stroke = null;
  schedule(); // predict when a stroke ends
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

$("clear").addEventListener("click", () => {
  picture = null;
  clearPad();
  schedule();
});
$("brush").addEventListener("input", () => ($("brushValue").textContent = $("brush").value));
$("invert").addEventListener("change", () => schedule());
$("writing").value = forLocale(navigator.language); // where the browser's language suggests; the writer changes it
$("writing").addEventListener("change", () => schedule());

/** Draw a picture onto the canvas, fitted and centred; the margins take the picture's corner colour. */
function drawPicture(bitmap) {
  const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = Math.max(1, Math.round(bitmap.width * s));
  const h = Math.max(1, Math.round(bitmap.height * s));
  const x = Math.floor((pad.width - w) / 2);
  const y = Math.floor((pad.height - h) / 2);
  clearPad();
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, x, y, w, h);
  plainPaper = false; // strokes drawn over it land on a picture, not on the paper
  if (w < pad.width || h < pad.height) {
    const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
    ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fillRect(0, 0, pad.width, y);
    ctx.fillRect(0, y + h, pad.width, pad.height - y - h);
    ctx.fillRect(0, 0, x, pad.height);
    ctx.fillRect(x + w, 0, pad.width - x - w, pad.height);
  }
}

$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  let bitmap;
  try {
    // upright (EXIF orientation applied, as digitlab.pictures does), its stored colours, alpha not premultiplied
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    showProblem(`${file.name}: not a picture this browser can read (PNG, JPEG, WebP, GIF, BMP)`);
    return;
  } finally {
    $("upload").value = ""; // choosing the same file again reloads it
  }
  if (bitmap.width * bitmap.height > MAX_PIXELS) {
    picture = null;
    showProblem(`${file.name}: image is ${bitmap.width}x${bitmap.height} pixels; the limit is ${MAX_PIXELS / 1e6} megapixels`);
    return;
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  const jpeg = isJpeg(bytes); // by its bytes, as Pillow tells: a PNG named .jpg is a PNG
  let text;
  try {
    text = await pngText(bytes);
  } catch (e) {
    if (!(e instanceof ImageError)) throw e;
    picture = null;
    bitmap.close();
    showProblem(`${file.name}: ${e.message}`);
    return;
  }
  const said = text[DRAWN_ON_TAG] ?? null; // a Collect drawing says so
  const ink = text[INK_TAG] ?? null; // a picture kept on Home with its Ink set by hand says how its ink is
  picture = { ...pixelsOf(bitmap), jpeg, said, ink, name: file.name };
  drawPicture(bitmap);
  bitmap.close();
  schedule();
});

/** A decoded picture's RGBA bytes at its own size. */
function pixelsOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const c = canvas.getContext("2d", { willReadFrequently: true });
  c.drawImage(bitmap, 0, 0);
  return { rgba: c.getImageData(0, 0, bitmap.width, bitmap.height).data, width: bitmap.width, height: bitmap.height };
}

// ----------------------------------------------------------------------------- runtimes

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement("script"), { src, async: false });
    el.onload = resolve;
    el.onerror = () => reject(new Error(`${src} could not be loaded`));
    document.head.append(el);
  });
}

/**
 * Each runtime: start() once, then load(file, output) -> run(Float32Array(784)) -> Float32Array of that
 * output (10 probabilities, or the gate's one P(digit)).  Both run on WebAssembly, one thread.
 */
const RUNTIMES = {
  onnx: {
    label: "onnxruntime-web",
    async start() {
      let ort;
      try {
        ort = await import(ORT_DIR + "ort.wasm.min.mjs");
      } catch (e) {
        throw new Error(`onnxruntime-web is not installed next to this page (run \`npm ci --prefix web\`): ${e.message}`);
      }
      ort.env.wasm.wasmPaths = ORT_DIR; // the .wasm comes from this server, never a CDN
      ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is plenty for a 28x28 CNN
      ort.env.wasm.proxy = false;
      this.ort = ort;
      this.describe = `onnxruntime-web ${ort.env.versions.web}, WebAssembly, 1 thread`;
    },
    async load(file, output) {
      const bytes = new Uint8Array(await (await fetchOk(`model/${file}`)).arrayBuffer());
      const session = await this.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      if (!session.inputNames.includes("image") || !session.outputNames.includes(output)) {
        throw new Error(`model/${file} has inputs ${session.inputNames} and outputs ${session.outputNames}, not image -> ${output}`);
      }
      return async (image) => {
        const out = await session.run({ image: new this.ort.Tensor("float32", image, [1, 28, 28]) });
        return Float32Array.from(out[output].data);
      };
    },
  },
  tfjs: {
    label: "TensorFlow.js",
    async start() {
      try {
        for (const src of TFJS_SCRIPTS) await loadScript(src);
      } catch (e) {
        throw new Error(`TensorFlow.js is not installed next to this page (run \`npm ci --prefix web\`): ${e.message}`);
      }
      const tf = window.tf;
      tf.wasm.setWasmPaths(TFJS_WASM_DIR); // the .wasm comes from this server, never a CDN
      tf.wasm.setThreadsCount?.(1);
      if (!(await tf.setBackend("wasm"))) throw new Error("the WebAssembly backend of TensorFlow.js did not start");
      await tf.ready();
      this.tf = tf;
      this.describe = `TensorFlow.js ${tf.version.tfjs}, WebAssembly backend`;
    },
    async load(file, output) {
      const tf = this.tf;
      const model = await tf.loadGraphModel(`model/${file}`);
      const outputs = Object.keys(model.signature?.outputs ?? {});
      if (!model.signature?.inputs?.image || !outputs.includes(output)) {
        throw new Error(`model/${file} has the signature ${JSON.stringify(model.signature)}, not image -> ${output}`);
      }
      return async (image) => {
        const y = tf.tidy(() => model.execute(tf.tensor3d(image, [1, 28, 28]), output));
        const data = await y.data();
        y.dispose();
        return Float32Array.from(data);
      };
    },
  },
};

/** The page's files for one runtime: the model's and the gate's (null when that runtime has no gate file). */
function runtimeFiles(runtime, info, gateInfo) {
  const model = runtime === "onnx" ? info.onnx : info.tfjs?.model;
  if (!model) throw new Error(`model ${info.name} has no ${RUNTIMES[runtime].label} files: rebuild it with \`python web/build.py --model ${info.name}\``);
  const gate = gateInfo?.[runtime]?.model ?? null;
  return { model, gate };
}

async function loadModel(name, runtime) {
  const t0 = performance.now();
  setStatus(`Loading ${name} (${RUNTIMES[runtime].label})…`, "loading");
  state.model = null;
  const info = await (await fetchOk(`model/${name}.json`)).json();
  if (info.preprocess_version !== PREPROCESS_VERSION) {
    throw new Error(`model ${name} expects preprocessing ${info.preprocess_version}, this page implements ${PREPROCESS_VERSION}: rebuild it with \`python web/build.py --model ${name}\``);
  }
  let gateInfo = null;
  try {
    gateInfo = info.gate ? await (await fetchOk(`model/${info.gate}`)).json() : null;
  } catch {
    gateInfo = null; // like Python without its gate: the confidence threshold alone, and the verdict says so
  }
  if (gateInfo && gateInfo.preprocess_version !== PREPROCESS_VERSION) gateInfo = null;
  const rt = RUNTIMES[runtime];
  if (!state.loaded[runtime]) state.loaded[runtime] = rt.start();
  await state.loaded[runtime];
  const files = runtimeFiles(runtime, info, gateInfo);
  const model = await rt.load(files.model, info.output.name);
  const gate = files.gate ? await rt.load(files.gate, gateInfo.output.name) : null;
  Object.assign(state, { model, gate, info, gateInfo: gate ? gateInfo : null, runtime });
  // For measurements (web/bench.py): this load, runtime start-up included the first time, and when the page got here.
  state.load = { runtime, ms: performance.now() - t0, readyAtMs: performance.now() };
  const acc = info.test_accuracy == null ? "" : ` (MNIST test ${(100 * info.test_accuracy).toFixed(2)}%)`;
  const rule = gate ? "with the digit gate" : "no digit gate";
  setStatus(`Model ${name}${acc} ready · ${rt.describe} · ${rule} · draw a digit`, "ready");
}

function reload() {
  state.ready = loadModel($("model").value, $("runtime").value).catch((e) => setStatus(e.message, "error"));
  return state.ready.then(schedule);
}

async function start() {
  clearPad();
  try {
    const index = await (await fetchOk("model/index.json")).json();
    const select = $("model");
    for (const name of index.models) select.add(new Option(name, name, false, name === index.default));
    const wanted = new URLSearchParams(location.search).get("runtime");
    if (wanted && RUNTIMES[wanted]) $("runtime").value = wanted;
    select.addEventListener("change", reload);
    $("runtime").addEventListener("change", reload);
    await loadModel(index.default, $("runtime").value);
  } catch (e) {
    setStatus(e.message, "error"); // the page stays usable for drawing; predictions wait for a model
  }
}
state.ready = start();

// ----------------------------------------------------------------------------- predicting

/** RGBA pixels (the canvas', or an uploaded picture's when `jpeg` is not undefined) -> prepared input,
 * probabilities, the gate's P(digit) and the verdict, with times.  drawnOn: the canvas' tone when it holds a drawing
 * on plain paper; said, ink: an uploaded PNG's DRAWN_ON_TAG and INK_TAG texts; writing: how the writer writes 1 and 7 (abstain.js
 * WRITINGS), which the verdict reads the probabilities as (Python's `predictions(..., writing=)`). */
async function classify(rgba, width, height, invert, jpeg, { drawnOn = null, said = null, ink = null, writing = "default" } = {}) {
  const t0 = performance.now();
  const prepared = jpeg === undefined ? prepare(rgba, width, height, { invert, drawnOn }) : prepareDecoded(rgba, width, height, { invert, jpeg, said, ink });
  const t1 = performance.now();
  let probs = null;
  let pDigit = null;
  let verdict = null;
  if (!prepared.noInk) {
    probs = await state.model(prepared.image);
    pDigit = state.gate ? (await state.gate(prepared.image))[0] : null;
    verdict = judge(readAs(probs, writing), pDigit, state.info.abstain, state.gateInfo?.threshold, prepared.refusal);
  }
  return { prepared, probs, pDigit, verdict, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
}

let running = null;
let again = false;

/** Predict the canvas now, or right after the prediction in flight (never two at once). */
function schedule() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      await state.ready;
      do {
        again = false;
        if (state.model) await predictCanvas();
      } while (again);
    } finally {
      running = null;
    }
  })();
  return running;
}
state.schedule = schedule;

/** What is predicted: the uploaded picture at its own size, or the canvas. */
function source() {
  if (picture) return { ...picture, kind: "picture" };
  // strokes on the plain paper: black on white, every pixel off the paper ink (preprocess.prepare's drawn_on = 1)
  const drawnOn = plainPaper ? 1 : null;
  return { rgba: ctx.getImageData(0, 0, pad.width, pad.height).data, width: pad.width, height: pad.height, jpeg: undefined, kind: "canvas", drawnOn };
}

async function predictCanvas() {
  const { rgba, width, height, jpeg, kind, drawnOn = null, said = null, ink = null } = source();
  const invert = $("invert").value;
  const writing = $("writing").value;
  let r;
  try {
    r = await classify(rgba, width, height, invert, jpeg, { drawnOn, said, ink, writing });
  } catch (e) {
    showProblem(e instanceof ImageError ? e.message : `prediction failed: ${e.message}`);
    return;
  }
  const { prepared, probs, verdict } = r;
  const label = probs ? probs.indexOf(Math.max(...probs)) : null;
  // The setting changed the answer: the model alone reads another digit (Python's Prediction.by_writing).
  const byWriting = writing !== "default" && verdict !== null && verdict.label !== label;
  // On the default setting, the digit a continental writer would be shown where it differs (the app's hint), else null.
  const read = verdict && writing === "default" ? readAs(probs, "continental") : null;
  const continental = read ? read.indexOf(Math.max(...read)) : null;
  const other = continental !== null && continental !== verdict.label ? continental : null;
  state.timings.push({ preprocessMs: r.preprocessMs, inferenceMs: r.inferenceMs, runtime: state.runtime });
  state.last = {
    rgba, width, height, source: kind, jpeg: jpeg ?? null, invert, drawnOn, said, ink, model: state.info.name, runtime: state.runtime,
    writing, byWriting,
    image: prepared.image ? Array.from(prepared.image) : null,
    noInk: prepared.noInk, inverted: prepared.inverted, notes: prepared.notes,
    probs: probs ? Array.from(probs) : null, label, pDigit: r.pDigit,
    calibrated: verdict ? Array.from(verdict.calibrated) : null,
    verdict: verdict && { label: verdict.label, abstain: verdict.abstain, reason: verdict.reason, message: verdict.message },
    preprocessMs: r.preprocessMs, inferenceMs: r.inferenceMs,
  }; // prettier-ignore
  render(prepared, probs, label, verdict, r, byWriting ? writing : null, other);
  state.predictions += 1;
  $("result").dataset.count = String(state.predictions);
}

/** Run the current canvas `n` times (after one warm-up) and return every timing, for measurements. */
state.measure = async (n = 50) => {
  await state.ready;
  const { rgba, width, height, jpeg, drawnOn = null, said = null, ink = null } = source();
  const invert = $("invert").value;
  const writing = $("writing").value;
  await classify(rgba, width, height, invert, jpeg, { drawnOn, said, ink, writing });
  const runs = [];
  for (let i = 0; i < n; i++) {
    const r = await classify(rgba, width, height, invert, jpeg, { drawnOn, said, ink, writing });
    runs.push({ preprocessMs: r.preprocessMs, inferenceMs: r.inferenceMs });
  }
  return runs;
};

/** The RGBA bytes of the last prediction (the canvas', or the uploaded picture's) as base64 (for comparing with Python). */
state.lastRGBABase64 = () => {
  const bytes = state.last.rgba;
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};

// ----------------------------------------------------------------------------- rendering

function paintGrey(canvas, img) {
  canvas.width = img.w;
  canvas.height = img.h;
  const c = canvas.getContext("2d");
  const out = c.createImageData(img.w, img.h);
  for (let i = 0; i < img.data.length; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, img.data[i])));
    out.data[4 * i] = out.data[4 * i + 1] = out.data[4 * i + 2] = v;
    out.data[4 * i + 3] = 255;
  }
  c.putImageData(out, 0, 0);
}

function showProblem(text) {
  $("label").textContent = "–";
  $("label").className = "";
  $("label").dataset.verdict = "problem";
  $("verdict").textContent = "";
  $("byWriting").hidden = true;
  $("notes").textContent = text;
  $("notes").className = "error";
}

const CALIBRATED_NOTE = "Confidences are calibrated: of the answers shown at 90%, about 90% are right on held-out MNIST digits " +
  "(the model's scores divided by the temperature in its card), the scale the app and the rule use.";

/** The app's captions about the writing setting: `writing` changed the answer and the model alone reads `label`; or, on the
 * default setting, continental hands would mean `other` (null: nothing to say). */
function showByWriting(writing, label, other = null) {
  const el = $("byWriting");
  el.hidden = writing === null && other === null;
  el.replaceChildren();
  const setting = Object.assign(document.createElement("em"), { textContent: "How you write 1 and 7" });
  if (writing !== null) {
    const name = [...$("writing").options].find((o) => o.value === writing).text.toLowerCase(); // the app's label, lower case
    el.append(`Read as ${name} hands write: on its own the model reads a ${label} (the setting `, setting, ").");
  } else if (other !== null) {
    el.append(`Continental hands would mean a ${other} here (a 1 with a long up-stroke): if you write that way, say so in the setting `,
      setting, ".");
  }
}

/** The prediction; byWriting: the writing that changed the answer (null when it did not), noted as the app notes it;
 * other: on the default setting, the digit continental hands would mean (null: the same). */
function render(prepared, probs, label, verdict, r, byWriting = null, other = null) {
  const input = $("input28");
  if (prepared.image) paintGrey(input, { data: prepared.image, h: 28, w: 28 });
  else input.getContext("2d").clearRect(0, 0, input.width, input.height);
  // One scale everywhere, as in the app: the card's calibrated probabilities (the model's own without a temperature).
  const shownProbs = verdict ? verdict.calibrated : null;
  const refused = Boolean(verdict?.abstain);
  const pct = (p) => `${(100 * p).toFixed(1)}%`;
  let text = "–";
  let line = "";
  if (verdict) {
    const reason = `${verdict.reason[0].toUpperCase()}${verdict.reason.slice(1)}`;
    const hesitation = runnerUp(shownProbs, verdict.label);
    if (refused) {
      text = "Not sure this is a digit";
      line = `${reason}. Best guess: ${verdict.label} (${pct(shownProbs[verdict.label])}).`;
    } else if (hesitation.close) {
      text = `${verdict.label} or ${hesitation.second}?`;
      line = `${verdict.label}: ${pct(shownProbs[verdict.label])} · ${hesitation.second}: ${pct(hesitation.p)}. ${reason}.`;
    } else {
      text = `${verdict.label}  ·  ${pct(shownProbs[verdict.label])}`;
      line = `${reason}.`;
    }
  }
  $("label").textContent = text;
  $("label").className = refused ? "refused" : "";
  $("label").dataset.verdict = !probs ? "no-ink" : refused ? "abstain" : "digit";
  $("verdict").textContent = line;
  showByWriting(refused ? null : byWriting, label, refused ? null : other); // the app says it with a digit, not with a refusal's best guess
  const result = $("result");
  result.replaceChildren();
  if (shownProbs) {
    shownProbs.forEach((p, d) => {
      const row = document.createElement("div");
      row.className = d === verdict.label ? "bar top" : "bar";
      row.dataset.digit = String(d);
      row.innerHTML = `<span>${state.info.classes[d]}</span><div class="track"><div class="fill"></div></div><span>${(100 * p).toFixed(2)}%</span>`;
      row.querySelector(".fill").style.width = `${100 * p}%`;
      result.append(row);
    });
  }
  $("scale").textContent = !shownProbs ? "" : state.info.abstain?.temperature ? CALIBRATED_NOTE
    : "Confidences as the model gives them: its card has no calibration.";
  $("timing").textContent = `preprocessing ${r.preprocessMs.toFixed(1)} ms · inference ${r.inferenceMs.toFixed(1)} ms (${RUNTIMES[state.runtime].label}, in this browser)`;
  const notes = $("notes");
  notes.className = "muted";
  notes.textContent = prepared.noInk ? prepared.notes.at(-1) : prepared.notes.join(" · ");
  const steps = $("steps");
  steps.replaceChildren();
  for (const [title, img] of prepared.steps) {
    const fig = document.createElement("figure");
    const c = document.createElement("canvas");
    paintGrey(c, img);
    fig.append(c, Object.assign(document.createElement("figcaption"), { textContent: title }));
    steps.append(fig);
  }
}
