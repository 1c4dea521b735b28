// Where the overlay's labels go: pure geometry in the canvas's CSS pixels, no drawing, no DOM.
// The rules (docs/app.md, "What the overlay draws"):
//  - a tag (track id, score or name, liveness) touches its face's box: above it, else below it, else inside
//    its top; it covers no other face and no other tag where any place avoids that;
//  - an expression panel lies in free space: outside every face (its box and landmarks), every tag and
//    every other panel, inside the canvas; beside its face when there is room there, else in the nearest
//    free space with a leader line to the face; a single face may get the full panel, else the compact one;
//  - where no free space is near enough (a face filling the frame, a crowded photo), the panel collapses
//    to a chip right beside the tag (the dominant expression); the full bars are then in the side card of
//    the selected face.

/** Rectangles {x, y, width, height} that share area (touching edges do not). */
export function intersects(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

export function overlapArea(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

export function union(a, b) {
  const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/** The gap between two rectangles (0 when they touch or overlap). */
export function gapBetween(a, b) {
  const dx = Math.max(0, b.x - (a.x + a.width), a.x - (b.x + b.width));
  const dy = Math.max(0, b.y - (a.y + a.height), a.y - (b.y + b.height));
  return Math.hypot(dx, dy);
}

/** The shortest segment from rectangle `a` to rectangle `b` (a leader line from a panel to its face). */
export function leaderLine(a, b) {
  const axis = (a0, a1, b0, b1) => {
    if (a1 <= b0) return [a1, b0];
    if (b1 <= a0) return [a0, b1];
    const m = (Math.max(a0, b0) + Math.min(a1, b1)) / 2;
    return [m, m];
  };
  const [x1, x2] = axis(a.x, a.x + a.width, b.x, b.x + b.width);
  const [y1, y2] = axis(a.y, a.y + a.height, b.y, b.y + b.height);
  return { x1, y1, x2, y2 };
}

const rect = (x, y, width, height) => ({ x, y, width, height });
const clampInto = (r, W, H) => rect(Math.min(Math.max(r.x, 0), Math.max(W - r.width, 0)),
  Math.min(Math.max(r.y, 0), Math.max(H - r.height, 0)), r.width, r.height);
const fits = (r, W, H) => r.x >= -0.01 && r.y >= -0.01 && r.x + r.width <= W + 0.01 && r.y + r.height <= H + 0.01;
const isFree = (r, obstacles) => obstacles.every((o) => !intersects(r, o));

/**
 * The tags (each with its chip, when collapsed, right after it as one strip): at the cheapest of the
 * places around the box, where covering another face or tag costs far more than covering its own box,
 * and that more than being pushed back inside the canvas.
 */
function placeTags(faces, chipped, W, H, u, order) {
  const tags = new Array(faces.length);
  const placed = [];
  for (const k of order) {
    const f = faces[k], b = f.box;
    const w = f.tag.width + (chipped[k] ? f.chip.width + 2 * u : 0), h = f.tag.height;
    const xs = [b.x, b.x + b.width - w, b.x + (b.width - w) / 2, b.x - w, b.x + b.width];
    const ys = [b.y - h, b.y + b.height, b.y, b.y + b.height - h];
    let best = null, bestCost = Infinity, i = 0;
    for (const y of ys) {
      for (const x of xs) {
        const want = rect(x, y, w, h), r = clampInto(want, W, H);
        // beside the box (x = b.x - w or b.right) only at the box's own height: a tag at a corner is unclear
        const corner = (x < b.x - w / 2 || x > b.x + b.width - w / 2) && (y < b.y || y >= b.y + b.height);
        let cost = Math.abs(r.x - want.x) + Math.abs(r.y - want.y) + overlapArea(r, b) + i++ * 0.01 + (corner ? 5000 : 0);
        for (let j = 0; j < faces.length; j++) if (j !== k) cost += 1000 * overlapArea(r, faces[j].hull);
        for (const t of placed) cost += 1000 * overlapArea(r, t);
        if (cost < bestCost) { best = r; bestCost = cost; }
      }
    }
    tags[k] = best;
    placed.push(best);
  }
  return tags;
}

/**
 * A free place for a w x h panel near `box`: beside it when one of those places is free, else the free
 * place of the canvas nearest to the box (scanned on a grid), when nearer than `reach`; null when none.
 */
function freePlace(w, h, box, obstacles, W, H, gap, reach) {
  if (w > W || h > H) return null;
  const R = box.x + box.width + gap, L = box.x - w - gap, B = box.y + box.height + gap, A = box.y - h - gap;
  const beside = [[R, box.y], [L, box.y], [R, box.y + box.height - h], [L, box.y + box.height - h],
    [box.x, B], [box.x, A], [box.x + box.width - w, B], [box.x + box.width - w, A],
    [R, box.y + (box.height - h) / 2], [L, box.y + (box.height - h) / 2]];
  for (const [x, y] of beside) {
    const r = clampInto(rect(x, y, w, h), W, H);
    if (gapBetween(r, box) <= 2 * gap && isFree(r, obstacles)) return r;
  }
  const step = Math.max(4, gap);
  const xs = [], ys = [];
  for (let x = 0; x <= W - w; x += step) xs.push(x);
  for (let y = 0; y <= H - h; y += step) ys.push(y);
  xs.push(W - w); ys.push(H - h);
  let best = null, bestD = reach;
  for (const y of ys) {
    for (const x of xs) {
      const r = rect(x, y, w, h), d = gapBetween(r, box);
      if (d < bestD && isFree(r, obstacles)) { best = r; bestD = d; }
    }
  }
  return best;
}

/**
 * Lay out the labels of `faces` on a W x H canvas. Each face: {box, hull (box and landmarks), tag: {width,
 * height}, chip: {width, height} | null, panels: [{kind, width, height}] (in order of preference; empty: no
 * panel), prefer: {kind, dx, dy} | undefined (its panel's offset from the box on the frame before)}. `unit`: the drawing's scale (1 at 360 px). Returns, per face (by index): tags, chips (null: not
 * collapsed), panels ({kind, x, y, width, height} | null), leaders ({x1, y1, x2, y2} | null) and carded
 * (true: no clean place for even a chip; the side card shows that face's expression).
 */
export function layoutLabels(faces, W, H, unit = 1) {
  const u = unit, gap = 6 * u, n = faces.length;
  const order = faces.map((f, k) => k).sort((a, b) => faces[b].box.width * faces[b].box.height
    - faces[a].box.width * faces[a].box.height || a - b);
  const chipped = faces.map(() => false);
  let out = null;
  // a collapse moves that tag (its chip joins it), which may take another panel's place: again until stable
  for (let round = 0; round <= n; round++) {
    const strips = placeTags(faces, chipped, W, H, u, order);
    const tags = strips.map((s, k) => rect(s.x, s.y, faces[k].tag.width, s.height));
    const chips = strips.map((s, k) => (chipped[k]
      ? rect(s.x + faces[k].tag.width + 2 * u, s.y, faces[k].chip.width, s.height) : null));
    const obstacles = [...faces.map((f) => f.hull), ...strips];
    const panels = new Array(n).fill(null), leaders = new Array(n).fill(null);
    const failed = [];
    for (const k of order) {
      const f = faces[k];
      if (chipped[k] || !f.panels.length) continue;
      const reach = Math.max(0.75 * Math.hypot(f.box.width, f.box.height), 60 * u);
      for (const p of f.panels) {
        // where this face's panel was on the last frame (a tracked face), if still free: no jumping around
        const was = f.prefer && f.prefer.kind === p.kind
          ? clampInto(rect(f.box.x + f.prefer.dx, f.box.y + f.prefer.dy, p.width, p.height), W, H) : null;
        const r = was && gapBetween(was, f.box) <= reach && isFree(was, obstacles) ? was
          : freePlace(p.width, p.height, f.box, obstacles, W, H, gap, reach);
        if (!r) continue;
        panels[k] = { kind: p.kind, ...r };
        obstacles.push(r);
        if (gapBetween(r, f.box) > 2 * gap) leaders[k] = leaderLine(r, f.box);
        break;
      }
      if (!panels[k] && f.chip) failed.push(k);
    }
    out = { tags, chips, panels, leaders, carded: new Array(n).fill(false) };
    if (!failed.length) break;
    for (const k of failed) chipped[k] = true;
  }
  // a chip that would cover another face, tag or panel moves to the tag's other side, below or above it;
  // with no clean place at all the face's expression is in the side card only (carded), never over a face
  const { tags, chips, panels } = out;
  for (let k = 0; k < n; k++) {
    const c = chips[k];
    if (!c) continue;
    const others = [...faces.filter((f, j) => j !== k).map((f) => f.hull), ...tags.filter((t, j) => j !== k),
      ...panels.filter(Boolean), ...chips.filter((o, j) => o && j !== k)];
    if (isFree(c, others)) continue;
    const t = tags[k];
    const spots = [[t.x - c.width - 2 * u, t.y], [t.x, t.y + t.height + 2 * u], [t.x, t.y - c.height - 2 * u]];
    const spot = spots.map(([x, y]) => rect(x, y, c.width, c.height))
      .find((r) => fits(r, W, H) && isFree(r, others) && isFree(r, [faces[k].box]));
    chips[k] = spot || null;
    out.carded[k] = !spot;
  }
  return out;
}

/** Whether `r` fits a W x H canvas (tests and callers check placements with it). */
export const insideCanvas = fits;
