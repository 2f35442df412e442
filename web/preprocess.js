// A JavaScript port of digitlab.preprocess.prepare for canvas pictures (RGBA bytes).
//
// Same recipe, same constants, same order as digitlab/preprocess.py (the PREPROCESS_VERSION below):
//
//   RGBA -> grey (OpenCV's fixed-point RGBA2GRAY), transparency composited (paper cut out on
//     transparency onto its own tone, strokes onto the opposite colour)
//   shrink to 400 px (area resampling) when larger
//   polarity (auto: ink drawn on transparency by the tone it was composited onto, else the
//     median-filtered border vs extremes) -> light ink on dark
//   remove background: top-hat on uneven paper, median level + 5 robust sigmas, stretch (ink
//     drawn on transparency: its background's tone, no photo); in a scan, faint ink down to 3.5 sigmas where it runs
//     on from that ink
//   a form's printed box around the writing dropped (not on a canvas drawing)
//   drop specks (8-connected blobs tiny next to the largest), then a form's printed line apart from the
//     writing (not on a canvas drawing); keep faint pixels only near ink or where they run on from it
//   a small digit in a picture shrunk at least twice: the region around its ink cut from the
//     picture as handed over, shrunk to 400 px when larger, and the two steps above redone on it
//   "no ink" when the contrast or the ink area is too small (a photo read as light ink: the contrast
//     before its headroom was stretched too)
//   the marks around the digit left out (an underline, a full stop, a tick or small cross beside it, a ruling line or a
//     neighbouring cell's ink at the edge; not on a canvas drawing)
//   crop to the ink, normalise the stroke width at 80 px (ellipse erosion / dilation),
//   fit into 20x20 (area when shrinking, bilinear when enlarging), paste into 28x28
//   with the centre of mass at (14, 14)
//
// The OpenCV primitives the recipe relies on are re-implemented with OpenCV's own
// conventions, because the result has to match Python's, not just look alike:
// cvtColor's integer coefficients, cv2.resize INTER_AREA's weight table and INTER_LINEAR's
// pixel-centre mapping, morphology windows anchored at k // 2 with the outside ignored,
// getStructuringElement's ellipse, findContours' border following (Suzuki & Abe) and
// arcLength for the stroke width, Python's round-half-to-even, NumPy's median and
// linear percentile.  Arrays are Float32Array so values round like NumPy's float32.
//
// Two entry points.  prepare(): the canvas' RGBA bytes, read as digitlab.pictures reads a numpy
// array.  prepareDecoded(): an uploaded file the browser decoded at its own size, read as
// digitlab.pictures reads the file -- shrunk by an integer factor when it is at least twice the
// work size (Pillow's Image.reduce, a JPEG first at libjpeg's draft scale, approximated by a block
// mean), grey by pictures._luma, a small digit's region read again from the full-size pixels -- so
// a photo gets the 28x28 input the app and the CLI give it (a copy shrunk onto the 280 px canvas
// with margins of its corner's colour lost part of a half-shadowed digit).
// Not ported: decoding itself (the browser does it; a JPEG's pixels may differ from libjpeg's by
// a grey level), 16-bit and float pictures, which a browser hands over as 8 bits.
//
// Pure functions, no DOM: runs in the page and under node.

export const PREPROCESS_VERSION = "1.16";
export const BLANK_DRAWING = "no digit found: nothing is drawn (every pixel is the background's tone): draw one digit";
export const SIZE = 28;
export const BOX = 20;
export const CENTRE = 14.0;
export const MAX_PIXELS = 40_000_000;
export const MIN_SIDE = 8;
export const WORK_SIDE = 400;
export const MIN_CONTRAST = 0.12;
export const MIN_INK_FRACTION = 0.0002;
export const DRAWN_BORDER = 0.8;
export const BORDER_SPREAD = 0.1;
export const POLARITY_STEP = 0.08;
export const LIGHT_FLOOR = 0.05;
export const NOISE_SIGMAS = 5.0;
export const WEAK_SIGMAS = 3.5;
export const FRAME_BAND = 0.08;
export const FRAME_COVER = 0.95;
export const FRAME_INSIDE = 0.3;
export const RULE_TILT = 0.08;
export const RULE_THICK = 0.05;
export const RULE_STRAIGHT = 1.5;
export const RULE_LONGER = 2.0;
export const RULE_SLIVER = 0.1;
export const FAINT_RUN = 0.1;
export const INK_LEVEL = 0.25;
export const SMALL_INK = 0.1;
export const ZOOM_GAIN = 2;
export const PAPER_COVER = 0.25;
export const PAPER_INK = 0.01;
export const DRAWN_ON_TAG = "digitlab:drawn-on";
export const DRAWN_ON_TONES = { white: 1.0, black: 0.0 };
export const INK_TAG = "digitlab:ink"; // a PNG text chunk: how the ink is, as the person who kept the picture set it by hand
export const INK_SAID = { dark: "yes", light: "no" }; // its values -> prepare's invert: dark ink on light paper, light on dark
export const TEXT_CHUNK_LIMIT = 1_048_576; // Pillow's limits on a PNG's texts (PngImagePlugin.MAX_TEXT_CHUNK): one compressed text unpacked...
export const TEXT_MEMORY_LIMIT = 67_108_864; // ...and every text together (MAX_TEXT_MEMORY); past either Pillow refuses the file
export const NOTED_SHRINK = 4;
export const NORMALISE_STROKE = true;
export const STROKE_BAND = [1.53, 3.53];
export const STROKE_TARGET = 2.29;
export const WORK_BOX = 80;
export const PAPER_SHIFT_LIMIT = 15.0;

const f32 = Math.fround;

export class ImageError extends Error {}

// ----------------------------------------------------------------------------- numeric helpers

/** Python's round(): halves go to the even neighbour (so does OpenCV's cvRound). */
export function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The k-th and (k+1)-th smallest of `values` (a copy is partially reordered), by quickselect:
 * linear time, where sorting 20,000 pixels per median cost more than the rest of the recipe.
 */
function orderPair(values, k) {
  const a = new Float32Array(values);
  const n = a.length;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  let next = Infinity; // everything after index k is >= a[k]; the smallest of it is the (k+1)-th
  for (let i = k + 1; i < n; i++) if (a[i] < next) next = a[i];
  return [a[k], k + 1 < n ? next : a[k]];
}

/** np.median of float32 values: the mean of the two middle values for an even count. */
function median(values) {
  const n = values.length;
  if (n === 0) return NaN;
  const [a, b] = orderPair(values, (n - 1) >> 1);
  return n % 2 ? a : f32((a + b) / 2);
}

/** np.percentile(values, q) with the default linear method (NumPy's _lerp). */
function percentile(values, q) {
  const pos = ((values.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const [a, b] = orderPair(values, lo);
  const t = pos - lo;
  const d = b - a;
  return f32(t >= 0.5 ? b - d * (1 - t) : a + d * t);
}

function minMax(a) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

// An image is {data: Float32Array (row-major), h, w}.
const image = (h, w, data = new Float32Array(h * w)) => ({ data, h, w });

/** digitlab.preprocess._border: the outer 3 % rows and columns (corners twice, as NumPy does). */
function border(img) {
  const { data, h, w } = img;
  const k = Math.max(1, pyRound(0.03 * Math.min(h, w)));
  const out = new Float32Array(2 * k * w + 2 * k * h);
  let n = 0;
  for (let y = 0; y < k; y++) for (let x = 0; x < w; x++) out[n++] = data[y * w + x];
  for (let y = h - k; y < h; y++) for (let x = 0; x < w; x++) out[n++] = data[y * w + x];
  for (let y = 0; y < h; y++) for (let x = 0; x < k; x++) out[n++] = data[y * w + x];
  for (let y = 0; y < h; y++) for (let x = w - k; x < w; x++) out[n++] = data[y * w + x];
  return out;
}

// ----------------------------------------------------------------------------- OpenCV primitives

/**
 * Min or max of src over the window [i - a, i + b] of a 1-D line, the outside ignored
 * (OpenCV's default morphology border).  Monotonic deque: O(n) whatever the window.
 */
function slide(src, off, stride, n, a, b, isMin, dst, q) {
  let head = 0;
  let tail = 0;
  let next = 0; // next index to enter the window
  const sign = isMin ? 1 : -1; // max = min of the negated values
  for (let i = 0; i < n; i++) {
    const hiIdx = Math.min(n - 1, i + b);
    while (next <= hiIdx) {
      const v = sign * src[off + next * stride];
      while (tail > head && v <= sign * src[off + q[tail - 1] * stride]) tail--;
      q[tail++] = next++;
    }
    while (q[head] < i - a) head++;
    dst[off + i * stride] = src[off + q[head] * stride];
  }
}

/** cv2.erode / cv2.dilate with a kx x ky rectangle anchored at (kx // 2, ky // 2). */
function rectMorph(img, kx, ky, isMin) {
  const { data, h, w } = img;
  const tmp = new Float32Array(h * w);
  const out = new Float32Array(h * w);
  const q = new Int32Array(Math.max(h, w));
  const ax = Math.floor(kx / 2);
  const ay = Math.floor(ky / 2);
  for (let y = 0; y < h; y++) slide(data, y * w, 1, w, ax, kx - 1 - ax, isMin, tmp, q);
  for (let x = 0; x < w; x++) slide(tmp, x, w, h, ay, ky - 1 - ay, isMin, out, q);
  return image(h, w, out);
}

/** cv2.getStructuringElement(MORPH_ELLIPSE, (2r+1, 2r+1)) as the half-width of each row. */
export function ellipseHalfWidths(r) {
  const inv = r ? 1 / (r * r) : 0;
  const half = [];
  for (let i = 0; i <= 2 * r; i++) {
    const dy = i - r;
    half.push(pyRound(r * Math.sqrt((r * r - dy * dy) * inv)));
  }
  return half;
}

/** cv2.erode / cv2.dilate with the (2r+1) ellipse: per row of the kernel, a horizontal window. */
function ellipseMorph(img, r, isMin) {
  const { data, h, w } = img;
  const half = ellipseHalfWidths(r);
  const q = new Int32Array(w);
  const lines = new Map(); // half-width -> image of horizontal min/max over [x - d, x + d]
  for (const d of new Set(half)) {
    const line = new Float32Array(h * w);
    for (let y = 0; y < h; y++) slide(data, y * w, 1, w, d, d, isMin, line, q);
    lines.set(d, line);
  }
  const out = new Float32Array(h * w).fill(isMin ? Infinity : -Infinity);
  for (let i = 0; i <= 2 * r; i++) {
    const dy = i - r;
    const line = lines.get(half[i]);
    for (let y = Math.max(0, -dy); y < Math.min(h, h - dy); y++) {
      const src = (y + dy) * w;
      const dst = y * w;
      for (let x = 0; x < w; x++) {
        const v = line[src + x];
        if (isMin ? v < out[dst + x] : v > out[dst + x]) out[dst + x] = v;
      }
    }
  }
  return image(h, w, out);
}

/** OpenCV's computeResizeAreaTab: which source pixels feed each output pixel, with weights. */
function areaTab(ssize, dsize) {
  const scale = 1 / (dsize / ssize);
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    const row = [];
    if (sx1 - fsx1 > 1e-3) row.push([sx1 - 1, f32((sx1 - fsx1) / cell)]);
    for (let sx = sx1; sx < sx2; sx++) row.push([sx, f32(1 / cell)]);
    if (fsx2 - sx2 > 1e-3) row.push([sx2, f32(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell)]);
    tab.push(row);
  }
  return tab;
}

/** cv2.resize(..., interpolation=INTER_AREA) for shrinking (both sides no larger). */
export function resizeArea(img, nh, nw) {
  const { data, h, w } = img;
  const xt = areaTab(w, nw);
  const yt = areaTab(h, nh);
  const rowSum = new Float64Array(nw);
  const out = new Float32Array(nh * nw);
  for (let dy = 0; dy < nh; dy++) {
    const acc = new Float64Array(nw);
    for (const [sy, beta] of yt[dy]) {
      rowSum.fill(0);
      const off = sy * w;
      for (let dx = 0; dx < nw; dx++) for (const [sx, alpha] of xt[dx]) rowSum[dx] += data[off + sx] * alpha;
      for (let dx = 0; dx < nw; dx++) acc[dx] += beta * f32(rowSum[dx]);
    }
    for (let dx = 0; dx < nw; dx++) out[dy * nw + dx] = acc[dx];
  }
  return image(nh, nw, out);
}

/** cv2.resize(..., interpolation=INTER_LINEAR): pixel centres aligned, edges replicated. */
export function resizeLinear(img, nh, nw) {
  const { data, h, w } = img;
  const sxScale = 1 / (nw / w);
  const syScale = 1 / (nh / h);
  const xs = [];
  for (let dx = 0; dx < nw; dx++) {
    let fx = f32((dx + 0.5) * sxScale - 0.5);
    let sx = Math.floor(fx);
    fx = f32(fx - sx);
    if (sx < 0) (fx = 0), (sx = 0);
    if (sx >= w - 1) (fx = 0), (sx = w - 1);
    xs.push([sx, Math.min(sx + 1, w - 1), f32(1 - fx), fx]);
  }
  const horiz = (y) => {
    const row = new Float32Array(nw);
    for (let dx = 0; dx < nw; dx++) {
      const [a, b, wa, wb] = xs[dx];
      row[dx] = wb === 0 ? data[y * w + a] : data[y * w + a] * wa + data[y * w + b] * wb;
    }
    return row;
  };
  const out = new Float32Array(nh * nw);
  for (let dy = 0; dy < nh; dy++) {
    let fy = f32((dy + 0.5) * syScale - 0.5);
    const sy = Math.floor(fy);
    fy = f32(fy - sy);
    const r0 = horiz(Math.min(Math.max(sy, 0), h - 1));
    const r1 = horiz(Math.min(Math.max(sy + 1, 0), h - 1));
    const b0 = f32(1 - fy);
    for (let dx = 0; dx < nw; dx++) out[dy * nw + dx] = r0[dx] * b0 + r1[dx] * fy;
  }
  return image(nh, nw, out);
}

const med3 = (a, b, c) => Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));

