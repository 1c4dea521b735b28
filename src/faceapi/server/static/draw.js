// Drawing on canvases: the analysed frame, and its result over it (boxes, landmarks, expression panels,
// tags), like face-api.js's resizeResults + draw. Frame pixels map to the displayed picture, which is
// letterboxed (object-fit: contain) in its stage and mirrored for a selfie view.

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
const PANEL_BG = "rgba(10, 14, 20, 0.78)";
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

const area = (r) => r.width * r.height;
function overlap(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Put a w x h rectangle at the first candidate position that stays inside W x H without moving and
 * covers none of `obstacles`; else the candidate (pulled inside) that covers the least of them.
 */
export function placeRect(w, h, candidates, obstacles, W, H) {
  let best = null, bestCost = Infinity;
  for (const [cx, cy] of candidates) {
    const x = Math.min(Math.max(cx, 0), Math.max(W - w, 0)), y = Math.min(Math.max(cy, 0), Math.max(H - h, 0));
    const r = { x, y, width: w, height: h };
    const moved = Math.abs(x - cx) + Math.abs(y - cy);
    const cost = obstacles.reduce((s, o) => s + overlap(r, o), 0) * 1000 + moved;
    if (cost === 0) return r;
    if (cost < bestCost) { best = r; bestCost = cost; }
  }
  return best;
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

const pct = (p) => `${Math.round(p * 100)}%`;
export function matchText(m) {
  return m.distance == null ? m.label : `${m.label} (${m.distance.toFixed(2)})`;
}
function tagText(f) {
  const main = f.match ? matchText(f.match) : f.score.toFixed(2);
  return Number.isInteger(f.track) ? `#${f.track} · ${main}` : main;
}
function ageText(f) {
  return f.age != null ? `${Math.round(f.age)} y · ${f.gender} ${pct(f.gender_probability)}` : null;
}

/** The panel of one face: "full" (a row per expression, for a single face) or "compact" (a mini chart). */
function panelSize(ctx, f, kind, unit) {
  const age = ageText(f);
  if (!f.expressions && !age) return null;
  const pad = 6 * unit;
  if (kind === "full") {
    const rows = f.expressions ? EXPRESSIONS.length : 0;
    const w = pad * 2 + 148 * unit, h = pad * 2 + (f.expressions ? 20 * unit + 13 * unit * rows : 0) + (age ? 16 * unit : 0);
    return { w, h, pad, age };
  }
  ctx.font = `600 ${Math.round(11.5 * unit)}px system-ui, sans-serif`;
  const texts = [];
  if (f.expressions) texts.push(`${f.expressions.dominant} ${pct(f.expressions.probabilities[f.expressions.dominant])}`);
  if (age) texts.push(age);
  const w = Math.max(...texts.map((t) => ctx.measureText(t).width + 2 * pad), 70 * unit);
  const h = pad * 2 + texts.length * 15 * unit + (f.expressions ? 18 * unit : 0);
  return { w, h, pad, age };
}

function drawPanel(ctx, f, kind, r, size, unit) {
  const { pad, age } = size;
  ctx.fillStyle = PANEL_BG;
  roundRect(ctx, r.x, r.y, r.width, r.height, 6 * unit);
  ctx.textBaseline = "middle";
  let y = r.y + pad;
  if (f.expressions) {
    const dom = f.expressions.dominant, probs = f.expressions.probabilities;
    if (kind === "full") {
      const headH = 20 * unit, rowH = 13 * unit, nameW = 58 * unit, barW = 60 * unit;
      ctx.font = `700 ${Math.round(15 * unit)}px system-ui, sans-serif`;
      ctx.fillStyle = EXPR_COLORS[dom];
      ctx.fillText(dom, r.x + pad, y + headH / 2);
      ctx.font = `${Math.round(12 * unit)}px system-ui, sans-serif`;
      ctx.fillStyle = "#cfd8e3";
      const t = pct(probs[dom]);
      ctx.fillText(t, r.x + r.width - pad - ctx.measureText(t).width, y + headH / 2);
      y += headH;
      ctx.font = `${Math.round(10.5 * unit)}px system-ui, sans-serif`;
      for (const e of EXPRESSIONS) {
        const p = probs[e];
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
      ctx.font = `600 ${Math.round(11.5 * unit)}px system-ui, sans-serif`;
      ctx.fillStyle = EXPR_COLORS[dom];
      ctx.fillText(`${dom} ${pct(probs[dom])}`, r.x + pad, y + lineH / 2);
      y += lineH;
      const n = EXPRESSIONS.length, gap = 2 * unit, bw = (r.width - 2 * pad - gap * (n - 1)) / n;
      EXPRESSIONS.forEach((e, i) => {
        const bx = r.x + pad + i * (bw + gap), p = probs[e];
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

/**
 * Draw `result` (frame coordinates) over the picture of `frameW x frameH` letterboxed on `canvas`.
 * Returns what was drawn, in CSS pixels of the canvas: {rect, boxes, panels, tags}.
 */
export function drawResult(canvas, result, mirrored, opts) {
  const { ctx, w: W, h: H } = fitCanvas(canvas);
  ctx.clearRect(0, 0, W, H);
  const drawn = { rect: null, boxes: [], panels: [], tags: [] };
  if (!result) return drawn;
  const rect = contentRect(W, H, result.image.width, result.image.height), s = rect.scale;
  drawn.rect = { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
  const X = (x) => (mirrored ? rect.x + rect.width - x * s : rect.x + x * s);
  const Y = (y) => rect.y + y * s;
  const unit = Math.max(1, Math.min(rect.width, rect.height) / 360);
  const boxes = result.faces.map((f) => {
    const b = f.box;
    return { x: mirrored ? X(b.x + b.width) : X(b.x), y: Y(b.y), width: b.width * s, height: b.height * s };
  });
  drawn.boxes = boxes;

  // pass 1: landmarks and boxes
  result.faces.forEach((f, k) => {
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
    ctx.lineWidth = 2 * unit;
    ctx.strokeStyle = f.match && f.match.label !== "unknown" ? MATCH_COLOR : BOX_COLOR;
    ctx.strokeRect(box.x, box.y, box.width, box.height);
  });

  // where the tags go: above the box, or inside its top when there is no room above
  ctx.font = `600 ${Math.round(12 * unit)}px system-ui, sans-serif`;
  const tags = result.faces.map((f, k) => {
    const box = boxes[k], text = tagText(f);
    const w = ctx.measureText(text).width + 8 * unit, h = 17 * unit;
    const x = Math.min(Math.max(box.x - unit, 0), Math.max(W - w, 0));
    return { x, y: box.y - h >= 0 ? box.y - h : box.y, width: w, height: h, text, face: f };
  });
  drawn.tags = tags.map(({ x, y, width, height, text }) => ({ x, y, width, height, text }));

  // pass 2: panels beside their face, covering no face, no tag and no other panel (largest face first)
  const kind = result.faces.length === 1 ? "full" : "compact";
  const obstacles = [...boxes, ...tags];
  const order = boxes.map((b, k) => k).sort((a, b) => area(boxes[b]) - area(boxes[a]));
  const g = 6 * unit;
  for (const k of order) {
    const f = result.faces[k], box = boxes[k];
    const size = panelSize(ctx, f, kind, unit);
    if (!size) continue;
    const { w, h } = size;
    const right = [box.x + box.width + g, box.y], left = [box.x - w - g, box.y];
    const below = [box.x, box.y + box.height + g], above = [box.x, box.y - h - g];
    const rightLow = [box.x + box.width + g, box.y + box.height - h], leftLow = [box.x - w - g, box.y + box.height - h];
    const candidates = kind === "full" ? [right, left, rightLow, leftLow, below, above]
      : [below, above, right, left, rightLow, leftLow];
    const r = placeRect(w, h, candidates, obstacles, W, H);
    drawPanel(ctx, f, kind, r, size, unit);
    obstacles.push(r);
    drawn.panels[k] = { x: r.x, y: r.y, width: r.width, height: r.height };
  }

  // pass 3: the tags (score, name, track id), last so that nothing hides them
  for (const t of tags) {
    ctx.fillStyle = t.face.match && t.face.match.label !== "unknown" ? MATCH_COLOR : BOX_COLOR;
    ctx.fillRect(t.x, t.y, t.width, t.height);
    ctx.fillStyle = "#fff";
    ctx.textBaseline = "middle";
    ctx.fillText(t.text, t.x + 4 * unit, t.y + t.height / 2);
  }
  return drawn;
}
