// What the page shows of a result: the live picture or the photo with its overlay (draw.js), the side
// card of the selected face (else the largest), the status line, and choosing a face by tap, click or keys.
import { EXPRESSIONS, EXPR_COLORS, clearCanvas, drawFrame, drawResult, faceAt, isCalibrated, isNamed,
  livenessWord, shownProbabilities } from "./draw.js";
import { el, state } from "./state.js";
import { fmtMs, largestFace, radio } from "./ui.js";

const EMPTY = { canvas: null, rect: null, boxes: [], tags: [], panels: [], chips: [], leaders: [], carded: [], selected: null };
const centre = (b) => [b.x + b.width / 2, b.y + b.height / 2];

/** The index of the chosen face among `faces` (frame coordinates): by track id while tracking, else the
 *  face nearest to where it was (within its size); null when it is gone or none was chosen. */
function resolve(sel, faces) {
  if (!sel || !faces || !faces.length) return null;
  if (sel.track != null) {
    const k = faces.findIndex((f) => f.track === sel.track);
    return k >= 0 ? k : null;
  }
  let best = null, bestD = Infinity;
  faces.forEach((f, k) => {
    const [x, y] = centre(f.box), d = Math.hypot(x - sel.center[0], y - sel.center[1]);
    if (d < bestD) { best = k; bestD = d; }
  });
  if (bestD > sel.size) return null;
  sel.center = centre(faces[best].box);  // follow a face that moves
  return best;
}
function choose(face) {
  if (!face) return null;
  if (Number.isInteger(face.track)) return { track: face.track };
  return { center: centre(face.box), size: Math.max(face.box.width, face.box.height) };
}

const liveResult = () => (state.detecting && state.current ? state.current.result : null);
const viewOf = () => (el.imageView.hidden ? "live" : "photo");
const resultOf = (view) => (view === "live" ? liveResult() : state.photo.result);

/** The face the side card shows in `view`: the chosen one while it is there, else the largest. */
export function shownFace(view = viewOf()) {
  const r = resultOf(view);
  if (!r) return { face: null, selected: false };
  const k = resolve(state.selected[view], r.faces);
  return k != null ? { face: r.faces[k], selected: true, index: k, count: r.faces.length }
    : { face: largestFace(r.faces), selected: false, count: r.faces.length };
}

/** The live picture: the analysed frame with its result while detecting, else the camera's video. */
export function renderLive() {
  const cur = state.detecting ? state.current : null;
  const mirrored = el.optMirror.checked;
  el.video.classList.toggle("behind", !!cur);
  el.frameView.hidden = !cur;
  if (cur) {
    drawFrame(el.frameView, cur.frame.bitmap, mirrored);
    const selected = resolve(state.selected.live, cur.result.faces);
    const d = drawResult(el.overlay, cur.result, mirrored, { landmarks: radio("landmarks") !== "off", selected,
      prefer: (f) => (Number.isInteger(f.track) ? panelsWere.get(f.track) : undefined) });
    remember(cur.result.faces, d);
    state.drawn = { frame: cur.id, mirrored, ...d };
  } else {
    clearCanvas(el.frameView);
    clearCanvas(el.overlay);
    state.drawn = { frame: null, mirrored, ...EMPTY };
  }
}

// where each tracked face's panel was drawn (offset from its box), so that it stays there while it is free
const panelsWere = new Map();
function remember(faces, d) {
  panelsWere.clear();
  faces.forEach((f, k) => {
    const p = d.panels[k];
    if (p && Number.isInteger(f.track)) panelsWere.set(f.track, { kind: p.kind, dx: p.x - d.boxes[k].x, dy: p.y - d.boxes[k].y });
  });
}

export function drawPhoto() {
  if (el.imageView.hidden) return;
  const r = state.photo.result;
  const selected = r ? resolve(state.selected.photo, r.faces) : null;
  const d = drawResult(el.photoOverlay, r, false, { landmarks: true, selected });
  state.photo.boxes = d.boxes;
  state.photo.drawn = d;
}

/** Choose face `k` of what is drawn in `view` (null: back to the largest), redraw and show it. */
export function select(view, k) {
  const r = resultOf(view);
  state.selected[view] = r && k != null ? choose(r.faces[k]) : null;
  if (view === "live") renderLive(); else drawPhoto();
  renderSummary(shownFace(view));
}

/** A tap or click on a face chooses it (elsewhere: back to the largest); on the focused picture the arrow
 *  keys go from face to face, left to right, and Escape goes back to the largest. */
function wireSelection(stage, canvas, view) {
  const drawnOf = () => (view === "live" ? state.drawn : state.photo.drawn || EMPTY);
  stage.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    select(view, faceAt(drawnOf(), ev.clientX - r.left, ev.clientY - r.top));
  });
  stage.addEventListener("keydown", (ev) => {
    const boxes = drawnOf().boxes || [];
    if (ev.key === "Escape") { select(view, null); ev.preventDefault(); return; }
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[ev.key];
    if (!step || !boxes.length) return;
    ev.preventDefault();
    const order = boxes.map((b, k) => k).sort((a, b) => boxes[a].x - boxes[b].x || boxes[a].y - boxes[b].y);
    const cur = drawnOf().selected;
    const at = cur == null ? (step > 0 ? -1 : order.length) : order.indexOf(cur);
    select(view, order[(at + step + order.length) % order.length]);
  });
}
wireSelection(el.stage, el.overlay, "live");
wireSelection(el.imageStage, el.photoOverlay, "photo");