/**
 * cv2.medianBlur(uint8, 3), border replicated.  The median of a 3x3 window is the median of
 * (largest column minimum, median of column medians, smallest column maximum) once each
 * column of three is sorted, and neighbouring windows share their sorted columns.
 */
function medianBlur3(u8, h, w) {
  const out = new Uint8Array(h * w);
  const lo = new Int32Array(w);
  const mid = new Int32Array(w);
  const hi = new Int32Array(w);
  for (let y = 0; y < h; y++) {
    const up = Math.max(y - 1, 0) * w;
    const row = y * w;
    const down = Math.min(y + 1, h - 1) * w;
    for (let x = 0; x < w; x++) {
      const a = u8[up + x];
      const b = u8[row + x];
      const c = u8[down + x];
      lo[x] = Math.min(a, b, c);
      hi[x] = Math.max(a, b, c);
      mid[x] = med3(a, b, c);
    }
    for (let x = 0; x < w; x++) {
      const l = Math.max(x - 1, 0);
      const r = Math.min(x + 1, w - 1);
      out[row + x] = med3(Math.max(lo[l], lo[x], lo[r]), med3(mid[l], mid[x], mid[r]), Math.min(hi[l], hi[x], hi[r]));
    }
  }
  return out;
}

/**
 * Total outline length of a binary mask as cv2.findContours(RETR_LIST, CHAIN_APPROX_NONE)
 * + cv2.arcLength(closed) sum it: Suzuki & Abe border following over every outer and hole
 * border, each step 1 or float32(sqrt 2).
 */
export function contourPerimeter(mask, h, w) {
  const W = w + 2;
  const H = h + 2;
  const f = new Int8Array(W * H); // 1 = ink, 0 = background; traced pixels become 2 or -2
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) f[(y + 1) * W + x + 1] = mask[y * w + x] ? 1 : 0;
  const delta = [1, -W + 1, -W, -W - 1, -1, W - 1, W, W + 1]; // E, NE, N, NW, W, SW, S, SE
  const diag = f32(Math.SQRT2);
  let total = 0;
  const trace = (i0, hole) => {
    let s = hole ? 0 : 4;
    const sEnd0 = s;
    let i1;
    do {
      s = (s - 1) & 7;
      i1 = i0 + delta[s];
    } while (f[i1] === 0 && s !== sEnd0);
    if (s === sEnd0) {
      f[i0] = -2; // a single pixel: one point, length 0
      return 0;
    }
    let length = 0;
    let i3 = i0;
    for (;;) {
      const sEnd = s;
      let i4;
      for (;;) {
        s += 1;
        i4 = i3 + delta[s & 7];
        if (f[i4] !== 0) break;
      }
      s &= 7;
      if (s - 1 >= 0 && s - 1 < sEnd) f[i3] = -2; // the east neighbour was examined and is background
      else if (f[i3] === 1) f[i3] = 2;
      length += s & 1 ? diag : 1;
      if (i4 === i0 && i3 === i1) break;
      i3 = i4;
      s = (s + 4) & 7;
    }
    return length;
  };
  for (let y = 1; y < H - 1; y++) {
    let prev = 0;
    for (let x = 1; x < W - 1; x++) {
      const p = f[y * W + x];
      if (p === prev) continue;
      if (prev === 0 && p === 1) total += trace(y * W + x, false);
      else if (p === 0 && prev >= 1) total += trace(y * W + x - 1, true);
      prev = f[y * W + x];
    }
  }
  return total;
}

// ----------------------------------------------------------------------------- the recipe

function checkSize(w, h) {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) throw new ImageError(`bad picture size ${w}x${h}`);
  if (w * h > MAX_PIXELS) throw new ImageError(`image is ${w}x${h} pixels; the limit is ${MAX_PIXELS / 1e6} megapixels`);
  if (Math.min(w, h) < MIN_SIDE) throw new ImageError(`image is ${w}x${h} pixels; too small to hold a digit (at least ${MIN_SIDE}x${MIN_SIDE})`);
}

function checkBytes(rgba, w, h) {
  checkSize(w, h);
  if (rgba.length !== w * h * 4) throw new ImageError(`expected ${w * h * 4} RGBA bytes for ${w}x${h}, got ${rgba.length}`);
}

/**
 * RGBA bytes -> {grey, alpha} float32 in [0, 1].  luma "canvas": OpenCV 5's fixed-point RGBA2GRAY, what
 * Python does with the canvas' array; "file": digitlab.pictures._luma's float weights, what Python does
 * with a decoded colour file, and v / 255 when every pixel is grey (a grey file is read as such).
 */
function toGrey(rgba, w, h, luma) {
  const n = w * h;
  const grey = new Float32Array(n);
  const alpha = new Float32Array(n);
  let allGrey = luma === "file";
  for (let i = 0; i < n && allGrey; i++) allGrey = rgba[4 * i] === rgba[4 * i + 1] && rgba[4 * i] === rgba[4 * i + 2];
  const [wr, wg, wb] = [f32(0.299), f32(0.587), f32(0.114)];
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    if (luma === "canvas") grey[i] = ((r * 9798 + g * 19235 + b * 3735 + 16384) >> 15) / 255; // OpenCV 5's RGBA2GRAY for uint8
    else if (allGrey) grey[i] = r / 255;
    else grey[i] = f32(f32(f32(f32(r * wr) + f32(g * wg)) + f32(b * wb)) / 255);
    alpha[i] = rgba[4 * i + 3] / 255;
  }
  return { grey, alpha };
}

/**
 * digitlab.pictures._background: paper cut out on transparency (opaque pixels covering PAPER_COVER of the
 * picture, PAPER_INK of them departing from their median tone) goes on its own tone; strokes on
 * transparency go on the colour opposite to the opaque pixels.  null when the picture is opaque, else
 * {back, drawnOn}: drawnOn is back when the opaque pixels are ink drawn on the transparency (one tone, at least
 * PAPER_COVER of the picture fully transparent, no more pixels half transparent than opaque), else null.
 */
function background(grey, alpha) {
  const n = grey.length;
  let minAlpha = 1;
  for (let i = 0; i < n; i++) if (alpha[i] < minAlpha) minAlpha = alpha[i];
  if (minAlpha >= 0.98) return null;
  const opaque = [];
  let light = 0;
  let clear = 0;
  for (let i = 0; i < n; i++) {
    if (alpha[i] > 0.5) {
      opaque.push(grey[i]);
      if (grey[i] >= 0.5) light++;
    } else if (alpha[i] === 0) {
      clear++;
    }
  }
  if (opaque.length >= PAPER_COVER * n) {
    const tone = median(opaque);
    let departing = 0;
    for (const v of opaque) if (Math.abs(f32(v - tone)) > f32(MIN_CONTRAST)) departing++;
    if (departing / opaque.length >= PAPER_INK) return { back: tone, drawnOn: null };
  }
  const back = opaque.length === 0 || light / opaque.length >= 0.5 ? 0 : 1;
  const [lo, hi] = opaque.length ? minMax(opaque) : [0, 0];
  const drawn = clear >= PAPER_COVER * n && n - clear - opaque.length <= opaque.length && f32(hi - lo) <= f32(MIN_CONTRAST);
  return { back, drawnOn: drawn ? back : null };
}

function composite(grey, alpha, back) {
  for (let i = 0; i < grey.length; i++) grey[i] = f32(alpha[i] * grey[i]) + f32(f32(1 - alpha[i]) * back);
}

/**
 * The picture's colours as its grey is made (pictures._composite_rgb): {h, w, data: Float32Array(3 h w) of 0-255
 * levels}, transparency composited onto ``back`` (null: opaque, the RGB as it is).  Only the paper check reads it,
 * and it finds nothing in a picture without colour: null then (a canvas, a grey scan), with nothing carried or shrunk.
 */
function colourOf(rgba, w, h, alpha, back) {
  let coloured = false; // grey RGB composited onto a grey tone stays grey
  for (let i = 0; i < w * h && !coloured; i++) coloured = rgba[4 * i] !== rgba[4 * i + 1] || rgba[4 * i + 1] !== rgba[4 * i + 2];
  if (!coloured) return null;
  const data = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) {
      const v = rgba[4 * i + c];
      data[3 * i + c] = back === null ? v : Math.min(255, Math.max(0, pyRound(alpha[i] * v + (1 - alpha[i]) * back * 255)));
    }
  }
  return { data, h, w };
}

function cutColour(colour, t, l, b, r) {
  if (colour === null) return null;
  const out = { data: new Float32Array(3 * (b - t) * (r - l)), h: b - t, w: r - l };
  for (let y = t; y < b; y++) out.data.set(colour.data.subarray(3 * (y * colour.w + l), 3 * (y * colour.w + r)), 3 * (y - t) * out.w);
  return out;
}

/** The colours at a work image's size: each channel shrunk by area, as Python's preview is (cv2.resize INTER_AREA, uint8); null stays null. */
function colourAt(colour, h, w) {
  if (colour === null || (colour.h === h && colour.w === w)) return colour;
  const out = { data: new Float32Array(3 * h * w), h, w };
  for (let c = 0; c < 3; c++) {
    const channel = image(colour.h, colour.w);
    for (let i = 0; i < channel.data.length; i++) channel.data[i] = colour.data[3 * i + c];
    const small = resizeArea(channel, h, w);
    for (let i = 0; i < h * w; i++) out.data[3 * i + c] = Math.min(255, Math.max(0, pyRound(small.data[i])));
  }
  return out;
}

/**
 * Canvas RGBA bytes -> a picture as digitlab.pictures.load reads a numpy array: {grey (transparency
 * composited), notes, size: [w, h], region(box) -> grey image of that part, cut, drawnOn, ink: null (no file
 * to say it)}.  drawnOn given: the caller knows the bytes are a drawing on a canvas of that tone (1 white, 0 black),
 * as pictures.load's drawn_on.
 */
export function loadRGBA(rgba, w, h, { drawnOn: given = null } = {}) {
  if (given !== null && given !== 0 && given !== 1) throw new Error(`drawnOn is the tone of the canvas drawn on: 1 (white) or 0 (black), not ${JSON.stringify(given)}`);
  checkBytes(rgba, w, h);
  const { grey, alpha } = toGrey(rgba, w, h, "canvas");
  const notes = [];
  const { back, drawnOn: found } = background(grey, alpha) ?? { back: null, drawnOn: null };
  const drawnOn = given ?? found;
  if (back !== null) {
    composite(grey, alpha, back);
    notes.push("transparent background composited");
  }
  const img = image(h, w, grey);
  img.colour = colourOf(rgba, w, h, alpha, back);
  const region = ([t, l, b, r]) => Object.assign(cut(img, t, l, b, r), { colour: cutColour(img.colour, t, l, b, r) });
  return { grey: img, notes, size: [w, h], region, drawnOn, ink: null };
}

/**
 * digitlab.pictures' Image.reduce(factor) on RGBA bytes, as Pillow 13 computes it: each channel the
 * rounded mean of its factor x factor block, ((sum + n / 2) * floor(2^24 / n)) >> 24, the last row and
 * column of blocks over the pixels they have.  Alpha is premultiplied first and divided out after
 * (Pillow reduces RGBA as RGBa).  Also stands in for a JPEG decoded at 1/2, 1/4 or 1/8 (libjpeg's
 * scaled IDCT, which Python's reading uses and a browser does not offer: a block mean, to a grey level).
 */
export function reduceRGBA(rgba, w, h, factor) {
  const nw = Math.ceil(w / factor);
  const nh = Math.ceil(h / factor);
  let opaque = true;
  for (let i = 3; i < rgba.length && opaque; i += 4) opaque = rgba[i] === 255;
  let src = rgba;
  if (!opaque) {
    src = new Uint8ClampedArray(rgba.length);
    for (let i = 0; i < rgba.length; i += 4) {
      const a = rgba[i + 3];
      for (let c = 0; c < 3; c++) {
        const t = rgba[i + c] * a + 128; // Pillow's MULDIV255
        src[i + c] = ((t >> 8) + t) >> 8;
      }
      src[i + 3] = a;
    }
  }
  const out = new Uint8ClampedArray(nw * nh * 4);
  const ss = new Float64Array(4);
  for (let oy = 0; oy < nh; oy++) {
    const y0 = oy * factor;
    const y1 = Math.min(h, y0 + factor);
    for (let ox = 0; ox < nw; ox++) {
      const x0 = ox * factor;
      const x1 = Math.min(w, x0 + factor);
      ss.fill(0);
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = 4 * (y * w + x);
          ss[0] += src[i];
          ss[1] += src[i + 1];
          ss[2] += src[i + 2];
          ss[3] += src[i + 3];
        }
      }
      const count = (y1 - y0) * (x1 - x0);
      const multiplier = Math.floor(2 ** 24 / count);
      const amend = Math.floor(count / 2);
      const o = 4 * (oy * nw + ox);
      for (let c = 0; c < 4; c++) out[o + c] = Math.min(255, Math.floor(((ss[c] + amend) * multiplier) / 2 ** 24));
    }
  }
  if (!opaque) {
    for (let i = 0; i < out.length; i += 4) {
      const a = out[i + 3];
      for (let c = 0; c < 3; c++) out[i + c] = a === 0 ? 0 : Math.min(255, Math.floor((255 * out[i + c]) / a));
    }
  }
  return { rgba: out, w: nw, h: nh };
}

