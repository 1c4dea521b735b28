// The expression timeline: the largest face's expression probabilities over the last 30 s.
import { EXPRESSIONS, EXPR_COLORS, fitCanvas } from "./draw.js";

const SPAN_MS = 30000;

export class Timeline {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.history = [];  // {t, p: [probability per expression] | null (no face or expressions off)}
    legend.replaceChildren(...EXPRESSIONS.map((e) => {
      const span = document.createElement("span"), swatch = document.createElement("i");
      swatch.style.background = EXPR_COLORS[e];  // CSSOM, not a style attribute: the CSP allows it
      span.append(swatch, e);
      return span;
    }));
  }

  push(face) {
    const now = performance.now();
    this.history.push({ t: now, p: face && face.expressions ? EXPRESSIONS.map((e) => face.expressions.probabilities[e]) : null });
    while (this.history.length && this.history[0].t < now - SPAN_MS - 1000) this.history.shift();
  }

  draw() {
    const { ctx, w: W, h: H } = fitCanvas(this.canvas);
    ctx.clearRect(0, 0, W, H);
    const left = 30, right = 8, top = 8, bottom = 18;
    const pw = W - left - right, ph = H - top - bottom;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.strokeStyle = "rgba(255,255,255,0.07)";
    ctx.fillStyle = "#8b98a8";
    ctx.lineWidth = 1;
    for (const v of [0, 0.5, 1]) {
      const y = top + ph * (1 - v);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(W - right, y); ctx.stroke();
      ctx.fillText(v === 0.5 ? ".5" : String(v), 8, y);
    }
    ctx.textBaseline = "alphabetic";
    for (let s = 30; s >= 0; s -= 10) {
      const x = left + pw * (1 - s / 30);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + ph); ctx.stroke();
      const label = s === 0 ? "now" : `−${s} s`;
      const tw = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(x - tw / 2, left), W - right - tw), H - 4);
    }
    const now = performance.now();
    const hist = this.history.filter((h) => now - h.t <= SPAN_MS + 1000);
    if (!hist.length) return;
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    EXPRESSIONS.forEach((e, k) => {
      ctx.strokeStyle = EXPR_COLORS[e];
      ctx.beginPath();
      let pen = false;
      for (const h of hist) {
        if (!h.p) { pen = false; continue; }
        const x = left + pw * (1 - (now - h.t) / SPAN_MS);
        const y = top + ph * (1 - h.p[k]);
        if (x < left) { pen = false; continue; }
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
    });
  }
}
