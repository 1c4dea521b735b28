// The server's REST API (same origin). Each call resolves to the JSON body or throws an Error whose
// message is the server's `error` text; `status` and `body` ride along for callers that need them.

async function json(resp) {
  let body = null;
  try { body = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const err = new Error((body && (body.error || body.detail)) || `HTTP ${resp.status}`);
    err.status = resp.status;
    err.body = body;
    throw err;
  }
  return body;
}

const get = async (url) => json(await fetch(url, { cache: "no-store" }));

export const health = () => get("/api/health");

/** Every net with `name`, `label` (human name), `available`, `verified`, `loaded`; plus the load state. */
export const models = () => get("/api/models?verify=false");

/** Start loading the nets these stream settings need; the answer is the load state. */
export async function loadModels(settings) {
  return json(await fetch("/api/models/load", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ settings }),
  }));
}

/** REST query of stream settings, as `POST /api/analyze` takes them. */
export function analyzeQuery(s) {
  const q = new URLSearchParams({
    detector: s.detector, input_size: s.input_size, min_score: s.min_score,
    landmarks: s.landmarks || "off", expressions: s.expressions, age_gender: s.age_gender,
  });
  if (s.recognize) q.set("recognize", "true");
  return q.toString();
}

export async function analyze(blob, settings) {
  return json(await fetch(`/api/analyze?${analyzeQuery(settings)}`, {
    method: "POST", body: blob, headers: { "Content-Type": blob.type || "application/octet-stream" },
  }));
}

export async function annotated(blob, settings) {
  const resp = await fetch(`/api/analyze?${analyzeQuery(settings)}&annotate=true&format=png`, { method: "POST", body: blob });
  if (!resp.ok) await json(resp);
  return resp.blob();
}

export const people = () => get("/api/people");

export async function enrol(name, blob) {
  return json(await fetch(`/api/people?name=${encodeURIComponent(name)}`, {
    method: "POST", body: blob, headers: { "Content-Type": blob.type || "image/jpeg" },
  }));
}

export async function removePerson(name) {
  return json(await fetch(`/api/people/${encodeURIComponent(name)}`, { method: "DELETE" }));
}

/** The phone's URL and its QR code (`{url, qr_svg}`) when the server offers one (`serve --lan`), else null. */
export async function phone() {
  const resp = await fetch("/api/phone", { cache: "no-store" });
  if (resp.status === 404) return null;
  return json(resp);
}