/** digitlab.pictures._shrink_factor: the integer factor leaving the longer side >= WORK_SIDE (= pictures.DECODE_SIDE) and the shorter >= MIN_SIDE. */
export function shrinkFactor(w, h) {
  return Math.max(1, Math.min(Math.floor(Math.max(w, h) / WORK_SIDE), Math.floor(Math.min(w, h) / MIN_SIDE)));
}

/** The scale (1, 2, 4 or 8) Pillow's JPEG draft decodes at for a wanted size (JpegImagePlugin.draft). */
function draftScale(w, h, ww, wh) {
  const s = Math.min(Math.floor(w / ww), Math.floor(h / wh));
  for (const scale of [8, 4, 2]) if (s >= scale) return scale;
  return 1;
}

function cutRGBA(rgba, w, t, l, b, r) {
  const out = new Uint8ClampedArray((b - t) * (r - l) * 4);
  for (let y = t; y < b; y++) out.set(rgba.subarray(4 * (y * w + l), 4 * (y * w + r)), 4 * (y - t) * (r - l));
  return out;
}

/**
 * The PNG file's text chunks, {keyword: text}, as Pillow puts them in Image.info: tEXt, zTXt and iTXt (compressed or
 * not), wherever they stand; {} for any other file.  The page reads DRAWN_ON_TAG (an upload of a Collect drawing) and
 * INK_TAG (a picture kept on Home with its Ink set by hand) from them.  Async: a compressed text is unpacked by the
 * platform's DecompressionStream.  Like Pillow (PngImagePlugin), it throws ImageError, with Python's message, when a
 * compressed text unpacks to more than TEXT_CHUNK_LIMIT bytes or the texts together hold more than TEXT_MEMORY_LIMIT;
 * a zTXt that does not unpack reads as "", an iTXt that does not (or whose UTF-8 is broken) is left out.  Not ported:
 * Pillow refuses a file with an unknown compression method in a zTXt, which the page skips, and keeps what a
 * compressed stream cut short unpacked to, where the page reads it as one that does not unpack.
 */
export async function pngText(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  const out = {};
  if (b.length < 8 || signature.some((v, i) => b[i] !== v)) return out;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let memory = 0;
  const keep = (key, text) => {
    out[key] = text;
    memory += text.length;
    if (memory > TEXT_MEMORY_LIMIT) throw new ImageError(`cannot decode image: Too much memory used in text chunks: ${memory}>MAX_TEXT_MEMORY (ValueError)`);
  };
  for (let at = 8; at + 12 <= b.length;) {
    const length = view.getUint32(at);
    const type = latin1(b.subarray(at + 4, at + 8));
    const start = at + 8;
    const end = start + length;
    if (end + 4 > b.length || type === "IEND") break;
    const found = b.indexOf(0, start);
    const nul = found >= 0 && found < end ? found : end; // no NUL: all of it is the keyword, the text empty
    const key = latin1(b.subarray(start, nul));
    if (type === "tEXt" && key) keep(key, latin1(b.subarray(nul + 1, end)));
    else if (type === "zTXt" && key && (nul + 1 >= end || b[nul + 1] === 0)) { // method 0: zlib
      const text = nul + 2 >= end ? new Uint8Array(0) : await unpack(b.subarray(nul + 2, end));
      keep(key, text === null ? "" : latin1(text));
    } else if (type === "iTXt" && nul + 2 < end) { // flag, method, language tag, translated keyword, text
      const [compressed, method] = [b[nul + 1], b[nul + 2]];
      const lang = b.indexOf(0, nul + 3);
      const translated = lang < 0 ? -1 : b.indexOf(0, lang + 1);
      if (translated >= 0 && translated < end && (compressed === 0 || method === 0)) {
        const raw = compressed === 0 ? b.subarray(translated + 1, end) : await unpack(b.subarray(translated + 1, end));
        // broken UTF-8 in its language tag, translated keyword or text: left out, as Pillow leaves it
        if (raw !== null && [b.subarray(nul + 3, lang), b.subarray(lang + 1, translated), raw].every(isUtf8)) keep(key, strictUtf8.decode(raw));
      }
    }
    at = end + 4;
  }
  return out;
}

/** Bytes as Latin-1 (TextDecoder's "latin1" is windows-1252), a block at a time: a text may be megabytes long. */
function latin1(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
  return text;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }); // as Python decodes: a BOM is kept

function isUtf8(bytes) {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A zlib stream unpacked (PngImagePlugin._safe_zlib_decompress): its bytes, null when it does not unpack, ImageError
 * past TEXT_CHUNK_LIMIT. */
async function unpack(data) {
  const reader = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate")).getReader();
  const parts = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
      if (size > TEXT_CHUNK_LIMIT) {
        reader.cancel().catch(() => {});
        throw new ImageError("cannot decode image: Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK (ValueError)");
      }
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    return null; // not a zlib stream, or one cut short
  }
  const text = new Uint8Array(size);
  parts.reduce((at, part) => (text.set(part, at), at + part.length), 0);
  return text;
}

/** The file is a JPEG (its first bytes, as Pillow tells a format: not its name or type), so Python decodes it at
 * libjpeg's draft scale (``loadDecoded``'s jpeg). */
