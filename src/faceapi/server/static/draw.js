// Drawing on canvases: the analysed frame, and its result over it (boxes, landmarks, expression panels,
// tags), like face-api.js's resizeResults + draw. Frame pixels map to the displayed picture, which is
// letterboxed (object-fit: contain) in its stage and mirrored for a selfie view. Where the labels go is
// layout.js's job (free space only); this module measures them and paints.
import { layoutLabels, union } from "./layout.js";

export const EXPRESSIONS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"];
export const EXPR_COLORS = {
  neutral: "#9aa5b1", happy: "#f5c518", sad: "#4a90e2", angry: "#e5484d",
  fearful: "#a06cd5", disgusted: "#30a46c", surprised: "#f76b15",
};
// face-api.js's draw colours (and faceapi.draw's): blue box, cyan contours, magenta points
const BOX_COLOR = "rgba(0, 0, 255, 1)";
const MATCH_COLOR = "rgba(0, 160, 0, 1)";
const LINE_COLOR = "rgba(0, 255, 255, 1)";
const POINT_COLOR = "rgba(255, 0, 255, 1)";
const PANEL_BG = "rgba(10, 14, 20, 0.82)";
const SPOOF_COLOR = "rgba(190, 24, 36, 1)";      // a face the liveness nets call a spoof (photo, screen)
const SELECTED_COLOR = "rgba(255, 255, 255, 0.9)";
const LEADER_COLOR = "rgba(230, 237, 243, 0.85)";
const REGIONS = [[0, 17, false], [17, 22, false], [22, 27, false], [27, 31, false], [30, 36, false],
  [36, 42, true], [42, 48, true], [48, 60, true], [60, 68, true]];

/** Size the canvas's backing store to its CSS size at the device pixel ratio; draw in CSS pixels. */
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w: canvas.clientWidth, h: canvas.clientHeight };
}

/** Where a picture of iw x ih shows in a W x H box with object-fit: contain (x, y, width, height, scale). */
export function contentRect(W, H, iw, ih) {
  const s = Math.min(W / iw, H / ih);
  const w = iw * s, h = ih * s;
  return { x: (W - w) / 2, y: (H - h) / 2, width: w, height: h, scale: s };
}

export function clearCanvas(canvas) {
  const { ctx, w, h } = fitCanvas(canvas);
  ctx.clearRect(0, 0, w, h);
}

/** The analysed frame (a canvas or bitmap), letterboxed and mirrored as the video would show it. */
export function drawFrame(canvas, bitmap, mirrored) {
  const { ctx, w: W, h: H } = fitCanvas(canvas);
  ctx.clearRect(0, 0, W, H);
  const r = contentRect(W, H, bitmap.width, bitmap.height);
  ctx.save();
  if (mirrored) { ctx.translate(W, 0); ctx.scale(-1, 1); }
  ctx.drawImage(bitmap, mirrored ? W - r.x - r.width : r.x, r.y, r.width, r.height);
  ctx.restore();
  return r;
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
  ctx.fill();
}


// ---------------------------------------------------------------------------------------------
// what a face's labels say: every number with its name ("score 0.97", "distance 0.07")
const pct = (p) => `${Math.round(p * 100)}%`;

/** The probabilities shown for a face: the calibrated ones when the server sent them, else face-api.js's. */
export function shownProbabilities(f) {
  const e = f.expressions;
  if (!e) return null;
  return e.calibrated && typeof e.calibrated === "object" ? e.calibrated : e.probabilities;
}
export const isCalibrated = (f) => !!(f.expressions && f.expressions.calibrated && typeof f.expressions.calibrated === "object");

/** The liveness verdict of a face: "live", "spoof", or null when the server did not judge it. */
export function livenessWord(f) {
  const l = f.liveness;
  if (!l || typeof l !== "object" || typeof l.live !== "boolean") return null;
  return l.live ? "live" : "spoof";
}

/** Whether recognition named the face ("unknown" and the liveness check's "not live" are no names). */
export const isNamed = (f) => !!f.match && f.match.label !== "unknown" && f.match.label !== "not live";

