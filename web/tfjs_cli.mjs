// node web/tfjs_cli.mjs FOLDER
//
// Runs TF.js graph models (made by `python evaluation/export.py --formats tfjs` or `python web/build.py`)
// in Node with @tensorflow/tfjs as pinned in web/package-lock.json: pure JavaScript ("cpu" backend) or
// WebAssembly ("wasm", the page's backend), no native addon.  digitlab.serving.export.tfjs_run writes
// the job and reads the answer; the tests hold the results against Keras and Python's abstain rule.
//
// Reads FOLDER/job.json:
//   {models: {name: "/abs/path/to/model folder"}, images: "images.f32", n: N,
//    backend: "wasm" | "cpu", latency_runs: R,
//    judge: null | {classifier: name, gate: name | null, rule: {temperature, threshold} | null, gate_threshold,
//                   writing: "default" | "continental" (optional, default "default")}}
// with the (N, 28, 28) float32 little-endian inputs in FOLDER/<images>.  Writes, per model, its output
// (N, 10) or (N,) as float32 to FOLDER/<name>.f32, and FOLDER/result.json:
//   {tfjs, backend, node, models: {name: {file, shape, load_ms, latency_ms}}, judgements: [...] | null}
// latency_ms is the median of R single-image calls (input tensor, model, read back) after 5 warm-ups.
// The judgements are the page's: judge(probs, ...), the model's probabilities read as the writer
// writes 1 and 7 before the rule (abstain.js), each {label, abstain, reason, message}.
// A failure exits 1 with one line on stderr.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { judge, readAs } from "./abstain.js";

const BATCH = 256;

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

const folder = process.argv[2];
if (!folder) fail("usage: node web/tfjs_cli.mjs FOLDER (with FOLDER/job.json)");
const job = JSON.parse(readFileSync(join(folder, "job.json"), "utf8"));
if (!["wasm", "cpu"].includes(job.backend)) fail(`backend must be "wasm" or "cpu", not ${JSON.stringify(job.backend)}`);

// tfjs greets Node users with a hint about its native addon on stdout; this runner must not use it.
const log = console.log;
console.log = () => {};
const tf = await import("@tensorflow/tfjs");
await import("@tensorflow/tfjs-backend-wasm");
console.log = log;
if (!(await tf.setBackend(job.backend))) fail(`the ${job.backend} backend of @tensorflow/tfjs did not start`);
await tf.ready();

/** A graph model folder from disk: model.json and its weight shards, in the manifest's order. */
async function loadFolder(dir) {
  const model = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
  const shards = model.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dir, p))));
  const all = Buffer.concat(shards);
  const artifacts = {
    ...model,
    weightSpecs: model.weightsManifest.flatMap((group) => group.weights),
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
  delete artifacts.weightsManifest;
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}

/** The model's one output (named in its signature) for (n, 28, 28) inputs, as a typed array. */
function run(model, output, x, n) {
  return tf.tidy(() => model.execute(tf.tensor3d(x, [n, 28, 28]), output)).dataSync();
}

const images = new Float32Array(new Uint8Array(readFileSync(join(folder, job.images))).buffer);
const n = job.n;
if (images.length !== n * 784) fail(`${job.images}: ${images.length} floats, expected ${n} x 784`);

const result = { tfjs: tf.version.tfjs, backend: tf.getBackend(), node: process.version, models: {}, judgements: null };
const outputs = {};
for (const [name, dir] of Object.entries(job.models)) {
  const t0 = performance.now();
  let model;
  try {
    model = await loadFolder(dir);
  } catch (e) {
    fail(`${dir}: ${e.message}`);
  }
  const output = Object.keys(model.signature.outputs)[0];
  run(model, output, images.subarray(0, 784), 1); // the first call compiles the backend's kernels
  const loadMs = performance.now() - t0;
  const perImage = output === "p_digit" ? 1 : 10;
  const out = new Float32Array(n * perImage);
  for (let i = 0; i < n; i += BATCH) {
    const m = Math.min(BATCH, n - i);
    const y = run(model, output, images.subarray(i * 784, (i + m) * 784), m);
    if (y.length !== m * perImage) fail(`${dir}: ${y.length} outputs for ${m} images, expected ${m * perImage}`);
    out.set(y, i * perImage);
  }
  let latency = null;
  if (job.latency_runs > 0) {
    const times = [];
    for (let r = -5; r < job.latency_runs; r++) {
      const k = ((r + 5) % n) * 784;
      const t = performance.now();
      run(model, output, images.subarray(k, k + 784), 1);
      if (r >= 0) times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    latency = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  }
  const file = `${name}.f32`;
  writeFileSync(join(folder, file), new Uint8Array(out.buffer));
  outputs[name] = out;
  result.models[name] = { file, shape: perImage === 1 ? [n] : [n, 10], load_ms: loadMs, latency_ms: latency };
  model.dispose();
}

if (job.judge) {
  const { classifier, gate, rule, gate_threshold: gateThreshold, writing = "default" } = job.judge;
  if (!outputs[classifier]) fail(`judge: no model named ${classifier} in the job`);
  try {
    readAs(new Float32Array(10), writing);
  } catch (e) {
    fail(`judge: ${e.message}`);
  }
  if (gate && !outputs[gate]) fail(`judge: no gate named ${gate} in the job`);
  result.judgements = [];
  for (let i = 0; i < n; i++) {
    const probs = outputs[classifier].subarray(i * 10, i * 10 + 10);
    const { label, abstain, reason, message } = judge(readAs(probs, writing), gate ? outputs[gate][i] : null, rule, gateThreshold);
    result.judgements.push({ label, abstain, reason, message });
  }
}

writeFileSync(join(folder, "result.json"), JSON.stringify(result));