export function isJpeg(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/**
 * digitlab.pictures._file_says: the canvas tone a file's DRAWN_ON_TAG text gives when the pixels agree (opaque, at
 * least PAPER_COVER of them exactly that tone), else null, with a note saying why.
 */
function fileSays(text, alpha, rgba, notes) {
  const tone = Object.hasOwn(DRAWN_ON_TONES, text) ? DRAWN_ON_TONES[text] : null;
  if (tone === null) { // its text is not repeated: it may be anything, of any length
    notes.push(`its file says it is a drawing, but on no canvas tone (${Object.keys(DRAWN_ON_TONES).join(" or ")}): read as any picture`);
    return null;
  }
  const said = `its file says it is a drawing on a ${text} canvas`;
  let minAlpha = 1;
  for (let i = 0; i < alpha.length; i++) if (alpha[i] < minAlpha) minAlpha = alpha[i];
  if (minAlpha < 0.98) {
    notes.push(`${said}, but it has transparency: read as any picture`);
    return null;
  }
  const v = Math.round(tone * 255);
  let plain = 0;
  for (let i = 0; i < alpha.length; i++) plain += rgba[4 * i] === v && rgba[4 * i + 1] === v && rgba[4 * i + 2] === v;
  plain /= alpha.length;
  if (plain < PAPER_COVER) {
    notes.push(`${said}, but only ${Math.round(plain * 100)}% of it is plain ${text}: read as any picture`);
    return null;
  }
  notes.push(`a drawing on a ${text} canvas (its file says so)`);
  return tone;
}

/**
 * digitlab.pictures._ink_said: prepare's invert for a file's INK_TAG text ("dark": "yes", "light": "no"), or null with
 * a note for any other text, which is not repeated (it may be anything, of any length).
 */
function inkSaid(text, notes) {
  if (Object.hasOwn(INK_SAID, text)) return INK_SAID[text];
  notes.push(`its file says how its ink is, but neither ${Object.keys(INK_SAID).join(" nor ")}: the ink is detected`);
  return null;
}

/**
 * digitlab.preprocess.file_ink: invert as the caller gave it, unless it is "auto" and the picture's file says how its
 * ink is (loaded.ink: a picture kept on Home with its Ink set by hand), which a note then says.
 */
function fileInk(loaded, invert) {
  if (invert !== "auto" || loaded.ink === null) return invert;
  loaded.notes.push(`the ink as its file says: ${loaded.ink === "yes" ? "dark ink on light paper" : "light ink on dark"}`);
  return loaded.ink;
}

/**
 * A decoded picture file, upright at its own size (the browser's decoding of an upload), -> a picture
 * read the way digitlab.pictures.load reads the file: decoded shrunk by an integer factor when it is at
 * least twice the work size (a JPEG first at its draft scale), grey by _luma, transparency composited,
 * and region(box) reading a part again from the full-size pixels by pictures._region_pixels' rule.
 * jpeg: the file is a JPEG (Python decodes those at 1/2, 1/4 or 1/8 in libjpeg).  said, ink: the file's DRAWN_ON_TAG
 * and INK_TAG texts (``pngText``), or null; the picture's ink is then the invert its INK_TAG says (``inkSaid``), or null.
 */
export function loadDecoded(rgba, w, h, { jpeg = false, said = null, ink = null } = {}) {
  checkBytes(rgba, w, h);
  const longest = Math.max(w, h);
  if (longest > (WORK_SIDE / MIN_SIDE) * Math.min(w, h)) {
    throw new ImageError(`image is ${w}x${h} pixels; too long and narrow to hold a digit (at most ${WORK_SIDE / MIN_SIDE}:1)`);
  }
  const notes = [];
  let pixels = { rgba, w, h };
  let factor = shrinkFactor(w, h);
  let scale = 1;
  if (factor > 1 && jpeg) {
    scale = draftScale(w, h, Math.ceil(w / factor), Math.ceil(h / factor));
    if (scale > 1) pixels = reduceRGBA(rgba, w, h, scale);
    factor = shrinkFactor(pixels.w, pixels.h);
  }
  if (factor > 1) pixels = reduceRGBA(pixels.rgba, pixels.w, pixels.h, factor);
  // pictures.py's note: only a picture read at 1/NOTED_SHRINK size or less says so (an 800x600 one at half size is ordinary)
  if (pixels.w !== w && Math.floor(w / pixels.w) >= NOTED_SHRINK) {
    notes.push(`read at 1/${Math.floor(w / pixels.w)} size (${pixels.w}x${pixels.h}) from ${w}x${h}: plenty for one digit`);
  }
  const { grey, alpha } = toGrey(pixels.rgba, pixels.w, pixels.h, "file");
  const given = said === null ? null : fileSays(said, alpha, pixels.rgba, notes);
  const inkIs = ink === null ? null : inkSaid(ink, notes);
  const { back, drawnOn: found } = background(grey, alpha) ?? { back: null, drawnOn: null };
  const drawnOn = given ?? found;
  if (back !== null) {
    composite(grey, alpha, back);
    notes.push("transparent background composited");
  }
  const region = ([t, l, b, r]) => {
    const side = Math.max(b - t, r - l);
    let part = { rgba: cutRGBA(rgba, w, t, l, b, r), w: r - l, h: b - t };
    let s = 1;
    if (jpeg) while (s < 8 && 2 * s <= Math.max(1, Math.floor(side / WORK_SIDE))) s *= 2;
    if (s > 1) {
      // the whole picture at its draft scale, the region cut from it outward
      const [t2, l2, b2, r2] = [Math.floor(t / s), Math.floor(l / s), Math.min(Math.ceil(h / s), Math.ceil(b / s)), Math.min(Math.ceil(w / s), Math.ceil(r / s))];
      const drafted = reduceRGBA(rgba, w, h, s);
      part = { rgba: cutRGBA(drafted.rgba, drafted.w, t2, l2, b2, r2), w: r2 - l2, h: b2 - t2 };
    }
    const f = Math.max(1, Math.floor(Math.max(part.w, part.h) / WORK_SIDE));
    if (f > 1) part = reduceRGBA(part.rgba, part.w, part.h, f);
    if (Math.min(part.w, part.h) < MIN_SIDE) return null;
    const g = toGrey(part.rgba, part.w, part.h, "file");
    if (back !== null) composite(g.grey, g.alpha, back);
    return Object.assign(image(part.h, part.w, g.grey), { colour: colourOf(part.rgba, part.w, part.h, g.alpha, back) });
  };
  const img = Object.assign(image(pixels.h, pixels.w, grey), { colour: colourOf(pixels.rgba, pixels.w, pixels.h, alpha, back) });
  return { grey: img, notes, size: [w, h], region, drawnOn, ink: inkIs };
}

/** digitlab.preprocess.ink_polarity: invert "yes"/"no" as said; "auto": ink drawn on transparency by the tone it was
 * composited onto (drawnOn, not null), otherwise inkIsDark. */
export function inkPolarity(grey, invert, drawnOn = null) {
  if (invert !== "auto") return invert === "yes";
  return drawnOn !== null ? drawnOn === 1 : inkIsDark(grey);
}

/** digitlab.preprocess.is_photo: larger than 64 px both ways and a border that is not one flat tone; a border at
 * least DRAWN_BORDER of which is one exact tone is a drawn background (strokes reaching the edge do not count). */
export function isPhoto(img) {
  if (Math.min(img.h, img.w) <= 64) return false;
  const edge = border(img);
  const [lo, hi] = minMax(edge);
  if (!(f32(hi - lo) > 0.02)) return false;
  // a tone more than half the border holds is its middle order statistic
  const middle = orderPair(edge, edge.length >> 1)[0];
  let same = 0;
  for (const v of edge) if (v === middle) same += 1;
  return same < DRAWN_BORDER * edge.length;
}

/** digitlab.preprocess.block_median: each pixel replaced by the median of its b x b block (edge blocks padded by repetition). */
export function blockMedian(img, b) {
  const { data, h, w } = img;
  const out = new Float32Array(h * w);
  const block = new Float32Array(b * b);
  for (let by = 0; by < h; by += b) {
    for (let bx = 0; bx < w; bx += b) {
      let n = 0;
      for (let y = by; y < by + b; y++) for (let x = bx; x < bx + b; x++) block[n++] = data[Math.min(y, h - 1) * w + Math.min(x, w - 1)];
      const m = median(block);
      for (let y = by; y < Math.min(by + b, h); y++) for (let x = bx; x < Math.min(bx + b, w); x++) out[y * w + x] = m;
    }
  }
  return image(h, w, out);
}

/** True when the ink is darker than the background (pen on paper); photos: thin departures from block medians. */
export function inkIsDark(grey) {
  const { data, h, w } = grey;
  const u8 = new Uint8Array(h * w);
  for (let i = 0; i < u8.length; i++) u8[i] = Math.trunc(f32(data[i] * 255));
  const sm = medianBlur3(u8, h, w);
  const smooth = image(h, w);
  for (let i = 0; i < sm.length; i++) smooth.data[i] = sm[i] / 255;
  const edge = border(smooth);
  if (isPhoto(grey) && f32(percentile(edge, 75) - percentile(edge, 25)) > BORDER_SPREAD) {
    const k = Math.max(4, Math.floor(Math.min(grey.h, grey.w) / 12));
    const med = blockMedian(grey, k).data;
    const closed = rectMorph(rectMorph(grey, k, k, false), k, k, true).data;
    const opened = rectMorph(rectMorph(grey, k, k, true), k, k, false).data;
    let dark = 0;
    let light = 0;
    for (let i = 0; i < grey.data.length; i++) {
      const v = grey.data[i];
      const r = f32(v - med[i]);
      const d = Math.min(f32(-r), f32(closed[i] - v));
      const l = Math.min(r, f32(v - opened[i]));
      if (d > POLARITY_STEP) dark += d;
      if (l > POLARITY_STEP) light += l;
    }
    return dark > light;
  }
  const bg = median(edge);
  const [lo, hi] = minMax(smooth.data);
  return f32(bg - lo) > f32(hi - bg);
}

/** The pixels medians are taken of: every other row and column of a picture over 4096 pixels (the same medians,
 * 4x faster), as in Python; all of a smaller one. */
function quarter(data, h, w) {
  if (data.length <= 4096) return data;
  const sample = new Float32Array(Math.ceil(h / 2) * Math.ceil(w / 2));
  let n = 0;
  for (let y = 0; y < h; y += 2) for (let x = 0; x < w; x += 2) sample[n++] = data[y * w + x];
  return sample;
}

/** Light-ink image -> {clean: ink in [0, 1] with background 0, contrast}; `photo`: isPhoto(ink) when the caller has it;
 * `level`: the background's tone when known (ink drawn on transparency): no photo, no level or noise estimated;
 * `floor`: with `level`, the noise floor above it (null: the level itself); `lightInk`: the picture is read as light
 * ink, so a photo's division only stretches the headroom above its background: the contrast is the smaller of the
 * stretched one and the same pixels' before the stretch (1.7). */
export function removeBackground(ink, photo = null, level = null, floor = null, lightInk = false) {
  if (photo === null) photo = level === null && isPhoto(ink);
  const { h, w } = ink;
  let data = ink.data;
  let unstretched = null;
  if (photo) {
    // a photo: divide the paper by the light falling on it, (ink - opened) / (1 - opened)
    const k = Math.max(15, Math.floor(Math.min(h, w) / 4));
    const opened = rectMorph(rectMorph(ink, k, k, true), k, k, false).data;
    const flat = new Float32Array(h * w);
    if (lightInk) unstretched = new Float32Array(h * w);
    for (let i = 0; i < flat.length; i++) {
      const d = f32(data[i] - opened[i]);
      if (unstretched) unstretched[i] = d;
      flat[i] = f32(d / Math.max(f32(1 - opened[i]), f32(LIGHT_FLOOR)));
    }
    data = flat;
  }
  if (level !== null && floor === null) floor = level; // a drawn background is one exact tone: no noise
  let weak = null;
  if (level === null) {
    const sample = quarter(data, h, w);
    level = median(sample);
    const dev = new Float32Array(sample.length);
    for (let i = 0; i < dev.length; i++) dev[i] = Math.abs(sample[i] - level);
    const sigma = 1.4826 * median(dev);
    floor = level + NOISE_SIGMAS * sigma;
    if (!photo) weak = level + WEAK_SIGMAS * sigma;
  }
  const floor32 = f32(floor);
  const above = data.filter((v) => v > floor32);
  const peak = above.length ? percentile(above, 99.5) : floor;
  let contrast = peak - level;
  if (unstretched && above.length) {
    const rawAbove = unstretched.filter((_, i) => data[i] > floor32);
    contrast = Math.min(contrast, percentile(rawAbove, 99.5) - median(quarter(unstretched, h, w)));
  }
  if (peak - floor <= 1e-6) return { clean: image(h, w), contrast };
  const clean = new Float32Array(h * w);
  if (weak === null || weak >= floor) {
    // a known background, or paper without noise (an MNIST digit): one floor
    const span = f32(peak - floor);
    for (let i = 0; i < clean.length; i++) clean[i] = Math.min(1, Math.max(0, f32(f32(data[i] - floor32) / span)));
    return { clean: image(h, w, clean), contrast };
  }
  // hysteresis: pixels above the weak floor are ink where they join (8-connected) ink above the floor
  const weak32 = f32(weak);
  const reach = runsOn(data, h, w, weak32, floor32);
  const span = f32(peak - weak);
  for (let i = 0; i < clean.length; i++) {
    if (reach[i]) clean[i] = Math.min(1, Math.max(0, f32(f32(data[i] - weak32) / span)));
  }
  return { clean: image(h, w, clean), contrast };
}

/** The pixels above `low` in an 8-connected blob of such pixels that holds a pixel above `high`: 1, else 0 (Python's
 * cv2.connectedComponents over `ink > weak`, kept where `ink > floor`). */
function runsOn(data, h, w, low, high) {
  const { labels, pixels } = labelBlobs((i) => data[i] > low, h, w);
  const keep = new Uint8Array(pixels.length);
  for (let i = 0; i < data.length; i++) if (data[i] > high) keep[labels[i]] = 1;
  const reach = new Uint8Array(h * w);
  for (let i = 0; i < reach.length; i++) reach[i] = labels[i] ? keep[labels[i]] : 0;
  return reach;
}

/** 8-connected blobs of pixels above INK_LEVEL: {labels, areas, touching (the blob meets the picture's edge)}, index 0 unused. */
function blobs(ink) {
  const { data, h, w } = ink;
  const labels = new Int32Array(h * w);
  const areas = [0];
  const touching = [false];
  const boxes = [null]; // [left, top, right, bottom] of each blob, inclusive
  const stack = new Int32Array(h * w);
  for (let start = 0; start < data.length; start++) {
    if (!(data[start] > INK_LEVEL) || labels[start]) continue;
    const id = areas.length;
    let top = 0;
    let area = 0;
    let edge = false;
    const box = [w, h, -1, -1];
    stack[top++] = start;
    labels[start] = id;
    while (top) {
      const i = stack[--top];
      area++;
      const y = Math.floor(i / w);
      const x = i - y * w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) edge = true;
      if (x < box[0]) box[0] = x;
      if (y < box[1]) box[1] = y;
      if (x > box[2]) box[2] = x;
      if (y > box[3]) box[3] = y;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (!labels[j] && data[j] > INK_LEVEL) {
            labels[j] = id;
            stack[top++] = j;
          }
        }
      }
    }
    areas.push(area);
    touching.push(edge);
    boxes.push(box);
  }
  return { labels, areas, touching, boxes };
}

/** Zero blobs that touch the picture's edge when blobs away from it hold the digit (photos only). */
export function dropBorder(ink) {
  const { data, h, w } = ink;
  const { labels, areas, touching } = blobs(ink);
  if (areas.length <= 2) return ink;
  const inner = areas.filter((a, id) => id > 0 && !touching[id]);
  const largest = Math.max(...areas.slice(1));
  if (!touching.some(Boolean) || inner.length === 0 || Math.max(...inner) < 0.02 * largest) return ink;
  const drop = image(h, w, Float32Array.from(labels, (id) => (touching[id] ? 1 : 0)));
  const grown = rectMorph(drop, 3, 3, false);
  return image(h, w, data.map((v, i) => (grown.data[i] > 0 ? 0 : v)));
}

/**
 * preprocess._run_inward: a side `length` long seen inward (`on(i, d)`: the blob's pixel at position i along it, d px
 * in from its outer edge, d < depth) -> per position whose first `band` px hold ink, the length of the ink run from its
 * first ink pixel inward: how thick the line drawn along that side is there, however tilted.
 */
function runInward(length, depth, band, on) {
  const runs = [];
  for (let i = 0; i < length; i++) {
    let d = 0;
    while (d < depth && !on(i, d)) d++;
    if (d >= band) continue;
    const first = d;
    while (d < depth && on(i, d)) d++;
    runs.push(d - first);
  }
  return Float32Array.from(runs);
}

/** preprocess.ink_blobs: each blob of `ink` at least `minWidth` px wide -> {c, left, top, w, h, at(y, x): whether the
 * pixel at (y, x) of its box is the blob's}, one at a time. */
function* inkBlobs(ink, minWidth = 1) {
  const { labels, boxes } = blobs(ink);
  for (let c = 1; c < boxes.length; c++) {
    const [left, top, right, bottom] = boxes[c];
    const w = right - left + 1;
    if (w < minWidth) continue;
    yield { c, left, top, w, h: bottom - top + 1, at: (y, x) => labels[(top + y) * ink.w + left + x] === c };
  }
}

/** preprocess.drop_frame: zero a form's printed box around the writing (a blob outlined on all four sides of its
 * bounding box, with ink inside reaching FRAME_INSIDE of its inner height): its pixels in the sides' bands and its
 * straight lines from side to side inside them (a comb field's separators). */
export function dropFrame(ink) {
  const { data, h: H, w: W } = ink;
  let out = null;
  for (const { left, top, w, h, at } of inkBlobs(ink)) {
    const t = Math.max(2, pyRound(FRAME_BAND * Math.min(w, h)));
    if (Math.min(w, h) <= 4 * t) continue;
    // each side's band: per position along the side, the blob's pixels across the band
    const colsTop = new Int32Array(w), colsBottom = new Int32Array(w), rowsLeft = new Int32Array(h), rowsRight = new Int32Array(h);
    const colCount = new Int32Array(w), rowCount = new Int32Array(h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!at(y, x)) continue;
        if (y < t) colsTop[x]++;
        if (y >= h - t) colsBottom[x]++;
        if (x < t) rowsLeft[y]++;
        if (x >= w - t) rowsRight[y]++;
        if (y >= t && y < h - t) colCount[x]++;
        if (x >= t && x < w - t) rowCount[y]++;
      }
    }
    const share = (a) => a.reduce((n, v) => n + (v > 0 ? 1 : 0), 0) / a.length;
    if (Math.min(share(colsTop), share(colsBottom), share(rowsLeft), share(rowsRight)) < FRAME_COVER) continue;
    // a side wider than its band: a fat pen's square (its inner edge would count as ink inside)
    const sides = [[w, h, (i, d) => at(d, i)], [w, h, (i, d) => at(h - 1 - d, i)], [h, w, (i, d) => at(i, d)], [h, w, (i, d) => at(i, w - 1 - d)]];
    if (Math.max(...sides.map(([length, depth, on]) => median(runInward(length, depth, t, on)))) > t - 1) continue;
    let first = -1, last = -1;
    for (let y = t; y < h - t; y++) {
      for (let x = t; x < w - t; x++) {
        if (data[(top + y) * W + left + x] > INK_LEVEL) {
          if (first < 0) first = y;
          last = y;
          break;
        }
      }
    }
    if (first < 0 || last - first + 1 < FRAME_INSIDE * (h - 2 * t)) continue;
    if (!out) out = Float32Array.from(data);
    for (let y = 0; y < h; y++) {
      const rowLine = rowCount[y] / (w - 2 * t) >= FRAME_COVER;
      for (let x = 0; x < w; x++) {
        const band = y < t || y >= h - t || x < t || x >= w - t || rowLine || colCount[x] / (h - 2 * t) >= FRAME_COVER;
        if (band && at(y, x)) out[(top + y) * W + left + x] = 0;
      }
    }
  }
  return out ? image(H, W, out) : ink;
}