export function matchText(m) {
  return m.distance == null ? m.label : `${m.label} · distance ${m.distance.toFixed(2)}`;
}
export function tagText(f) {
  const parts = [];
  if (Number.isInteger(f.track)) parts.push(`#${f.track}`);
  parts.push(f.match ? matchText(f.match) : `score ${f.score.toFixed(2)}`);
  const live = livenessWord(f);
  if (live) parts.push(live);
  return parts.join(" · ");
}
function ageText(f) {
  return f.age != null ? `${Math.round(f.age)} y · ${f.gender} ${pct(f.gender_probability)}` : null;
}
/** The chip of a collapsed panel: the dominant expression (else the age). */
function chipText(f) {
  const probs = shownProbabilities(f);
  if (probs) {
    const dom = f.expressions.dominant;
    return `${dom} ${pct(probs[dom])}${isCalibrated(f) ? " cal." : ""}`;
  }
  return ageText(f);
}

const TAG_FONT = (u) => `600 ${Math.round(12 * u)}px system-ui, sans-serif`;
const CHIP_FONT = (u) => `600 ${Math.round(11.5 * u)}px system-ui, sans-serif`;

/** The panels a face may get, in order of preference: "full" (a row per expression, for a single face)
 *  then "compact" (a mini chart); [] when there is nothing to show. */
function panelSizes(ctx, f, single, unit) {
  const age = ageText(f);
  if (!f.expressions && !age) return [];
  const pad = 6 * unit, out = [];
  if (single) {
    const rows = f.expressions ? EXPRESSIONS.length : 0;
    out.push({ kind: "full", width: pad * 2 + 148 * unit,
      height: pad * 2 + (f.expressions ? 20 * unit + 13 * unit * rows : 0) + (age ? 16 * unit : 0) });
  }
  ctx.font = CHIP_FONT(unit);
  const texts = [];
  if (f.expressions) texts.push(compactHead(f));
  if (age) texts.push(age);
  const w = Math.max(...texts.map((t) => ctx.measureText(t).width + 2 * pad), 70 * unit);
  out.push({ kind: "compact", width: w, height: pad * 2 + texts.length * 15 * unit + (f.expressions ? 18 * unit : 0) });
  return out;
}
function compactHead(f) {
  const dom = f.expressions.dominant;
  return `${dom} ${pct(shownProbabilities(f)[dom])}${isCalibrated(f) ? " cal." : ""}`;
}

function drawPanel(ctx, f, r, unit) {
  const pad = 6 * unit, age = ageText(f);
  ctx.fillStyle = PANEL_BG;
  roundRect(ctx, r.x, r.y, r.width, r.height, 6 * unit);
  ctx.textBaseline = "middle";
  let y = r.y + pad;
  if (f.expressions) {
    const dom = f.expressions.dominant, probs = shownProbabilities(f);
    if (r.kind === "full") {
      const headH = 20 * unit, rowH = 13 * unit, nameW = 58 * unit, barW = 60 * unit;
      ctx.font = `700 ${Math.round(15 * unit)}px system-ui, sans-serif`;
      ctx.fillStyle = EXPR_COLORS[dom];
      ctx.fillText(dom, r.x + pad, y + headH / 2);
      ctx.font = `${Math.round(12 * unit)}px system-ui, sans-serif`;
      ctx.fillStyle = "#cfd8e3";
      const t = `${pct(probs[dom])}${isCalibrated(f) ? " cal." : ""}`;
      ctx.fillText(t, r.x + r.width - pad - ctx.measureText(t).width, y + headH / 2);
      y += headH;
      ctx.font = `${Math.round(10.5 * unit)}px system-ui, sans-serif`;
      for (const e of EXPRESSIONS) {
        const p = probs[e] || 0;
        ctx.fillStyle = e === dom ? "#fff" : "#b4bfcc";
        ctx.fillText(e, r.x + pad, y + rowH / 2);
        ctx.fillStyle = "rgba(255,255,255,0.12)";
        ctx.fillRect(r.x + pad + nameW, y + rowH * 0.3, barW, rowH * 0.4);
        ctx.fillStyle = EXPR_COLORS[e];
        ctx.fillRect(r.x + pad + nameW, y + rowH * 0.3, Math.max(p * barW, p > 0.005 ? unit : 0), rowH * 0.4);
        ctx.fillStyle = "#b4bfcc";
        const n = `${Math.round(p * 100)}`;
        ctx.fillText(n, r.x + r.width - pad - ctx.measureText(n).width, y + rowH / 2);
        y += rowH;
      }
    } else {
      const lineH = 15 * unit, histH = 16 * unit;
      ctx.font = CHIP_FONT(unit);
      ctx.fillStyle = EXPR_COLORS[dom];
      ctx.fillText(compactHead(f), r.x + pad, y + lineH / 2);
      y += lineH;
      const n = EXPRESSIONS.length, gap = 2 * unit, bw = (r.width - 2 * pad - gap * (n - 1)) / n;
      EXPRESSIONS.forEach((e, i) => {
        const bx = r.x + pad + i * (bw + gap), p = probs[e] || 0;
        ctx.fillStyle = "rgba(255,255,255,0.12)";
        ctx.fillRect(bx, y + unit, bw, histH);
        ctx.fillStyle = EXPR_COLORS[e];
        const bh = Math.max(p * histH, p > 0.005 ? unit : 0);
        ctx.fillRect(bx, y + unit + histH - bh, bw, bh);
      });
      y += histH + 2 * unit;
    }
  }
  if (age) {
    ctx.fillStyle = "#e6edf3";
    ctx.font = `${Math.round(11.5 * unit)}px system-ui, sans-serif`;
    ctx.fillText(age, r.x + pad, y + 8 * unit);
  }
}

