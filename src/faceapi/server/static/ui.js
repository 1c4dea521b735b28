// Small DOM helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

/** A message as HTML, with `backquoted commands` (e.g. `faceapi models download`) shown as code. */
export function withCommand(message) {
  return escapeHtml(message).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** The text under a switch, with its kind (off, busy, on, error) for colour and for tests. */
export function setState(node, text, kind, html) {
  node.dataset.kind = kind;
  if (html) node.innerHTML = html; else node.textContent = text;
}

export function setSwitch(sw, on, busy) {
  sw.setAttribute("aria-checked", on ? "true" : "false");
  sw.setAttribute("aria-busy", busy ? "true" : "false");
  sw.closest(".switch-row").classList.toggle("on", !!on);
}

export function radio(name) { return document.querySelector(`input[name="${name}"]:checked`).value; }

/** Milliseconds for the status line: one decimal under 10 ms, "–" when unknown. */
export function fmtMs(ms) { return ms == null ? "–" : ms < 10 ? ms.toFixed(1) : Math.round(ms).toString(); }

export function largestFace(faces) {
  let best = null;
  for (const f of faces || []) if (!best || f.box.width * f.box.height > best.box.width * best.box.height) best = f;
  return best;
}