/** preprocess.line_fit: least squares of centres on xs -> [slope, the line's value at xs' mean, xs' mean]. */
function lineFit(xs, centres) {
  const n = xs.length;
  let mx = 0, mc = 0;
  for (let i = 0; i < n; i++) (mx += xs[i]), (mc += centres[i]);
  mx /= n;
  mc /= n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx;
    sxy += dx * (centres[i] - mc);
    sxx += dx * dx;
  }
  return [sxy / Math.max(sxx, 1e-12), mc, mx];
}

function lineStray(xs, centres, [slope, mc, mx]) {
  let worst = 0;
  for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(centres[i] - mc - slope * (xs[i] - mx)));
  return worst;
}

/** preprocess.drop_rule_line: zero a form's printed line under (or over) the writing, apart from it; a thin line's
 * collinear pieces judged as one. */
export function dropRuleLine(ink) {
  const { data, h: H, w: W } = ink;
  const { labels, boxes } = blobs(ink);
  if (boxes.length <= 2) return ink;
  const pieces = [];
  for (let c = 1; c < boxes.length; c++) {
    const [left, top, right, bottom] = boxes[c];
    const w = right - left + 1;
    const h = bottom - top + 1;
    if (w < 8 || h > (RULE_TILT + RULE_THICK) * w) continue;
    const counts = new Int32Array(w);
    const sums = new Float64Array(w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (labels[(top + y) * W + left + x] === c) (counts[x]++, (sums[x] += y));
      }
    }
    if (median(Float32Array.from(counts)) > RULE_THICK * w) continue;
    const xs = [], centres = [];
    for (let x = 0; x < w; x++) if (counts[x] > 0) (xs.push(x + left), centres.push(sums[x] / counts[x] + top));
    const fit = lineFit(xs, centres);
    if (Math.abs(fit[0]) <= RULE_TILT && lineStray(xs, centres, fit) <= RULE_STRAIGHT) pieces.push({ c, xs, centres });
  }
  pieces.sort((a, b) => b.xs[b.xs.length - 1] - b.xs[0] - (a.xs[a.xs.length - 1] - a.xs[0]));
  let out = null;
  const used = new Set();
  for (const first of pieces) {
    if (used.has(first.c)) continue;
    const group = new Set([first.c]);
    let xs = first.xs.slice(), centres = first.centres.slice();
    let fit = lineFit(xs, centres);
    for (const p of pieces) {
      if (used.has(p.c) || group.has(p.c)) continue;
      if (lineStray(p.xs, p.centres, fit) <= RULE_STRAIGHT) {
        group.add(p.c);
        xs = xs.concat(p.xs);
        centres = centres.concat(p.centres);
        fit = lineFit(xs, centres);
      }
    }
    for (const c of group) used.add(c);
    const [slope, mc, mx] = fit;
    const left = Math.min(...xs), right = Math.max(...xs);
    let minX = Infinity, maxX = -Infinity, above = 0, below = 0, others = 0;
    for (let i = 0; i < labels.length; i++) {
      if (!(data[i] > INK_LEVEL) || group.has(labels[i])) continue;
      const y = Math.floor(i / W), x = i - y * W;
      others++;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      const side = y - (mc + slope * (x - mx));
      if (side < 0) above++;
      else if (side > 0) below++;
    }
    if (!others || right - left + 1 < RULE_LONGER * (maxX - minX + 1)) continue;
    if (minX < left || maxX > right) continue; // ink beyond the line's ends: beside it
    if (above !== others && below !== others) continue; // the other ink crosses the line
    if (!out) out = Float32Array.from(data);
    for (let i = 0; i < labels.length; i++) if (group.has(labels[i])) out[i] = 0;
  }
  return out ? image(H, W, out) : ink;
}

/**
 * preprocess._line_showing: a blob (at(y, x) over h x w) -> {cols, centres, thick} where a line along its bottom or
 * top shows alone: from each end inward the columns holding one thin run of ink (at most RULE_THICK of its width, at
 * least 3 px); at each end the innermost columns straying more than RULE_STRAIGHT px from the line fitted through them
 * all are trimmed, one at a time, fitting again each time.  Empty arrays when none are left.
 */
function lineShowing(at, h, w) {
  const runs = new Int32Array(w), length = new Int32Array(w), first = new Int32Array(w).fill(-1);
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      if (!at(y, x)) continue;
      if (y === 0 || !at(y - 1, x)) runs[x]++;
      if (first[x] < 0) first[x] = y;
      length[x]++;
    }
  }
  const thin = (x) => runs[x] === 1 && length[x] <= Math.max(3, RULE_THICK * w);
  let left = 0;
  while (left < w && thin(left)) left++;
  let right = w;
  while (right > 0 && thin(right - 1)) right--;
  if (left === w) right = 0;
  const cols = [];
  for (let x = 0; x < left; x++) cols.push(x);
  for (let x = Math.max(left, right); x < w; x++) cols.push(x);
  const centres = cols.map((x) => first[x] + (length[x] - 1) / 2);
  let [a, b] = [left, w - Math.max(left, right)];
  for (;;) {
    if (a + b < 2) return { cols: [], centres: [], thick: [] };
    const [slope, mc, mx] = lineFit(cols, centres);
    const stray = cols.map((x, i) => Math.abs(centres[i] - mc - slope * (x - mx)));
    if (Math.max(...stray) <= RULE_STRAIGHT) break;
    const inner = [];
    if (a > 0) inner.push(a - 1);
    if (b > 0) inner.push(a);
    const drop = inner.length === 2 && stray[inner[1]] > stray[inner[0]] ? inner[1] : inner[0];
    cols.splice(drop, 1);
    centres.splice(drop, 1);
    if (drop === a - 1 && a > 0) a--;
    else b--;
  }
  return { cols, centres, thick: cols.map((x) => length[x]) };
}

/** preprocess.drop_line_under: zero a form's printed line that the writing touches, under it (the line's band across
 * its blob), when the line is flat and thin, shows alone in at least as many columns as the writing is wide, the
 * blob is RULE_LONGER times as wide as the writing and as wide as it is tall, and the writing lies above the line,
 * reaching below it by at most RULE_SLIVER of its height. */
export function dropLineUnder(ink) {
  const { data, h: H, w: W } = ink;
  let out = null;
  for (const { left, top, w, h, at } of inkBlobs(ink, 8)) {
    if (h > (1 + RULE_THICK + RULE_TILT) * w + 3) continue; // taller than the conditions below allow: a digit
    const { cols, centres, thick } = lineShowing(at, h, w);
    if (cols.length < 2) continue;
    const [slope, mc, mx] = lineFit(cols, centres);
    const half = median(Float32Array.from(thick)) / 2 + 1;
    if (Math.abs(slope) > RULE_TILT || 2 * (half - 1) > RULE_THICK * w) continue;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity, above = false, deepest = -Infinity;
    for (let i = 0; i < data.length; i++) {
      if (!(data[i] > INK_LEVEL)) continue;
      const y = Math.floor(i / W), x = i - y * W;
      const side = y - (top + mc + slope * (x - left - mx));
      if (Math.abs(side) <= half) continue; // the line's band: not the writing
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
      if (side < 0) above = true;
      deepest = Math.max(deepest, side);
    }
    if (minX === Infinity) continue; // a line alone (a minus)
    const width = maxX - minX + 1, height = maxY - minY + 1;
    if (cols.length < width || w < RULE_LONGER * width || w < height) continue;
    if (!above || deepest > RULE_SLIVER * height) continue; // not above the line, or reaching too far below it
    if (!out) out = Float32Array.from(data);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (at(y, x) && Math.abs(top + y - (top + mc + slope * (x - mx))) <= half) out[(top + y) * W + left + x] = 0; // as off_line
      }
    }
  }
  return out ? image(H, W, out) : ink;
}

/** Zero 8-connected blobs that are tiny next to the largest one (dust, sensor noise). */
export function dropSpecks(ink) {
  const { data, h, w } = ink;
  const { labels, areas } = blobs(ink);
  if (areas.length <= 2) return ink;
  const largest = Math.max(...areas.slice(1));
  const small = areas.map((a, id) => id > 0 && a < 0.05 * largest && a < 0.002 * data.length);
  if (!small.some(Boolean)) return ink;
  const drop = image(h, w, Float32Array.from(labels, (id) => (small[id] ? 1 : 0)));
  const grown = rectMorph(drop, 3, 3, false);
  return image(h, w, data.map((v, i) => (grown.data[i] > 0 ? 0 : v)));
}

/** Scale so the longer side is `box` px, keeping the aspect ratio (area when shrinking). */
export function fitBox(crop, box = BOX) {
  const { h, w } = crop;
  const s = box / Math.max(h, w);
  const nh = Math.max(1, pyRound(h * s));
  const nw = Math.max(1, pyRound(w * s));
  if (nh === h && nw === w) return image(h, w, Float32Array.from(crop.data));
  const out = s < 1 ? resizeArea(crop, nh, nw) : resizeLinear(crop, nh, nw);
  out.data = out.data.map((v) => Math.min(1, Math.max(0, v)));
  return out;
}

/** Mean stroke width in px: twice the ink area over the outline length. */
export function strokeWidth(img) {
  const mask = new Uint8Array(img.data.length);
  let area = 0;
  for (let i = 0; i < mask.length; i++) if (img.data[i] > 0.5) (mask[i] = 1), area++;
  if (!area) return 0;
  return (2 * area) / Math.max(contourPerimeter(mask, img.h, img.w), 1);
}

/** px at WORK_BOX scale: a thinner stroke fades into the paper once its crop is shrunk there (digitlab.preprocess.HAIRLINE). */
export const HAIRLINE = 1.0;
export const HAIRLINE_NOTE = "strokes thinner than a pixel once shrunk (a hairline): thickened first";
/** The longest piece of a hairline's ink reaches this share of the crop's longer side (digitlab.preprocess.HAIRLINE_REACH). */
export const HAIRLINE_REACH = 0.25;

/** The longer side of the largest bounding box of the 8-connected pieces of ink (over INK_LEVEL), 0 without ink. */
function longestPiece(img) {
  const { labels, areas } = blobs(img);
  const n = areas.length;
  const x0 = new Int32Array(n).fill(img.w);
  const y0 = new Int32Array(n).fill(img.h);
  const x1 = new Int32Array(n).fill(-1);
  const y1 = new Int32Array(n).fill(-1);
  for (let i = 0; i < labels.length; i++) {
    const id = labels[i];
    if (!id) continue;
    const y = Math.floor(i / img.w);
    const x = i - y * img.w;
    if (x < x0[id]) x0[id] = x;
    if (x > x1[id]) x1[id] = x;
    if (y < y0[id]) y0[id] = y;
    if (y > y1[id]) y1[id] = y;
  }
  let reach = 0;
  for (let id = 1; id < n; id++) reach = Math.max(reach, x1[id] - x0[id] + 1, y1[id] - y0[id] + 1);
  return reach;
}

/** A crop whose strokes would come out thinner than HAIRLINE at WORK_BOX, its ink brought to full strength and dilated
 * at its own resolution to HAIRLINE there; any other crop, and ink in specks (HAIRLINE_REACH), as it is
 * (digitlab.preprocess.thicken_hairline). */
export function thickenHairline(crop) {
  const shrink = WORK_BOX / Math.max(crop.h, crop.w);
  let peak = 0;
  for (const v of crop.data) if (v > peak) peak = v;
  if (shrink >= 1 || peak <= 0) return crop;
  const full = image(crop.h, crop.w, Float32Array.from(crop.data, (v) => Math.min(v / peak, 1)));
  const width = strokeWidth(full);
  if (width === 0 || width * shrink >= HAIRLINE) return crop;
  if (longestPiece(full) < HAIRLINE_REACH * Math.max(crop.h, crop.w)) return crop;
  return ellipseMorph(full, Math.ceil((HAIRLINE / shrink - width) / 2), false);
}

/** Bring the stroke width into MNIST's range by grey-level erosion or dilation at 80 px. */
export function normaliseStroke(digit) {
  const big = fitBox(digit, WORK_BOX);
  const scale = BOX / WORK_BOX;
  const before = strokeWidth(big) * scale;
  const [lo, hi] = STROKE_BAND;
  const r = pyRound(Math.abs(before - STROKE_TARGET) / scale / 2);
  if ((lo <= before && before <= hi) || before === 0 || r === 0) return { digit, before, after: before };
  const out = ellipseMorph(big, r, before > hi);
  return { digit: out, before, after: strokeWidth(out) * scale };
}

export function centreOfMass(img) {
  const { data, h, w } = img;
  let m = 0;
  let my = 0;
  let mx = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x];
      m += v;
      my += v * y;
      mx += v * x;
    }
  }
  if (m <= 0) return [(h - 1) / 2, (w - 1) / 2];
  return [my / m, mx / m];
}

/** Paste into 28x28 so the centre of mass lands on (14, 14) (whole-pixel shift, kept in frame). */
export function pasteCentred(digit, size = SIZE, centre = CENTRE) {
  const { data, h, w } = digit;
  const [cy, cx] = centreOfMass(digit);
  const top = Math.min(Math.max(pyRound(centre - cy), 0), size - h);
  const left = Math.min(Math.max(pyRound(centre - cx), 0), size - w);
  const out = image(size, size);
  for (let y = 0; y < h; y++) out.data.set(data.subarray(y * w, (y + 1) * w), (top + y) * size + left);
  return out;
}

