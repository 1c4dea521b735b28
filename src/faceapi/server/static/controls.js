// The options card: the settings it makes (sent over the WebSocket, and as the REST query in Image mode),
// and the controls that appear only where the server's hello advertises the feature: tracking, the
// expression models (with each one's balanced accuracy), calibrated confidence, liveness. The options' limits
// and the detector each applies to come from the server's option schema (the hello's `options`): the
// sliders keep within its limits, and settings() sends only the options that apply to the chosen detector
// (the server refuses one of the other detector that differs from its default).
import { el } from "./state.js";
import { radio } from "./ui.js";

let helloOf = () => null;

/** What a hello advertises, read defensively (an older server says nothing of it). */
export const advertised = {
  tracking: (h) => !!h && h.tracking === true,
  expressionModels: (h) => (h && Array.isArray(h.expression_models)
    ? h.expression_models.filter((m) => m && typeof m.name === "string" && m.name) : []),
  calibrated: (h) => !!h && (h.calibrated === true || advertised.expressionModels(h).length > 0),
  liveness: (h) => !!h && h.liveness === true,
};

/** The server's option schema (the hello's `options`) by option name; empty from an older server. */
export function schemaOf(h) {
  const specs = h && Array.isArray(h.options) ? h.options : [];
  return Object.fromEntries(specs.filter((o) => o && typeof o.name === "string").map((o) => [o.name, o]));
}

/** Whether an option applies to a detector: by the schema; without one (an older server), the tiny
 *  detector's input size only with it, as before. */
function applies(schema, name, detector) {
  const o = schema[name];
  if (!o) return name !== "input_size" || detector === "tiny";
  return !Array.isArray(o.detectors) || o.detectors.includes(detector);
}

/** Keep a range input within a schema option's limits (an open bound moves in by one step). */
function limit(input, o) {
  if (!o || typeof o.minimum !== "number" || typeof o.maximum !== "number") return;
  if (typeof o.multiple_of === "number") input.step = String(o.multiple_of);
  const step = Number(input.step) || 0;
  const lo = o.minimum + (o.open_min ? step : 0);
  const hi = o.maximum - (o.open_max ? step : 0);
  input.min = String(Math.max(Number(input.min), lo));
  input.max = String(Math.min(Number(input.max), hi));
  const v = Number(input.value);
  if (!(v >= Number(input.min) && v <= Number(input.max))) input.value = String(o.default);
}

/** The settings of the options card; a feature's key only where the server advertised it, an option only
 *  where it applies to the chosen detector. */
export function settings() {
  const h = helloOf();
  const lm = radio("landmarks");
  const s = {
    detector: radio("detector"),
    input_size: Number(el.optInput.value),
    min_score: Number(el.optScore.value),
    landmarks: lm === "off" ? null : lm,
    expressions: el.optExpr.checked,
    age_gender: el.optAge.checked,
    recognize: el.optRecognize.checked,
  };
  if (advertised.tracking(h)) s.tracking = el.optTracking.checked;
  if (advertised.expressionModels(h).length) s.expression_model = el.optExprModel.value || "faceapi";
  if (advertised.calibrated(h)) s.calibrated = el.optCalibrated.checked;
  if (advertised.liveness(h)) {
    s.liveness = el.optLiveness.checked;
    s.require_live = el.optRequireLive.checked;  // recognition names only live faces ("not live" otherwise)
  }
  const schema = schemaOf(h);
  for (const name of Object.keys(s)) if (!applies(schema, name, s.detector)) delete s[name];
  return s;
}

function modelText(m) {
  const acc = typeof m.balanced_accuracy === "number" && Number.isFinite(m.balanced_accuracy)
    ? ` · balanced accuracy ${m.balanced_accuracy.toFixed(2)}` : "";
  return `${typeof m.label === "string" && m.label ? m.label : m.name}${acc}`;
}

/** Show the controls the hello advertises (the choices made so far stay where they still exist). */
export function applyHello(h) {
  const schema = schemaOf(h);
  limit(el.optInput, schema.input_size);
  limit(el.optScore, schema.min_score);
  el.outInput.textContent = el.optInput.value;
  el.outScore.textContent = Number(el.optScore.value).toFixed(2);
  el.checkTracking.hidden = !advertised.tracking(h);
  const models = advertised.expressionModels(h);
  el.fieldExprModel.hidden = !models.length;
  if (models.length) {
    const was = el.optExprModel.value;
    el.optExprModel.replaceChildren(...models.map((m) => {
      const o = document.createElement("option");
      o.value = m.name;
      o.textContent = modelText(m);
      return o;
    }));
    const names = models.map((m) => m.name);
    el.optExprModel.value = names.includes(was) ? was : names.includes("faceapi") ? "faceapi" : names[0];
  }
  el.checkCalibrated.hidden = !advertised.calibrated(h);
  el.checkLiveness.hidden = !advertised.liveness(h);
  el.checkRequireLive.hidden = !advertised.liveness(h);
  followExpressions();
}

/** The expression model and calibration mean something only with expressions on. */
function followExpressions() {
  el.optExprModel.disabled = !el.optExpr.checked;
  el.optCalibrated.disabled = !el.optExpr.checked;
  el.fieldExprModel.classList.toggle("inactive", !el.optExpr.checked);
}

/** Wire the options: `onChange()` after every change but the mirror's, `onMirror()` after the mirror's;
 *  `hello()` gives the server's latest hello. */
export function initControls({ hello, onChange, onMirror }) {
  helloOf = hello;
  document.querySelectorAll(".options input, .options select").forEach((inp) => {
    if (inp === el.optMirror) return;
    inp.addEventListener(inp.type === "range" ? "input" : "change", () => {
      el.outInput.textContent = el.optInput.value;
      el.outScore.textContent = Number(el.optScore.value).toFixed(2);
      followExpressions();
      onChange();
    });
  });
  el.optMirror.addEventListener("change", onMirror);
  el.outInput.textContent = el.optInput.value;
  el.outScore.textContent = Number(el.optScore.value).toFixed(2);
  followExpressions();
}

/** The detector's input size applies to the tiny detector only. */
export function followDetector() {
  const tiny = radio("detector") === "tiny";
  el.fieldInput.classList.toggle("inactive", !tiny);
  el.optInput.disabled = !tiny;
}
