// node web/prepare_cli.mjs FOLDER
//
// Runs web/preprocess.js under Node (no browser) on canvas pictures, so tests/test_preprocess_js.py
// can hold the port against digitlab.preprocess.prepare on the very same pixels.
//
// Reads FOLDER/pictures.json: [{width, height, invert, rgba, decoded, jpeg}], rgba the name of a file
// of width * height * 4 raw RGBA bytes in FOLDER, or null for an all-zero picture (a size check
// needs no pixels); decoded: the bytes are a decoded picture file (an upload: prepareDecoded, with file the
// name in FOLDER of the file itself, which the port tells a JPEG by (isJpeg) and reads the PNG text chunks of
// (pngText: DRAWN_ON_TAG and INK_TAG); without a file, jpeg says whether it was a JPEG), otherwise canvas bytes
// (prepare, with drawnOn when given: a drawing on a canvas of that tone).  Writes FOLDER/prepared.json:
//
//   {constants: every exported value of preprocess.js that is not a function,
//    results: one per picture, in order: {noInk, inverted, notes, bbox, image, steps: [{title, h, w, file}],
//             paperShift, refusal, jpeg}
//             or {error: message, jpeg} when pngText or prepare throws ImageError}
//
// with the 28x28 image (null when noInk) and each step's image as raw float32 (this machine's
// byte order) in FOLDER/<file>.  Only the port's own exports are called: no recipe code here.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import * as preprocess from "./preprocess.js";

const folder = process.argv[2];
if (!folder) {
  console.error("usage: node web/prepare_cli.mjs FOLDER (with FOLDER/pictures.json)");
  process.exit(2);
}

const constants = Object.fromEntries(Object.entries(preprocess).filter(([, v]) => typeof v !== "function"));
const pictures = JSON.parse(readFileSync(join(folder, "pictures.json"), "utf8"));

const results = [];
for (const [i, { width, height, invert, rgba, decoded = false, jpeg = false, drawnOn = null, file = null }] of pictures.entries()) {
  const bytes = rgba === null ? new Uint8Array(width * height * 4) : new Uint8Array(readFileSync(join(folder, rgba)));
  results.push(await prepareOne(i, bytes, { width, height, invert, decoded, jpeg, drawnOn, file }));
}

async function prepareOne(i, bytes, { width, height, invert, decoded, jpeg, drawnOn, file }) {
  const fileBytes = file === null ? null : new Uint8Array(readFileSync(join(folder, file)));
  const isJpeg = fileBytes === null ? jpeg : preprocess.isJpeg(fileBytes); // a file is told by its bytes, as the page does
  let p;
  try {
    const text = fileBytes === null ? {} : await preprocess.pngText(fileBytes);
    const [said, ink] = [text[preprocess.DRAWN_ON_TAG] ?? null, text[preprocess.INK_TAG] ?? null];
    p = decoded ? preprocess.prepareDecoded(bytes, width, height, { invert, jpeg: isJpeg, said, ink }) : preprocess.prepare(bytes, width, height, { invert, drawnOn });
  } catch (e) {
    if (e instanceof preprocess.ImageError) return { error: e.message, jpeg: isJpeg };
    throw e;
  }
  const save = (name, data) => {
    writeFileSync(join(folder, name), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return name;
  };
  const steps = p.steps.map(([title, { data, h, w }], k) => ({ title, h, w, file: save(`picture${i}.step${k}.f32`, data) }));
  const image = p.image === null ? null : save(`picture${i}.f32`, p.image);
  return { noInk: p.noInk, inverted: p.inverted, notes: p.notes, bbox: p.bbox, image, steps, paperShift: p.paperShift, refusal: p.refusal, jpeg: isJpeg };
}

writeFileSync(join(folder, "prepared.json"), JSON.stringify({ constants, results }));