/** Shrink a picture larger than WORK_SIDE to it (area resampling), with a note (preprocess._work_size). */
function workSize(grey, notes) {
  const { h, w } = grey;
  if (Math.max(h, w) <= WORK_SIDE) return grey;
  const nw = Math.max(1, pyRound((w * WORK_SIDE) / Math.max(h, w)));
  const nh = Math.max(1, pyRound((h * WORK_SIDE) / Math.max(h, w)));
  notes.push(`shrunk from ${w}x${h} to ${nw}x${nh} for speed`);
  return resizeArea(grey, nh, nw);
}

/** preprocess.clean_ink: work image -> {ink, clean, contrast}, two steps recorded; `drawnOn` as Python's drawn_on. */
/** preprocess.edge_background: {level, floor}, the background's tone and noise floor from the picture's outermost
 * pixels alone (their median, and 5 robust sigmas above it), in float32 like removeBackground's median. */
export function edgeBackground(ink) {
  const { data, h, w } = ink;
  const edge = new Float32Array(2 * w + 2 * (h - 2));
  let n = 0;
  for (let x = 0; x < w; x++) edge[n++] = data[x];
  for (let x = 0; x < w; x++) edge[n++] = data[(h - 1) * w + x];
  for (let y = 1; y < h - 1; y++) edge[n++] = data[y * w];
  for (let y = 1; y < h - 1; y++) edge[n++] = data[y * w + w - 1];
  const level = median(edge);
  const dev = new Float32Array(edge.length);
  for (let i = 0; i < dev.length; i++) dev[i] = Math.abs(edge[i] - level);
  return { level, floor: level + 5 * 1.4826 * median(dev) };
}

// ----------------------------------------------------------------------------- the marks around a written digit
// preprocess.isolate_digit: an underline (apart or touching), a full stop, a tick or small cross beside the digit, a
// ruling line at the picture's edge, a neighbouring cell's ink.  Integer sums and one order of operations, as in Python.

export const UNDERLINE_NOTE = "an underline below the digit left out";
export const STOP_NOTE = "a full stop beside the digit left out";
export const TICK_NOTE = "a tick or small cross beside the digit left out";
export const RULING_NOTE = "a ruling line at the picture's edge left out";
export const NEIGHBOUR_NOTE = "ink of a neighbouring cell at the picture's edge left out";
export const MARK_NOTES = [RULING_NOTE, UNDERLINE_NOTE, STOP_NOTE, TICK_NOTE, NEIGHBOUR_NOTE];
export const MARK_BLOBS = 12;
export const LINE_MIN = 8;
export const FLAT_TILT = 20.0;
export const FLAT_THIN = 0.25;
export const RULING_TILT = 8.0;
export const RULING_THIN = 0.08;
export const RULING_EDGE = 0.1;
export const RULING_SPAN = 0.9;
export const JOIN_GAP = 0.08;
export const HAT_GAP = 0.5;
export const NEIGHBOUR_GAP = 0.5;
export const UNDER_WIDE = 0.3;
export const UNDER_LOW = 0.25;
export const STOP_SIDE = 0.3;
export const STOP_RIGHT = 0.15;
export const STOP_LOW = 0.6;
export const STOP_GAP = 1.5;
export const TICK_TALL = 0.8;
export const TICK_OVER = 0.25;
export const TICK_HIGH = 0.35;
export const UNDER_TOL = 2.0;
export const UNDER_SLOPE = 0.4;
export const UNDER_TALL = 0.6;
export const UNDER_LONG = 0.8;
export const UNDER_THIN = 0.11;
export const UNDER_PAST = 0.1;
export const UNDER_FAR = 0.3;
export const UNDER_FAR_THIN = 0.15;
export const UNDER_FAR_SLOPE = 1.0;

/** 8-connected blobs of `on(i)` in an h x w picture, numbered in the order of their first pixel (row by row):
 * {labels (0: none), pixels: [Int32Array of each blob's indices, row by row]} (index 0 unused). */
function labelBlobs(on, h, w) {
  const labels = new Int32Array(h * w);
  const pixels = [null];
  const stack = new Int32Array(h * w);
  for (let start = 0; start < h * w; start++) {
    if (labels[start] || !on(start)) continue;
    const id = pixels.length;
    const own = [];
    let top = 0;
    stack[top++] = start;
    labels[start] = id;
    while (top) {
      const i = stack[--top];
      own.push(i);
      const y = Math.floor(i / w);
      const x = i - y * w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (!labels[j] && on(j)) {
            labels[j] = id;
            stack[top++] = j;
          }
        }
      }
    }
    pixels.push(Int32Array.from(own).sort());
  }
  return { labels, pixels };
}

/** np.median of integers (float64: the mean of the two middle ones for an even count). */
function intMedian(values) {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  return n % 2 ? a[(n - 1) >> 1] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/** preprocess._blob: a blob's box (exclusive), ink pixels, centre, main axis's length, spread across it and tilt. */
function measureBlob(label, idx, data, w) {
  let strong = 0;
  for (const i of idx) if (data[i] > INK_LEVEL) strong++;
  const use = strong >= 3 ? idx.filter((i) => data[i] > INK_LEVEL) : idx;
  let n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
  for (const i of use) {
    const y = Math.floor(i / w), x = i - y * w;
    n++; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y;
    if (x < left) left = x;
    if (x > right) right = x;
    if (y < top) top = y;
    if (y > bottom) bottom = y;
  }
  const a = (n * sxx - sx * sx) / (n * n);
  const c = (n * syy - sy * sy) / (n * n);
  const b = (n * sxy - sx * sy) / (n * n);
  const mid = (a + c) / 2, half = Math.sqrt((a - c) / 2 * ((a - c) / 2) + b * b);
  const tilt = Math.abs(0.5 * Math.atan2(2 * b, a - c) * 180 / Math.PI);
  return {
    label, first: idx[0], idx, left, top, right: right + 1, bottom: bottom + 1, w: right + 1 - left, h: bottom + 1 - top,
    ink: strong, cx: sx / n, cy: sy / n, length: Math.sqrt(12 * (mid + half)), width: Math.sqrt(12 * Math.max(mid - half, 0)), tilt,
  };
}

const sq = (x) => x * x; // preprocess._square

const isFlat = (b) => b.length >= LINE_MIN && b.width <= FLAT_THIN * b.length && b.tilt <= FLAT_TILT;

/** _Blob.straight: a straight thin line along the rows or the columns, at the picture's edge or across it. */
function isStraight(b, h, w) {
  if (b.length < LINE_MIN || b.width > Math.max(2.5, RULING_THIN * b.length)) return false;
  if (b.tilt <= RULING_TILT) return b.w >= RULING_SPAN * w || b.top < RULING_EDGE * h || b.bottom > (1 - RULING_EDGE) * h;
  if (b.tilt >= 90 - RULING_TILT) return b.h >= RULING_SPAN * h || b.left < RULING_EDGE * w || b.right > (1 - RULING_EDGE) * w;
  return false;
}

/** _Blob.ruling: a straight line reaching past the digit's box on both sides along it, or out of the picture. */
function isRuling(b, [left, top, right, bottom], h, w) {
  if (b.tilt <= RULING_TILT) return (b.left < left && b.right > right) || b.left === 0 || b.right === w;
  return (b.top < top && b.bottom > bottom) || b.top === 0 || b.bottom === h;
}

const isNeighbour = (b, h, w, gap2, tall) =>
  b.left === 0 || b.right === w || ((b.top === 0 || b.bottom === h) && gap2 >= sq(NEIGHBOUR_GAP * tall));

/** preprocess._outline: [row, col] pairs of a blob's pixels with a 4-neighbour outside it, in row-major order. */
function outline(b, w) {
  const own = new Set(b.idx);
  const out = [];
  for (const i of b.idx) {
    const y = Math.floor(i / w), x = i - y * w;
    const inside = (yy, xx) => xx >= 0 && xx < w && own.has(yy * w + xx);
    if (!inside(y - 1, x) || !inside(y + 1, x) || !inside(y, x - 1) || !inside(y, x + 1)) out.push([y, x]);
  }
  return out;
}

/** preprocess._gap2: the squared distance between the nearest pixels of two outlines, or Infinity beyond `reach`. */
function gap2(a, body, reach) {
  let r0 = Infinity, c0 = Infinity, r1 = -Infinity, c1 = -Infinity;
  for (const [r, c] of a) {
    r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, c); c1 = Math.max(c1, c);
  }
  const near = body.filter(([r, c]) => r >= r0 - reach && c >= c0 - reach && r <= r1 + reach && c <= c1 + reach);
  if (!near.length) return Infinity;
  let best = Infinity;
  for (const [r, c] of a) for (const [rr, cc] of near) best = Math.min(best, (r - rr) * (r - rr) + (c - cc) * (c - cc));
  return best;
}

/** preprocess._right_from: the right edge (exclusive) of the digit's outline pixels in rows `top` and below, else `right`. */
function rightFrom(body, top, right) {
  let most = -1;
  for (const [r, c] of body) if (r >= top && c > most) most = c;
  return most < 0 ? right : Math.min(right, most + 1);
}

/** preprocess._mark: what blob `b` is beside the digit whose box is [left, top, right, bottom] and outline `body`, gap2 px^2 off it. */
function markOf(b, box, g2, body) {
  const [left, top, right, bottom] = box;
  const w = right - left, h = bottom - top;
  if (isFlat(b) && b.w >= UNDER_WIDE * w && b.cy >= bottom - UNDER_LOW * h && b.top >= top + h / 2) return UNDERLINE_NOTE;
  if (Math.max(b.w, b.h) <= STOP_SIDE * h && b.cx >= rightFrom(body, b.top, right) - STOP_RIGHT * w && 2 * b.cx > left + right
      && b.cy >= top + STOP_LOW * h && g2 > STOP_GAP * STOP_GAP) return STOP_NOTE;
  if (b.left >= right - TICK_OVER * b.w && b.h <= TICK_TALL * h && b.cy >= top + TICK_HIGH * h && g2 > sq(JOIN_GAP * h)) return TICK_NOTE;
  return null;
}

/** preprocess.mark_blobs: {labels, marks: Map(label -> note), digit: [labels]} (digit empty: too many blobs or none). */
export function markBlobs(clean) {
  const { data, h, w } = clean;
  const { labels, pixels } = labelBlobs((i) => data[i] > 0, h, w);
  const everyOne = () => pixels.slice(1).map((_, k) => k + 1);
  if (pixels.length - 1 > MARK_BLOBS) return { labels, marks: new Map(), digit: [] };
  if (pixels.length - 1 < 2) return { labels, marks: new Map(), digit: everyOne() };
  const all = pixels.slice(1).map((idx, k) => measureBlob(k + 1, idx, data, w));
  const lines = new Set(all.filter((b) => isStraight(b, h, w)).map((b) => b.label)); // never part of the digit
  const seeds = all.filter((b) => !lines.has(b.label) && !isFlat(b));
  if (!seeds.length) return { labels, marks: new Map(), digit: everyOne() };
  let seed = seeds[0]; // the tallest, then the heaviest, the first of them
  for (const b of seeds) if (b.h > seed.h || (b.h === seed.h && b.ink > seed.ink)) seed = b;
  const digit = [seed.label];
  let box = [seed.left, seed.top, seed.right, seed.bottom];
  const outlines = new Map(all.map((b) => [b.label, outline(b, w)]));
  const said = new Map();
  let grown = true;
  while (grown) {
    grown = false;
    const body = digit.flatMap((d) => outlines.get(d));
    for (const b of all) {
      if (digit.includes(b.label)) continue;
      const [left, top, right, bottom] = box;
      const g2 = gap2(outlines.get(b.label), body, Math.max(HAT_GAP, NEIGHBOUR_GAP) * (bottom - top) + STOP_GAP);
      let note = lines.has(b.label) && isRuling(b, box, h, w) ? RULING_NOTE : markOf(b, box, g2, body);
      const inside = Math.max(0, Math.min(b.right, right) - Math.max(b.left, left)) * Math.max(0, Math.min(b.bottom, bottom) - Math.max(b.top, top));
      const hat = b.cy < (top + bottom) / 2 && b.cx > (left + right) / 2 && g2 <= sq(HAT_GAP * (bottom - top));
      const near = 2 * inside >= b.w * b.h || g2 <= sq(JOIN_GAP * (bottom - top)) || hat;
      if (note === null && near && !lines.has(b.label)) {
        digit.push(b.label);
        box = [Math.min(left, b.left), Math.min(top, b.top), Math.max(right, b.right), Math.max(bottom, b.bottom)];
        said.delete(b.label);
        grown = true;
        break;
      }
      if (note === null && isNeighbour(b, h, w, g2, bottom - top)) note = NEIGHBOUR_NOTE;
      if (note === null) said.delete(b.label);
      else said.set(b.label, note);
    }
  }
  return { labels, marks: said, digit };
}

