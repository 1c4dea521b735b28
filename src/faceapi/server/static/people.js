// People: enrol the face in view by name, list and remove people, export and import the gallery (REST
// /api/people). Export, and an import that replaces everyone, need the token itself (a captured session
// cookie must not take or wipe the gallery): the page asks for it, sends it with that request and forgets it.
import * as api from "./api.js";
import { $ } from "./ui.js";

export class People {
  /** `capture()` resolves to a JPEG blob of the current frame, or null when the webcam is off. */
  constructor(capture) {
    this.capture = capture;
    this.available = false;  // the server has a gallery
    this.people = null;
    this.enrolling = false;
    this.asking = null;  // the question shown: {name, blob, append, force} of the POST a "yes" sends
    this.el = { form: $("enrol-form"), name: $("enrol-name"), btn: $("btn-enrol"), msg: $("enrol-msg"),
      list: $("people-list"), count: $("people-count"), ask: $("enrol-ask"), yes: $("btn-ask-yes"),
      no: $("btn-ask-no"), exportBtn: $("btn-export"), importBtn: $("btn-import"), file: $("import-file"),
      replace: $("import-replace"), tokenAsk: $("token-ask"), token: $("token-input"), tokenCancel: $("btn-token-cancel") };
    this.tokenAnswer = null;  // resolves the open token question
    this.el.exportBtn.addEventListener("click", () => this.exportGallery());
    this.el.importBtn.addEventListener("click", () => this.el.file.click());
    this.el.file.addEventListener("change", () => this.importGallery());
    this.el.tokenAsk.addEventListener("submit", (ev) => { ev.preventDefault(); this.tokenGiven(this.el.token.value.trim() || null); });
    this.el.tokenCancel.addEventListener("click", () => this.tokenGiven(null));
    this.el.tokenAsk.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.preventDefault(); this.tokenGiven(null); } });
    this.el.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.enrol(); });
    this.el.yes.addEventListener("click", () => this.answer(true));
    this.el.no.addEventListener("click", () => this.answer(false));
    this.el.ask.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.preventDefault(); this.answer(false); } });
    this.el.name.addEventListener("input", () => { if (this.asking) this.unask(); });  // another name: another question
  }

  say(text, kind) {
    this.el.msg.textContent = text;
    this.el.msg.dataset.kind = kind || "";
  }

  /** Ask before a POST that adds to an existing person: `question` in the message, `yes` on the button. */
  ask(question, yes, request) {
    this.asking = request;
    this.say(question, "ask");
    this.el.yes.textContent = yes;
    this.el.ask.hidden = false;
    this.el.yes.focus();
  }

  unask() {
    const focused = this.el.ask.contains(document.activeElement);
    this.asking = null;
    this.el.ask.hidden = true;
    if (focused) this.el.name.focus();  // the focus does not fall to the page's start
  }

  async answer(yes) {
    const req = this.asking;
    if (!req) return;
    this.unask();
    if (yes) await this.post(req);
    else this.say(`Nothing added to ${req.name}.`, "");
  }

  /** The server said whether it has a gallery: list the people (again when that changed). */
  setAvailable(available) {
    const changed = available !== this.available;
    this.available = available;
    if (this.people === null || changed) this.refresh();
  }

  render() {
    const people = this.people || [];
    const { list, count } = this.el;
    list.replaceChildren();
    count.textContent = this.available ? `${people.length} enrolled` : "";
    for (const p of people) {
      const li = document.createElement("li");
      li.dataset.name = p.name;
      const name = document.createElement("span");
      name.className = "person-name";
      name.textContent = p.name;
      const n = document.createElement("span");
      n.className = "person-samples muted";
      n.textContent = `${p.descriptors} sample${p.descriptors === 1 ? "" : "s"}`;
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "btn ghost small remove";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove ${p.name}`);
      rm.addEventListener("click", () => this.remove(p.id, p.name));
      li.append(name, n, rm);
      list.appendChild(li);
    }
    if (!people.length && this.available) {
      const li = document.createElement("li");
      li.className = "empty muted";
      li.textContent = "No one enrolled yet.";
      list.appendChild(li);
    }
  }

  async refresh() {
    const { btn, name, exportBtn, importBtn } = this.el;
    exportBtn.disabled = importBtn.disabled = !this.available;
    if (!this.available) {
      this.people = [];
      btn.disabled = true;
      name.disabled = true;
      this.say("This server has no gallery of people (it was started with --no-gallery).", "off");
      this.render();
      return;
    }
    btn.disabled = this.enrolling;
    name.disabled = false;
    try {
      this.people = (await api.people()).people;
    } catch (e) {
      this.say(`could not list people: ${e.message}`, "error");
    }
    this.render();
  }

  async enrol() {
    const name = this.el.name.value.trim();
    if (!name) { this.say("Type the name of the person in view first", "error"); this.el.name.focus(); return; }
    if (this.enrolling) return;
    this.unask();
    let blob;
    try {
      blob = await this.capture();
    } catch (e) {
      this.say(`Enrolment failed: ${e.message}`, "error");
      return;
    }
    if (!blob) { this.say("Turn on the webcam first (switch 1)", "error"); return; }
    await this.post({ name, blob, append: false, force: false });
  }

  /** POST one enrolment; a 409 asks the person (an existing name: add to them? a face unlike theirs: add
   *  anyway?) and a "yes" posts the same frame again with append (and force). */
  async post(req) {
    this.enrolling = true;
    this.el.btn.disabled = true;
    this.say(`Enrolling ${req.name}…`, "busy");
    try {
      const body = await api.enrol(req.name, req.blob, req);
      const n = body.descriptors;
      const dup = body.added === 0 ? " — this exact frame was already enrolled" : "";
      this.say(`Added ${body.name} (${n} sample${n === 1 ? "" : "s"})${dup}`, "ok");
    } catch (e) {
      const faces = e.body && e.body.faces;
      const conflict = e.status === 409 && e.body ? e.body.conflict : null;
      if (conflict === "name_taken") {
        this.ask(`${req.name} exists: add this face as another sample of ${req.name}?`, "Add as another sample",
          { ...req, append: true });
      } else if (conflict === "sample_mismatch") {
        this.ask(e.message, "Add anyway", { ...req, append: true, force: true });
      } else if (e.status === 422 && faces === 0) this.say("No face found — look into the camera, face in good light, then try again", "error");
      else if (e.status === 422 && faces > 1) this.say(`${faces} faces found — only one person should be in view`, "error");
      else this.say(e.status ? e.message : `Enrolment failed: ${e.message}`, "error");
    } finally {
      this.enrolling = false;
      this.el.btn.disabled = !this.available;
      this.refresh();
    }
  }

  /** Ask for the token (`why` in the message); resolves to it, or null when the person cancels. */
  askToken(why) {
    this.tokenGiven(null);
    this.say(why, "ask");
    this.el.tokenAsk.hidden = false;
    this.el.token.focus();
    return new Promise((resolve) => { this.tokenAnswer = resolve; });
  }

  tokenGiven(token) {
    const resolve = this.tokenAnswer;
    this.tokenAnswer = null;
    this.el.token.value = "";
    this.el.tokenAsk.hidden = true;
    if (resolve) resolve(token);
  }

  async exportGallery() {
    const token = await this.askToken("Export sends every face descriptor: paste the token `faceapi serve` printed to confirm.");
    if (!token) { this.say("Nothing exported.", ""); return; }
    try {
      const body = await api.exportGallery(token);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([JSON.stringify(body)], { type: "application/json" }));
      a.download = "faceapi-gallery.json";
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      this.say(`Exported ${body.people.length} ${body.people.length === 1 ? "person" : "people"}`, "ok");
    } catch (e) {
      this.say(`Export failed: ${e.message}`, "error");
    }
  }

  async importGallery() {
    const file = this.el.file.files[0];
    this.el.file.value = "";
    if (!file) return;
    const replace = this.el.replace.checked;
    let token = null;
    if (replace) {
      token = await this.askToken(`Importing ${file.name} replaces everyone: paste the token \`faceapi serve\` printed to confirm.`);
      if (!token) { this.say("Nothing imported.", ""); return; }
    }
    this.say(`Importing ${file.name}…`, "busy");
    try {
      const c = await api.importGallery(await file.text(), { replace, token });
      this.say(`Imported ${file.name}: ${c.added_people} new, ${c.added_descriptors} samples added`, "ok");
    } catch (e) {
      this.say(`Import failed: ${e.message}`, "error");
    }
    this.refresh();
  }

  async remove(id, name) {
    try {
      const body = await api.removePerson(id);
      this.say(`Removed ${body.removed.name}`, "ok");
    } catch (e) {
      this.say(`Could not remove ${name}: ${e.message}`, "error");
    }
    this.refresh();
  }
}
