// The "not sure this is a digit" rule of digitlab.serving.abstain (Python's `judge`), for the page and
// for Node (web/tfjs_cli.mjs, which the tests run against Python on the same inputs).
//
//   probabilities (10) -- the model card's temperature T --> calibrated probabilities
//   abstain when EITHER the digit gate's P(digit) is below the gate's threshold,
//                OR the calibrated max probability is below the model's threshold.
//
// The rule's numbers come from web/model/<name>.json ("abstain": the card's calibration, written by
// web/build.py) and web/model/gate.json (the gate's threshold).  The sentences are Python's, word for word.

export const NOT_SURE = "not sure this is a digit";
// "7 or 2?": the runner-up holds at least this share of the top digit's calibrated probability
// (digitlab.serving.classifiers.CLOSE, which the app uses; tests/test_tfjs.py holds them equal).
export const CLOSE = 0.5;

// How the writer writes 1 and 7 (digitlab.serving.writing.WRITINGS, which tests/test_tfjs.py holds equal): the
// log-odds of 1 against 7 added to the model's probabilities before the rule, and nothing else moved.
export const WRITINGS = { default: 0, continental: 1.5 };

// Where a browser's language starts the setting on "continental" (digitlab.serving.writing.CONTINENTAL_REGIONS and
// CONTINENTAL_LANGUAGES, which tests/test_tfjs.py holds equal; the sources are named there).
export const CONTINENTAL_REGIONS = new Set(["AT", "BA", "BE", "BG", "BY", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR",
  "HR", "HU", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "ME", "MD", "MK", "NL", "NO", "PL", "PT", "RO", "RS", "RU", "SE", "SI",
  "SK", "UA"]);
export const CONTINENTAL_LANGUAGES = new Set(["be", "bg", "bs", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hr", "hu", "is",
  "it", "lt", "lv", "mk", "nb", "nl", "nn", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "uk"]);

/**
 * The writing a browser's language suggests (Python's `writing.for_locale`): "continental" where the tag's region
 * (two letters or three digits after the language) is continental, or, with no region, its language; else "default".
 */
export function forLocale(locale) {
  const parts = String(locale ?? "").replaceAll("_", "-").split("-").filter((p) => p);
  if (!parts.length) return "default";
  const region = parts.slice(1).find((p) => (p.length === 2 && /^[A-Za-z]+$/.test(p)) || (p.length === 3 && /^[0-9]+$/.test(p)));
  if (region !== undefined) return CONTINENTAL_REGIONS.has(region.toUpperCase()) ? "continental" : "default";
  return CONTINENTAL_LANGUAGES.has(parts[0].toLowerCase()) ? "continental" : "default";
}

/** Python's f"{x:.1%}". */
const pct = (x) => `${(100 * x).toFixed(1)}%`;

/**
 * softmax(log p / T) = softmax(z / T), in float64 like numpy, rounded to float32 at the end like
 * `apply_temperature`.  probs: 10 probabilities (any array-like); T > 0.
 */
export function calibrate(probs, temperature) {
  if (!(temperature > 0)) throw new Error(`temperature must be a positive number, not ${temperature}`);
  const z = Array.from(probs, (p) => Math.log(Math.max(p, 1e-300)) / temperature);
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => Math.fround(v / sum));
}

/**
 * Python's `writing.read_as`: 10 probabilities read as `writing` writes 1 and 7, p1 / p7 multiplied by e^b
 * (b = WRITINGS[writing]) with p1 + p7 and every other class unchanged; in float64 like numpy, rounded to
 * float32 at the end.  The default reading (b = 0) is the model's own, exactly; a row without ink stays zero.
 */
export function readAs(probs, writing = "default") {
  if (probs.length !== 10) throw new Error(`expected 10 probabilities, got ${probs.length}`);
  if (!Object.hasOwn(WRITINGS, writing)) {
    throw new Error(`unknown writing ${JSON.stringify(writing)}: one of ${Object.keys(WRITINGS).join(", ")}`);
  }
  const b = WRITINGS[writing];
  const out = Array.from(probs, Math.fround);
  if (b === 0) return out;
  const both = out[1] + out[7];
  const odds = Math.log(Math.max(out[1], 1e-300)) - Math.log(Math.max(out[7], 1e-300)) + b;
  const one = both / (1 + Math.exp(-odds));
  out[1] = Math.fround(one);
  out[7] = Math.fround(both - one);
  return out;
}

/**
 * One prediction's verdict, as Python's `abstain.judge` gives it for one inked picture.
 *
 * probs          the model's 10 probabilities (the picture had ink)
 * pDigit         the digit gate's P(digit) for the same 28x28 input, or null when no gate is loaded
 * rule           {temperature, threshold} from the model card's calibration, or null (no calibration)
 * gateThreshold  the gate's threshold (ignored when pDigit is null)
 * refusal        preprocessing's reason the picture is not a written digit (prepare's `refusal`: a face), or null
 *
 * Returns {label, abstain, reason, message, calibrated}: label the best guess; reason the part after
 * "not sure this is a digit: " for a refusal, or the confidence behind an answer; message the one
 * sentence Python's Judgement.message gives.
 */
export function judge(probs, pDigit, rule, gateThreshold, refusal = null) {
  if (probs.length !== 10) throw new Error(`expected 10 probabilities, got ${probs.length}`);
  const p = rule && rule.temperature ? calibrate(probs, rule.temperature) : Array.from(probs, Math.fround);
  let label = 0;
  for (let d = 1; d < 10; d++) if (p[d] > p[label]) label = d; // first maximum, like numpy's argmax
  const conf = p[label];
  const threshold = rule && rule.threshold != null ? rule.threshold : null;
  const gated = pDigit !== null && pDigit !== undefined;
  const gateNote = gated ? "" : "; digit gate unavailable";
  let abstain = false;
  let reason;
  if (refusal) {
    abstain = true;
    reason = refusal;
  } else if (gated && pDigit < gateThreshold) {
    abstain = true;
    reason = `it does not look like one (digit gate ${pct(pDigit)}, below ${pct(gateThreshold)})`;
  } else if (threshold !== null && conf < threshold) {
    abstain = true;
    reason = `calibrated confidence ${pct(conf)} is below ${pct(threshold)}`;
  } else if (threshold === null) {
    reason = `confidence ${pct(conf)} (${gated ? "digit gate only" : "no abstain rule"}: no calibration in the model card${gateNote})`;
  } else {
    reason = `calibrated confidence ${pct(conf)}` + (gated ? `, digit gate ${pct(pDigit)}` : "") + gateNote;
  }
  return { label, abstain, reason, message: abstain ? `${NOT_SURE}: ${reason}` : reason, calibrated: p };
}

/** The runner-up digit and its calibrated probability, and whether the model hesitates between the two
 *  (Python's Prediction.runner_up and .close).  calibrated: `judge(...).calibrated`. */
export function runnerUp(calibrated, label) {
  let second = label === 0 ? 1 : 0;
  for (let d = 0; d < 10; d++) if (d !== label && calibrated[d] > calibrated[second]) second = d;
  return { second, p: calibrated[second], close: calibrated[second] >= CLOSE * calibrated[label] };
}