/** preprocess.quadratic_fit: least squares y = a x^2 + b x + c by Cramer's rule -> [a, b, c]. */
export function quadraticFit(xs, ys) {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i], y = ys[i];
    s0 += 1; s1 += x; s2 += x * x; s3 += x * x * x; s4 += x * x * x * x; t0 += y; t1 += x * y; t2 += x * x * y;
  }
  const det = (m) => m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
  const d = det([s4, s3, s2, s3, s2, s1, s2, s1, s0]);
  if (d === 0) return [0, 0, t0 / s0];
  return [det([t2, s3, s2, t1, s2, s1, t0, s1, s0]) / d, det([s4, t2, s2, s3, t1, s1, s2, t0, s0]) / d, det([s4, s3, t2, s3, s2, t1, s2, s1, t0]) / d];
}

const curve = ([a, b, c], x) => (a * x + b) * x + c;

/** preprocess.underline_band: a digit's ink (Uint8Array mask, h x w) -> the mask of an underline it touches, or null. */
export function underlineBand(ink, H, W) {
  let t0 = Infinity, l0 = Infinity, b0 = -Infinity, r0 = -Infinity, count = 0;
  for (let i = 0; i < H * W; i++) {
    if (!ink[i]) continue;
    const y = Math.floor(i / W), x = i - y * W;
    count++;
    t0 = Math.min(t0, y); b0 = Math.max(b0, y); l0 = Math.min(l0, x); r0 = Math.max(r0, x);
  }
  if (count < 10) return null;
  const h = b0 - t0 + 1, w = r0 - l0 + 1;
  if (h < LINE_MIN || w < LINE_MIN) return null;
  const m = (y, x) => ink[(t0 + y) * W + l0 + x] === 1;
  const thick = new Int32Array(w), centre = new Float64Array(w), cols = [];
  for (let x = 0; x < w; x++) {
    let bottom = -1;
    for (let y = h - 1; y >= 0; y--) if (m(y, x)) { bottom = y; break; }
    if (bottom < 0) continue;
    let above = bottom;
    while (above >= 0 && m(above, x)) above--;
    cols.push(x);
    thick[x] = bottom - above;
    centre[x] = (bottom + above + 1) / 2;
  }
  const limit = Math.max(3.0, 2.0 * intMedian(cols.map((x) => thick[x])));
  const near = cols.filter((x) => thick[x] <= limit);
  let chosen = near;
  let fit;
  for (let round = 0; round < 5; round++) {
    if (chosen.length < LINE_MIN) return null;
    fit = quadraticFit(chosen, chosen.map((x) => centre[x]));
    const closer = near.filter((x) => Math.abs(centre[x] - curve(fit, x)) <= UNDER_TOL);
    const same = closer.length === chosen.length && closer.every((x, k) => x === chosen[k]);
    chosen = closer;
    if (same) break;
  }
  if (chosen.length < LINE_MIN) return null;
  const gapMax = Math.max(3.0, w / 5, 2 * intMedian(chosen.map((x) => thick[x]))); // where a stroke joins
  let bestStart = 0, bestEnd = 0, start = 0;
  for (let k = 1; k <= chosen.length; k++) {
    if (k === chosen.length || chosen[k] - chosen[k - 1] > gapMax) {
      if (chosen[k - 1] - chosen[start] > chosen[bestEnd] - chosen[bestStart]) [bestStart, bestEnd] = [start, k - 1];
      start = k;
    }
  }
  const line = chosen.slice(bestStart, bestEnd + 1);
  const x0 = line[0], x1 = line[line.length - 1], span = x1 - x0 + 1;
  if (span < LINE_MIN || 5 * line.length < 3 * span) return null;
  fit = quadraticFit(line, line.map((x) => centre[x]));
  const [a, b] = fit;
  const slope = Math.max(Math.abs(2 * a * x0 + b), Math.abs(2 * a * x1 + b));
  if (slope > UNDER_FAR_SLOPE) return null;
  const pen = intMedian(line.map((x) => thick[x]));
  const half = pen / 2 + 1;
  const band = new Uint8Array(h * w);
  for (let x = x0; x <= x1; x++) {
    const c = curve(fit, x);
    for (let y = 0; y < h; y++) if (m(y, x) && Math.abs(y - c) <= half) band[y * w + x] = 1;
  }
  const parts = labelBlobs((i) => m(Math.floor(i / w), i % w) && !band[i], h, w);
  if (parts.pixels.length < 2) return null;
  let largest = 1;
  for (let k = 2; k < parts.pixels.length; k++) if (parts.pixels[k].length > parts.pixels[largest].length) largest = k;
  let wl = Infinity, wt = Infinity, wr = -Infinity, wb = -Infinity, deepest = -Infinity;
  for (const i of parts.pixels[largest]) {
    const y = Math.floor(i / w), x = i - y * w;
    wl = Math.min(wl, x); wr = Math.max(wr, x); wt = Math.min(wt, y); wb = Math.max(wb, y);
  }
  const ww = wr - wl + 1, wh = wb - wt + 1;
  const steep = slope > UNDER_SLOPE, thickLine = pen > UNDER_THIN * wh;
  const far = x0 <= wl - UNDER_FAR * ww && x1 >= wl + ww - 1 + UNDER_FAR * ww;
  // a 2's base or a 3's stroke: a line reaching far past the writing may fail one of the two, not both
  if ((steep || thickLine) && ((steep && thickLine) || !far)) return null;
  if (wh < UNDER_TALL * h || span < UNDER_LONG * wh || pen > UNDER_FAR_THIN * wh) return null;
  const past = Math.max(2.0, UNDER_PAST * ww);
  if (x0 > wl - past || x1 < wl + ww - 1 + past) return null; // the line does not reach past the writing on both sides
  for (let i = 0; i < h * w; i++) {
    if (!parts.labels[i]) continue;
    const y = Math.floor(i / w), x = i - y * w;
    deepest = Math.max(deepest, y - curve(fit, x));
  }
  if (deepest > RULE_SLIVER * wh + half) return null; // ink reaches below the line: a stroke through the digit
  const touching = new Uint8Array(w);
  for (const i of parts.pixels[largest]) {
    const y = Math.floor(i / w), x = i - y * w;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const yy = y + dy, xx = x + dx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w && band[yy * w + xx]) touching[x] = 1;
    }
  }
  const touch = [];
  for (let x = 0; x < w; x++) if (touching[x]) touch.push(x);
  for (let k = 1; k < touch.length; k++) if (touch[k] - touch[k - 1] > 2) return null; // the bottom of a loop: two places
  const out = new Uint8Array(H * W);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (band[y * w + x]) out[(t0 + y) * W + l0 + x] = 1;
  return out;
}

/** preprocess.isolate_digit: {clean without the marks around the digit, notes: one per kind left out}. */
export function isolateDigit(clean) {
  const { h, w } = clean;
  let data = clean.data;
  const found = new Set();
  for (const again of [false, true]) {
    const { labels, marks, digit } = markBlobs(image(h, w, data));
    if (!digit.length) break; // no ink, or too many blobs to judge
    if (marks.size) {
      data = data.map((v, i) => (marks.has(labels[i]) ? 0 : v));
      for (const n of marks.values()) found.add(n);
    }
    if (again) break;
    const strong = Uint8Array.from(data, (v) => (v > INK_LEVEL ? 1 : 0));
    const band = underlineBand(strong, h, w);
    if (band === null) break;
    const grown = rectMorph(image(h, w, Float32Array.from(band)), 3, 3, false).data; // the band's faint rim goes with it
    data = data.map((v, i) => (band[i] || (grown[i] > 0 && !(v > INK_LEVEL)) ? 0 : v));
    found.add(UNDERLINE_NOTE);
  }
  return { clean: image(h, w, data), notes: MARK_NOTES.filter((n) => found.has(n)) };
}

export const EDGE_NOTE = "ink touching the picture's edge taken away (a desk, the page's edge or a shadow's rim)";
export const FRAME_NOTE = "a printed box around the writing taken away (a form's box or comb field)";
export const RULE_LINE_NOTE = "a printed line under or over the writing taken away (a form's answer line)";

/**
 * preprocess.clean_ink; `edge`: the background's tone and noise from the picture's edge (edgeBackground), no photo.
 * -> {ink, clean, contrast, dropped: the notes of what was taken away that is not the background, said by the caller
 * that keeps this reading}.
 */
function cleaned(grey, inverted, steps, drawnOn = null, edge = false) {
  const ink = inverted ? image(grey.h, grey.w, grey.data.map((v) => 1 - v)) : grey;
  steps.push(["grey, ink light" + (inverted ? " (inverted)" : ""), ink]);
  let level = drawnOn === null ? null : inverted ? 1 - drawnOn : drawnOn;
  let floor = null;
  if (edge && level === null) ({ level, floor } = edgeBackground(ink));
  const photo = level === null && isPhoto(ink);
  const bg = removeBackground(ink, photo, level, floor, !inverted);
  let clean = bg.clean;
  const dropped = [];
  for (const [step, wanted, note] of [[dropBorder, photo, EDGE_NOTE],
    [dropFrame, drawnOn === null, FRAME_NOTE], // a drawing on a canvas has no printed box
    [dropSpecks, true, null],
    [dropRuleLine, drawnOn === null, RULE_LINE_NOTE], // nor a printed line
    [dropLineUnder, drawnOn === null, RULE_LINE_NOTE]]) { // one the writing touches too
    if (!wanted) continue;
    const kept = step(clean);
    if (note !== null && kept !== clean && !dropped.includes(note)) dropped.push(note);
    clean = kept;
  }
  // Keep faint pixels only next to real ink (anti-aliased edges stay, paper grain far away goes) or, in a picture that
  // is not a canvas drawing, where they run on from it at FAINT_RUN or more (a fine pen's faint stroke, however far it
  // reaches from the stroke's darker part; a canvas's brush draws every stroke at full strength).
  const r = Math.max(1, pyRound(Math.min(clean.h, clean.w) / 100));
  const inkMask = image(clean.h, clean.w);
  for (let i = 0; i < inkMask.data.length; i++) inkMask.data[i] = clean.data[i] > INK_LEVEL ? 1 : 0;
  const near = rectMorph(inkMask, 2 * r + 1, 2 * r + 1, false).data;
  const faint32 = f32(FAINT_RUN);
  const far = drawnOn === null && clean.data.some((v, i) => v > faint32 && !(near[i] > 0));
  const runs = far ? runsOn(clean.data, clean.h, clean.w, faint32, INK_LEVEL) : null;
  const kept = new Float32Array(near.length);
  for (let i = 0; i < kept.length; i++) kept[i] = near[i] > 0 || (runs && runs[i]) ? clean.data[i] : 0;
  clean = image(clean.h, clean.w, kept);
  steps.push(["background removed", clean]);
  return { ink, clean, contrast: bg.contrast, dropped };
}