const tagColor = (f) => (livenessWord(f) === "spoof" ? SPOOF_COLOR
  : isNamed(f) ? MATCH_COLOR : BOX_COLOR);

/**
 * Draw `result` (frame coordinates) over its picture letterboxed on `canvas`; `opts.selected`: the index
 * of the selected face (outlined); `opts.prefer(face, box)`: where its panel was before ({kind, dx, dy}). Returns what was drawn, in CSS pixels of the canvas, per face by index:
 * {canvas: {width, height}, rect, boxes, tags: [{x, y, width, height, text, liveness}], panels: [{kind, x, y, width, height} | null],
 * chips: [{x, y, width, height, text} | null], leaders: [{x1, y1, x2, y2} | null], selected}.
 */
export function drawResult(canvas, result, mirrored, opts) {
  const { ctx, w: W, h: H } = fitCanvas(canvas);
  ctx.clearRect(0, 0, W, H);
  const drawn = { canvas: { width: W, height: H }, rect: null, boxes: [], tags: [], panels: [], chips: [], leaders: [],
    selected: null };
  if (!result) return drawn;
  const rect = contentRect(W, H, result.image.width, result.image.height), s = rect.scale;
  drawn.rect = { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
  const X = (x) => (mirrored ? rect.x + rect.width - x * s : rect.x + x * s);
  const Y = (y) => rect.y + y * s;
  const unit = Math.max(1, Math.min(rect.width, rect.height) / 360);
  const faces = result.faces;
  const sel = Number.isInteger(opts.selected) && opts.selected < faces.length ? opts.selected : null;
  drawn.selected = sel;
  const boxes = faces.map((f) => {
    const b = f.box;
    return { x: mirrored ? X(b.x + b.width) : X(b.x), y: Y(b.y), width: b.width * s, height: b.height * s };
  });
  drawn.boxes = boxes;

  // what each label needs; a face's place is its box and its landmarks (the jaw may reach past the box)
  const tagH = 17 * unit, pad = 4 * unit;
  const items = faces.map((f, k) => {
    let hull = boxes[k];
    if (f.landmarks && f.landmarks.length && opts.landmarks) {
      const xs = f.landmarks.map((p) => X(p[0])), ys = f.landmarks.map((p) => Y(p[1]));
      const x0 = Math.min(...xs), y0 = Math.min(...ys);
      hull = union(hull, { x: x0, y: y0, width: Math.max(...xs) - x0, height: Math.max(...ys) - y0 });
    }
    const text = tagText(f), chip = chipText(f);
    ctx.font = TAG_FONT(unit);
    const tag = { width: ctx.measureText(text).width + 2 * pad, height: tagH };
    ctx.font = CHIP_FONT(unit);
    return { box: boxes[k], hull, text, chipLabel: chip, tag,
      chip: chip ? { width: ctx.measureText(chip).width + 2 * pad, height: tagH } : null,
      panels: panelSizes(ctx, f, faces.length === 1, unit), prefer: opts.prefer ? opts.prefer(f, boxes[k]) : undefined };
  });
  const lay = layoutLabels(items, W, H, unit);

  // 1: leader lines from panels set apart to their faces (under the boxes: a box's edge stays whole)
  faces.forEach((f, k) => {
    const l = lay.leaders[k];
    if (!l) return;
    ctx.strokeStyle = LEADER_COLOR;
    ctx.lineWidth = 1.5 * unit;
    ctx.beginPath(); ctx.moveTo(l.x1, l.y1); ctx.lineTo(l.x2, l.y2); ctx.stroke();
    ctx.fillStyle = LEADER_COLOR;
    ctx.beginPath(); ctx.arc(l.x2, l.y2, 2.5 * unit, 0, Math.PI * 2); ctx.fill();
  });

  // 2: landmarks and boxes
  faces.forEach((f, k) => {
    const box = boxes[k];
    if (f.landmarks && opts.landmarks) {  // contours per region, then points
      ctx.lineWidth = 1.2 * unit;
      ctx.strokeStyle = LINE_COLOR;
      for (const [a, e, closed] of REGIONS) {
        ctx.beginPath();
        for (let i = a; i < e; i++) {
          const [px, py] = f.landmarks[i];
          if (i === a) ctx.moveTo(X(px), Y(py)); else ctx.lineTo(X(px), Y(py));
        }
        if (closed) ctx.closePath();
        ctx.stroke();
      }
      ctx.fillStyle = POINT_COLOR;
      const r = Math.min(1.3 * unit, Math.max(0.8, box.width / 90));
      for (const [px, py] of f.landmarks) {
        ctx.beginPath();
        ctx.arc(X(px), Y(py), r, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    if (k === sel) {  // the selected face: a white ring around its box
      ctx.lineWidth = 5 * unit;
      ctx.strokeStyle = SELECTED_COLOR;
      ctx.strokeRect(box.x - 2 * unit, box.y - 2 * unit, box.width + 4 * unit, box.height + 4 * unit);
    }
    ctx.lineWidth = 2 * unit;
    ctx.strokeStyle = isNamed(f) ? MATCH_COLOR : BOX_COLOR;
    ctx.strokeRect(box.x, box.y, box.width, box.height);
  });

  // 3: the panels, in free space
  faces.forEach((f, k) => { if (lay.panels[k]) drawPanel(ctx, f, lay.panels[k], unit); });

  // 4: the tags and chips, last so that nothing hides them
  ctx.textBaseline = "middle";
  faces.forEach((f, k) => {
    const t = lay.tags[k], c = lay.chips[k];
    ctx.font = TAG_FONT(unit);
    ctx.fillStyle = tagColor(f);
    ctx.fillRect(t.x, t.y, t.width, t.height);
    ctx.fillStyle = "#fff";
    ctx.fillText(items[k].text, t.x + pad, t.y + t.height / 2);
    if (c) {
      ctx.fillStyle = PANEL_BG;
      roundRect(ctx, c.x, c.y, c.width, c.height, 4 * unit);
      ctx.font = CHIP_FONT(unit);
      ctx.fillStyle = f.expressions ? EXPR_COLORS[f.expressions.dominant] || "#fff" : "#e6edf3";
      ctx.fillText(items[k].chipLabel, c.x + pad, c.y + c.height / 2);
    }
  });
  const box = (r) => ({ x: r.x, y: r.y, width: r.width, height: r.height });
  drawn.tags = faces.map((f, k) => ({ ...box(lay.tags[k]), text: items[k].text, liveness: livenessWord(f) }));
  drawn.panels = lay.panels.map((p) => (p ? { kind: p.kind, ...box(p) } : null));
  drawn.chips = lay.chips.map((c, k) => (c ? { ...box(c), text: items[k].chipLabel } : null));
  drawn.leaders = lay.leaders;
  drawn.carded = lay.carded;
  drawn.hulls = items.map((it) => box(it.hull));
  return drawn;
}

/** The face under the point (x, y) of the canvas, from what was drawn: its box, tag, chip or panel (the
 *  smallest box wins where boxes nest); null when none. */
export function faceAt(drawn, x, y) {
  const inR = (r) => r && x >= r.x && x <= r.x + r.width && y >= r.y && y <= r.y + r.height;
  let best = null, bestArea = Infinity;
  (drawn.boxes || []).forEach((b, k) => {
    const hit = inR(b) || inR(drawn.tags[k]) || inR(drawn.chips[k]) || inR(drawn.panels[k]);
    const a = b.width * b.height;
    if (hit && a < bestArea) { best = k; bestArea = a; }
  });
  return best;
}