// ---------------------------------------------------------------------------------------------
// the side card: the chosen face, else the largest
const barRows = {};
for (const e of EXPRESSIONS) {
  const name = document.createElement("span"), track = document.createElement("span"), fill = document.createElement("span");
  const pct = document.createElement("span");
  name.className = "name"; name.textContent = e;
  track.className = "track"; fill.className = "fill"; track.appendChild(fill);
  pct.className = "pct"; pct.textContent = "–";
  fill.style.background = EXPR_COLORS[e];  // CSSOM, not a style attribute: the CSP allows it
  el.bars.append(name, track, pct);
  barRows[e] = { cells: [name, pct], fill, pct };
}

/** Show `shown` ({face, selected, index, count} of shownFace, or null) in the side card. */
export function renderSummary(shown, none = "no face") {
  const face = shown && shown.face;
  el.faceTitle.textContent = shown && shown.selected ? `Selected face (${shown.index + 1} of ${shown.count})` : "Largest face";
  el.summary.dataset.selected = shown && shown.selected ? "true" : "false";
  renderName(face);
  el.dominant.style.color = "";
  el.summary.dataset.calibrated = face && isCalibrated(face) ? "true" : "false";
  el.summary.dataset.liveness = (face && livenessWord(face)) || "";
  el.faceNotes.textContent = face ? notes(face) : "";
  el.faceNotes.hidden = !el.faceNotes.textContent;
  if (!face || !face.expressions) {
    el.summary.dataset.dominant = "";
    el.dominant.textContent = face ? "face" : none;
    el.dominantProb.textContent = face ? "(expressions off)" : "";
    el.faceMeta.textContent = face ? meta(face) : "";
    for (const e of EXPRESSIONS) {
      barRows[e].fill.style.width = "0";
      barRows[e].pct.textContent = "–";
      barRows[e].cells.forEach((c) => c.classList.remove("top"));
    }
    return;
  }
  el.faceMeta.textContent = meta(face);
  const dom = face.expressions.dominant, probs = shownProbabilities(face);
  el.summary.dataset.dominant = dom;
  el.dominant.textContent = dom;
  el.dominant.style.color = EXPR_COLORS[dom] || "";
  el.dominantProb.textContent = `${Math.round((probs[dom] || 0) * 100)}%`;
  for (const e of EXPRESSIONS) {
    const p = probs[e] || 0;
    barRows[e].fill.style.width = `${(p * 100).toFixed(1)}%`;
    barRows[e].pct.textContent = `${Math.round(p * 100)}%`;
    barRows[e].cells.forEach((c) => c.classList.toggle("top", e === dom));
  }
}
function meta(face) {
  const m = [`score ${face.score.toFixed(2)}`];
  if (Number.isInteger(face.track)) m.unshift(`#${face.track}`);
  if (face.age != null) m.push(`${Math.round(face.age)} y`, `${face.gender} ${Math.round(face.gender_probability * 100)}%`);
  return m.join(" · ");
}
/** What the numbers are: calibrated or raw, which model, and the liveness verdict with its score. */
function notes(face) {
  const out = [];
  const e = face.expressions;
  if (e && isCalibrated(face)) out.push("calibrated confidence");
  if (e && typeof e.model === "string") out.push(`model ${e.model}`);
  const live = livenessWord(face), l = face.liveness;
  if (live) {
    const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(2) : "?");
    out.push(`${live} (liveness ${num(l.score)}, threshold ${num(l.threshold)})`);
  }
  return out.join(" · ");
}
function renderName(face) {
  const m = face && face.match;
  el.faceName.hidden = !m;
  el.faceName.dataset.label = m ? m.label : "";
  el.faceName.dataset.known = face && isNamed(face) ? "true" : "false";
  el.faceName.textContent = m ? (m.label === "unknown" ? "unknown person" : m.label) : "";
  el.faceName.title = m && m.distance != null ? `distance ${m.distance.toFixed(3)} to the gallery` : "";
}

// ---------------------------------------------------------------------------------------------
// status line
export function showStats(msg) {
  const t = msg.timings_ms || {};
  const n = state.fpsTimes.length;
  const fps = n > 1 ? ((n - 1) * 1000) / (state.fpsTimes[n - 1] - state.fpsTimes[0]) : null;
  el.fps.textContent = fps ? fps.toFixed(1) : "–";
  el.rtt.textContent = fmtMs(state.rttAvg);
  el.faces.textContent = msg.faces.length;
  const parts = ["decode", "detect", "landmarks", "expressions", "age_gender", "liveness", "descriptors", "recognize", "tracking"]
    .filter((k) => t[k] != null).map((k) => `${k.replace("_", " ")} ${fmtMs(t[k])}`);
  if (msg.detected === false) parts.splice(1, 0, "detect skipped (tracked)");  // tracking: no detector this frame
  el.stages.textContent = `server: ${parts.join(" · ")} · total ${fmtMs(t.server_total != null ? t.server_total : t.total)} ms`;
}