/** sRGB 0-255 -> CIELAB (a*, b*), D65, as OpenCV's COLOR_RGB2LAB computes it on float input. */
function chroma(r, g, b) {
  const lin = (v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const x = (0.412453 * R + 0.35758 * G + 0.180423 * B) / 0.950456;
  const y = 0.212671 * R + 0.71516 * G + 0.072169 * B;
  const z = (0.019334 * R + 0.119193 * G + 0.950227 * B) / 1.088754;
  const f = (t) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  return [500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

/**
 * preprocess.paper_shift: the CIELAB chroma distance between the paper just inside the ink's convex hull and the
 * paper just outside it, in bands 1-4 hundredths of the picture's side from the ink; 0 when too little paper is
 * inside the hull to judge.  colour: the work image's colours ({h, w, data} of 0-255 levels, three per pixel).
 */
export function paperShift(colour, clean) {
  const { h, w } = clean;
  if (!colour || colour.h !== h || colour.w !== w) return 0;
  const ink = image(h, w);
  let top = h;
  let bottom = -1;
  let left = w;
  let right = -1;
  const rowL = new Int32Array(h).fill(-1);
  const rowR = new Int32Array(h).fill(-1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (clean.data[y * w + x] > INK_LEVEL) {
        ink.data[y * w + x] = 1;
        if (rowL[y] < 0) rowL[y] = x;
        rowR[y] = x;
        top = Math.min(top, y);
        bottom = y;
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return 0;
  let grey = true; // no colour left (colourOf gave null for a picture without any): no chroma to differ
  for (let i = 0; i < h * w && grey; i++) grey = colour.data[3 * i] === colour.data[3 * i + 1] && colour.data[3 * i + 1] === colour.data[3 * i + 2];
  if (grey) return 0;
  // the convex hull of the ink (each row's leftmost and rightmost ink pixel hold it), by the monotone chain
  const pts = [];
  for (let y = top; y <= bottom; y++) if (rowL[y] >= 0) pts.push([rowL[y], y], [rowR[y], y]);
  pts.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list) => {
    const out = [];
    for (const p of list) {
      while (out.length >= 2 && cross(out[out.length - 2], out[out.length - 1], p) <= 0) out.pop();
      out.push(p);
    }
    out.pop();
    return out;
  };
  const hullPts = [...half(pts), ...half([...pts].reverse())];
  const hull = image(h, w);
  for (let y = top; y <= bottom; y++) { // each row of the hull: from its leftmost to its rightmost crossing
    let lo = Infinity;
    let hi = -Infinity;
    const n = hullPts.length;
    for (let k = 0; k < n; k++) {
      const [x0, y0] = hullPts[k];
      const [x1, y1] = hullPts[(k + 1) % n];
      if ((y0 <= y && y <= y1) || (y1 <= y && y <= y0)) {
        const xs = y0 === y1 ? [x0, x1] : [x0 + ((y - y0) * (x1 - x0)) / (y1 - y0)];
        for (const xv of xs) {
          lo = Math.min(lo, xv);
          hi = Math.max(hi, xv);
        }
      }
    }
    if (n === 1) [lo, hi] = [hullPts[0][0], hullPts[0][0]];
    for (let x = Math.max(0, Math.round(lo)); x <= Math.min(w - 1, Math.round(hi)); x++) hull.data[y * w + x] = 1;
  }
  const r = Math.max(1, pyRound(Math.min(h, w) / 100));
  const far = rectMorph(ink, 8 * r + 1, 8 * r + 1, false).data;
  const close = rectMorph(ink, 2 * r + 1, 2 * r + 1, false).data;
  const grown = rectMorph(hull, 2 * r + 1, 2 * r + 1, false).data;
  const inside = [[], []];
  const outside = [[], []];
  for (let i = 0; i < h * w; i++) {
    if (!(far[i] > 0) || close[i] > 0) continue;
    const side = hull.data[i] > 0 ? inside : grown[i] > 0 ? null : outside;
    if (side === null) continue;
    const [a, b] = chroma(colour.data[3 * i], colour.data[3 * i + 1], colour.data[3 * i + 2]);
    side[0].push(a);
    side[1].push(b);
  }
  if (inside[0].length < Math.max(10, 0.02 * (bottom - top + 1) * (right - left + 1)) || outside[0].length < 10) return 0;
  return Math.hypot(median(inside[0]) - median(outside[0]), median(inside[1]) - median(outside[1]));
}

function inkPixels(clean) {
  let n = 0;
  for (const v of clean.data) if (v > 0.5) n++;
  return n;
}

function hasInk(clean, contrast) {
  return contrast >= MIN_CONTRAST && inkPixels(clean) >= Math.max(3, MIN_INK_FRACTION * clean.data.length);
}

/** [top, left, height, width] of the pixels above 0, or null (preprocess._ink_box). */
function inkBox(clean) {
  let top = Infinity;
  let bottom = -1;
  let left = Infinity;
  let right = -1;
  for (let y = 0; y < clean.h; y++) {
    for (let x = 0; x < clean.w; x++) {
      if (clean.data[y * clean.w + x] > 0) {
        top = Math.min(top, y);
        bottom = y;
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  return bottom < 0 ? null : [top, left, bottom - top + 1, right - left + 1];
}

function cut(img, t, l, b, r) {
  const out = image(b - t, r - l);
  for (let y = t; y < b; y++) out.data.set(img.data.subarray(y * img.w + l, y * img.w + r), (y - t) * out.w);
  return out;
}

/**
 * preprocess._read_again: the ink box (in the work image of size workH x workW) grown by its longer side
 * all round, read again by the picture (cut from a canvas; from the full-size pixels of a file), shrunk to
 * WORK_SIDE when larger and cleaned with the whole picture's polarity -> {steps, ink, clean, contrast},
 * or null when the region cannot be read.
 */
function readAgain(picture, box, workH, workW, inverted, notes) {
  const [top, left, bh, bw] = box;
  const [pw, ph] = picture.size;
  const m = Math.max(bh, bw);
  const [r0, c0] = [Math.max(0, top - m), Math.max(0, left - m)];
  const [r1, c1] = [Math.min(workH, top + bh + m), Math.min(workW, left + bw + m)];
  const ceilDiv = (a, b) => Math.floor((a + b - 1) / b);
  const region = picture.region([Math.floor((r0 * ph) / workH), Math.floor((c0 * pw) / workW), ceilDiv(r1 * ph, workH), ceilDiv(c1 * pw, workW)]);
  if (region === null) return null;
  notes.push(`small ink (${bw}x${bh} px of ${workW}x${workH}): the region around it read again at ${region.w}x${region.h} from the ${pw}x${ph} picture`);
  const grey = workSize(region, notes);
  const steps = [["region around the ink, read again", grey]];
  return { steps, colour: colourAt(region.colour, grey.h, grey.w), ...cleaned(grey, inverted, steps, picture.drawnOn) };
}

/**
 * preprocess.other_polarity: no ink with the polarity inkIsDark chose, so the picture is read with the other
 * one (a marker's strokes filling a tight crop are not thin next to it); {inverted, ink, clean, contrast}
 * replacing the last two steps when that finds ink, else null (blank and flat pictures keep the first reading).
 */
function otherPolarity(grey, inverted, steps, notes, drawnOn = null) {
  const [lo, hi] = minMax(grey.data);
  if (f32(hi - lo) < MIN_CONTRAST) return null;
  const again = [];
  const other = cleaned(grey, !inverted, again, drawnOn);
  if (!hasInk(other.clean, other.contrast)) return null;
  steps.splice(steps.length - 2, 2, ...again);
  notes.push(polarityNote(inverted), ...other.dropped);
  return { inverted: !inverted, ...other };
}

/** preprocess._polarity_note: no ink found with `inverted`, so the picture is read the other way round. */
function polarityNote(inverted) {
  const [dark, light] = ["dark ink on a light background", "light ink on a dark background"];
  return `no ink found as ${inverted ? dark : light}: read as ${inverted ? light : dark} instead`;
}

/**
 * preprocess.cut_tight: no ink found against the picture's median, so it is read again with the background taken from
 * its edge (a digit cut tight to its ink covers half the picture or more, so the median is ink); {inverted, ink, clean,
 * contrast} replacing the last two steps when that finds ink, with a note, else null.  both (the ink "auto"): when that
 * finds nothing, the other polarity too, with otherPolarity's note (a bold digit filling a scan cut close).
 */
function cutTight(grey, inverted, steps, notes, both = false) {
  for (const flip of both ? [false, true] : [false]) {
    const again = [];
    const tight = cleaned(grey, inverted !== flip, again, null, true);
    if (!hasInk(tight.clean, tight.contrast)) continue;
    steps.splice(steps.length - 2, 2, ...again);
    if (flip) notes.push(polarityNote(inverted));
    notes.push("its ink covers most of the picture (cut tight to the digit): the background taken from its edge", ...tight.dropped);
    return { inverted: inverted !== flip, ...tight };
  }
  return null;
}

/**
 * preprocess.find_ink: the first reading found no ink, so the fallbacks, in order: for "auto" the other polarity, then,
 * unless the picture is a drawing on a canvas of tone drawnOn, the background from its edge (both polarities for
 * "auto"); {inverted, ink, clean, contrast} of the first that finds ink, else null.
 */
function findInk(grey, inverted, invert, steps, notes, drawnOn = null) {
  const other = invert === "auto" ? otherPolarity(grey, inverted, steps, notes, drawnOn) : null;
  if (other !== null || drawnOn !== null) return other;
  return cutTight(grey, inverted, steps, notes, invert === "auto");
}

/**
 * Canvas RGBA bytes of one digit -> {image: Float32Array(784) in [0, 1] light ink on black,
 * or null when noInk; noInk, inverted, steps: [[title, image]], notes, bbox}.
 * invert: "auto" | "yes" (dark ink on light) | "no" (light ink on dark); stroke: null = default;
 * drawnOn: the pixels are a drawing on a canvas of that plain tone (1 white, 0 black), as preprocess.prepare's
 * drawn_on: every pixel off it is ink (null: found out, as for any picture).
 * Throws ImageError for pixels that are not a usable picture.
 */
export function prepare(rgba, w, h, { invert = "auto", stroke = null, drawnOn = null } = {}) {
  if (!["auto", "yes", "no"].includes(invert)) throw new Error(`invert must be 'auto', 'yes' or 'no', not ${JSON.stringify(invert)}`);
  return preparePicture(loadRGBA(rgba, w, h, { drawnOn }), { invert, stroke });
}

/**
 * A decoded picture file (RGBA bytes upright at its own size, as the browser decodes an upload) ->
 * the same result as ``prepare``, read the way the app and the CLI read the file (``loadDecoded``):
 * an upload is prepared from its own pixels, never from its copy shrunk onto the canvas.  said: the file's
 * DRAWN_ON_TAG text (``pngText``), or null: a drawing saved by the Collect page is read as its canvas was.  ink: the
 * file's INK_TAG text, or null: with invert "auto", a picture kept with its Ink set by hand is read with that ink.
 */
export function prepareDecoded(rgba, w, h, { invert = "auto", stroke = null, jpeg = false, said = null, ink = null } = {}) {
  if (!["auto", "yes", "no"].includes(invert)) throw new Error(`invert must be 'auto', 'yes' or 'no', not ${JSON.stringify(invert)}`);
  return preparePicture(loadDecoded(rgba, w, h, { jpeg, said, ink }), { invert, stroke });
}

function preparePicture(loaded, { invert: asked, stroke }) {
  const [w, h] = loaded.size;
  const notes = loaded.notes;
  const invert = fileInk(loaded, asked); // before the work size's notes, as in Python
  const grey = workSize(loaded.grey, notes);
  const steps = [["input", grey]];
  let inverted = inkPolarity(grey, invert, loaded.drawnOn);
  let { ink, clean, contrast, dropped } = cleaned(grey, inverted, steps, loaded.drawnOn);
  const box = inkBox(clean);
  let zoomed = false;
  let colour = colourAt(loaded.grey.colour, grey.h, grey.w);
  // A digit a few percent of a large photo's width is ~20 px with ~1 px strokes once shrunk: read its surroundings again.
  if (box !== null && contrast >= MIN_CONTRAST && Math.max(box[2], box[3]) >= MIN_SIDE && Math.max(box[2], box[3]) < SMALL_INK * WORK_SIDE
      && Math.max(w, h) >= ZOOM_GAIN * Math.max(grey.h, grey.w)) {
    const again = readAgain(loaded, box, grey.h, grey.w, inverted, notes);
    if (again !== null && hasInk(again.clean, again.contrast)) {
      steps.push(...again.steps);
      ({ ink, clean, contrast, colour, dropped } = again);
      zoomed = true;
    } else if (again !== null) {
      notes.push("no ink in the region read again: the first reading kept");
    }
  }
  if (hasInk(clean, contrast)) { // (a region read again always has ink)
    notes.push(...dropped); // a fallback below says what its own reading took away
  } else {
    const found = findInk(grey, inverted, invert, steps, notes, loaded.drawnOn);
    if (found !== null) ({ inverted, ink, clean, contrast } = found);
    else notes.push(...dropped); // what the reading kept took away, before its "no ink"
  }
  if (!hasInk(clean, contrast)) {
    if (median(ink.data) > 0.5) notes.push("no digit found: the picture is one flat tone (covered in ink, or blank): draw one digit with space around it");
    else if (loaded.drawnOn !== null && ink.data.every((v) => v === 0)) notes.push(BLANK_DRAWING); // a drawing with not one pixel off its background
    else notes.push(`no ink found (contrast ${contrast.toFixed(2)}, ${inkPixels(clean)} ink pixels)`);
    return { image: null, noInk: true, inverted, steps, notes, bbox: null, paperShift: 0, refusal: null };
  }
  if (loaded.drawnOn === null) { // a drawing on a canvas holds what was drawn, not a page's marks
    const isolated = isolateDigit(clean);
    if (isolated.notes.length) {
      clean = isolated.clean;
      notes.push(...isolated.notes);
      steps.push(["marks around the digit left out", clean]);
    }
  }
  const [top, left, bh, bw] = inkBox(clean);
  const shift = paperShift(colour, clean);
  let refusal = null;
  if (shift > PAPER_SHIFT_LIMIT) {
    refusal = `what its strokes enclose is not the paper around them: a colour shift of ${shift.toFixed(0)}, over the limit of ${PAPER_SHIFT_LIMIT.toFixed(0)}, so a picture, such as a face, not a written digit`;
    notes.push(refusal);
  }
  let crop = cut(clean, top, left, top + bh, left + bw);
  steps.push(["cropped to ink", crop]);
  if (stroke === null ? NORMALISE_STROKE : stroke) {
    const thick = thickenHairline(crop);
    if (thick !== crop) {
      notes.push(HAIRLINE_NOTE);
      crop = thick;
      steps.push(["hairline thickened", crop]);
    }
    const ns = normaliseStroke(crop);
    crop = ns.digit;
    if (ns.after !== ns.before) {
      notes.push(`stroke width ${ns.before.toFixed(1)} px -> ${ns.after.toFixed(1)} px (MNIST: ${STROKE_BAND[0]}-${STROKE_BAND[1]})`);
      steps.push(["stroke width normalised", crop]);
    }
  }
  const digit = fitBox(crop);
  steps.push([`fitted into ${BOX}x${BOX}`, digit]);
  const out = pasteCentred(digit);
  steps.push([`${SIZE}x${SIZE}, centre of mass at centre`, out]);
  const brightest = out.data.reduce((m, v) => Math.max(m, v), 0);
  if (brightest < INK_LEVEL) { // specks scattered over a wide box fade away when it is shrunk: no stroke
    notes.push(`no digit found: the ink is scattered specks, not strokes (brightest ${brightest.toFixed(2)} once fitted)`);
    return { image: null, noInk: true, inverted, steps, notes, bbox: null, paperShift: 0, refusal: null };
  }
  return { image: out.data, noInk: false, inverted, steps, notes, bbox: zoomed ? box : [top, left, bh, bw], paperShift: shift, refusal };
}
