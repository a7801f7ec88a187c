// The viewer's Files panel (docs/files.md): uploads into the desktop's ~/Uploads, dropped on the
// desktop or picked, sent in chunks that resume where the server says they stopped; and the
// files of the desktop's ~/Downloads, offered for download. Uploads and downloads speak the REST
// API (/api/desktops/<id>/uploads/, /files/). The download list is read once from the API and
// then pushed: the viewer's WebSocket carries a `downloads` message whenever the desktop's
// folder changes, which the viewer hands over as a "wrd-downloads" event on the page's root.

const RETRIES = 8; // network failures in a row before an upload gives up

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Refused extends Error {} // the server said no: retrying would not help

export class Files {
  constructor(root, config) {
    this.root = root;
    this.opts = { ...(config.files || {}) };
    // A view-only viewer sends nothing to the desktop, files included (downloads stay).
    if (config.view_only || new URLSearchParams(location.search).get("view_only") === "1") this.opts.upload = false;
    this.csrf = config.csrf_token || "";
    this.desktop = config.desktop;
    this.panel = root.querySelector(".wrd-files");
    this.button = root.querySelector("[data-action=files]");
    this.uploads = root.querySelector(".wrd-uploads");
    this.downloads = root.querySelector(".wrd-downloads");
    this.drop = root.querySelector(".wrd-drop");
    this.stage = root.querySelector(".wrd-stage");
    this.input = root.querySelector("[data-action=files-input]");
    this.pushed = false; // a list came over the WebSocket: the API's answers are older
    this.listed = "";
    this.active = 0;
  }

  start() {
    const { upload, download } = this.opts;
    if (!upload && !download) return;
    this.button.hidden = false;
    this.button.addEventListener("click", () => this.toggle());
    // One side panel at a time: the clipboard's button closes this one.
    this.root.querySelector("[data-action=clipboard]")?.addEventListener("click", () => this.toggle(false));
    if (upload) {
      this.panel.querySelector(".wrd-files-up").hidden = false;
      if (this.opts.max_bytes) {
        this.panel.querySelector(".wrd-files-limit").textContent = `, up to ${formatBytes(this.opts.max_bytes)} each`;
      }
      this.root.querySelector("[data-action=files-pick]").addEventListener("click", () => this.input.click());
      this.input.addEventListener("change", () => {
        this.uploadAll([...this.input.files]);
        this.input.value = "";
      });
      this.watchDrops();
    }
    if (download) {
      this.panel.querySelector(".wrd-files-down").hidden = false;
      this.root.addEventListener("wrd-downloads", (e) => {
        this.pushed = true;
        this.show(e.detail);
      });
      this.refresh();
    }
  }

  toggle(show = this.panel.hidden) {
    this.panel.hidden = !show;
    if (show) this.root.querySelector(".wrd-clipboard")?.setAttribute("hidden", "");
    // Without a pushed list (no WebSocket yet, or a desktop that does not push), opening asks.
    if (show && this.opts.download && !this.pushed) this.refresh();
  }

  // -- uploads ----------------------------------------------------------------------------

  watchDrops() {
    const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
    let depth = 0;
    this.stage.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      this.drop.hidden = false;
    });
    this.stage.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    });
    this.stage.addEventListener("dragleave", () => {
      if (--depth <= 0) { depth = 0; this.drop.hidden = true; }
    });
    this.stage.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.drop.hidden = true;
      // A dropped folder comes as a File that cannot be read: say so instead of sending it.
      const items = [...(e.dataTransfer.items || [])];
      const files = [...e.dataTransfer.files].filter((file, i) => {
        if (!items[i]?.webkitGetAsEntry?.()?.isDirectory) return true;
        const li = this.row(this.uploads, file.name);
        li.dataset.state = "failed";
        li.append(Object.assign(document.createElement("span"), {
          className: "wrd-note", textContent: "Not uploaded: folders cannot be uploaded; drop the files in it" }));
        return false;
      });
      this.toggle(true);
      this.uploadAll(files);
    });
  }

  uploadAll(files) {
    if (!files.length) return;
    this.toggle(true);
    // One at a time: each uses the whole link, and the first finishes first.
    this.queue = (this.queue || Promise.resolve()).then(async () => {
      for (const file of files) await this.upload(file);
    });
    return this.queue;
  }

  row(list, name) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "wrd-name";
    label.textContent = name;
    label.title = name;
    li.append(label);
    list.querySelector(".wrd-files-empty")?.remove();
    list.prepend(li);
    return li;
  }

  async upload(file) {
    const li = this.row(this.uploads, file.name);
    li.dataset.state = "uploading";
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    const note = document.createElement("span");
    note.className = "wrd-note";
    li.append(document.createElement("span"), bar, note);
    const show = (offset, text) => {
      bar.value = offset;
      note.textContent = text ?? `${formatBytes(offset)} of ${formatBytes(file.size)}`;
    };
    this.active++;
    try {
      const stored = await this.send(file, show);
      li.dataset.state = "done";
      bar.value = bar.max;
      show(file.size, `In ~/Uploads as ${stored} (${formatBytes(file.size)})`);
    } catch (err) {
      li.dataset.state = "failed";
      note.textContent = `Not uploaded: ${err.message}`;
    } finally {
      this.active--;
    }
  }

  // The key under which an unfinished upload's URL is kept, so that a reload of the page (or a
  // new tab) given the same file resumes it.
  resumeKey(file) {
    return `wrd.upload.${this.desktop}.${file.size}.${file.lastModified}.${file.name}`;
  }

  async send(file, show) {
    if (this.opts.max_bytes && file.size > this.opts.max_bytes) {
      throw new Refused(`${formatBytes(file.size)} is over the ${formatBytes(this.opts.max_bytes)} limit`);
    }
    const key = this.resumeKey(file);
    let url = localStorage.getItem(key);
    let offset = 0;
    if (url) {
      offset = await this.offsetOf(url).catch(() => null);
      if (offset === null) { url = null; offset = 0; }
    }
    if (!url) {
      const r = await this.request(this.opts.uploads_url, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: file.name, size: file.size }),
      });
      const created = await r.json();
      if (created.complete) return created.stored_as;
      url = created.url;
      offset = created.offset;
      localStorage.setItem(key, url);
    }
    show(offset, offset ? `Resuming at ${formatBytes(offset)} of ${formatBytes(file.size)}` : undefined);
    const chunk = this.opts.chunk_bytes || 8 << 20;
    let failures = 0;
    for (;;) {
      const end = Math.min(offset + chunk, file.size);
      let r;
      try {
        r = await fetch(url, {
          method: "PATCH", credentials: "same-origin",
          headers: { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(offset),
                     "X-CSRFToken": this.csrf },
          body: file.slice(offset, end),
        });
      } catch (err) { // the connection dropped: ask where the upload is, and go on from there
        if (++failures > RETRIES) throw new Error(`the connection failed ${RETRIES} times (${err.message})`);
        show(offset, `Connection lost; retrying (${failures})…`);
        await sleep(Math.min(500 * 2 ** failures, 8000));
        offset = await this.offsetOf(url).catch(() => offset);
        continue;
      }
      const body = await r.json().catch(() => ({}));
      if (r.status === 409 && r.headers.get("Upload-Offset") !== null) {
        offset = Number(r.headers.get("Upload-Offset")); // the server has another offset: go on from it
        continue;
      }
      if (!r.ok) {
        if (r.status >= 500 && ++failures <= RETRIES) { await sleep(1000); continue; }
        if (r.status === 404) localStorage.removeItem(key);
        throw new Refused(body.detail || `HTTP ${r.status}`);
      }
      failures = 0;
      offset = Number(r.headers.get("Upload-Offset"));
      show(offset);
      if (body.complete) {
        localStorage.removeItem(key);
        return body.stored_as;
      }
    }
  }

  async offsetOf(url) {
    const r = await fetch(url, { method: "HEAD", credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return Number(r.headers.get("Upload-Offset"));
  }

  async request(url, init) {
    const r = await fetch(url, { credentials: "same-origin", ...init,
                                 headers: { "X-CSRFToken": this.csrf, ...(init.headers || {}) } });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Refused(body.detail || (typeof body === "object" && Object.values(body).flat().join(" ")) ||
                        `HTTP ${r.status}`);
    }
    return r;
  }

  // -- downloads --------------------------------------------------------------------------

  async refresh() {
    let files;
    try {
      const r = await fetch(this.opts.files_url, { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) return;
      files = (await r.json()).files;
    } catch {
      return;
    }
    if (!this.pushed) this.show(files);
  }

  show(files) {
    if (!Array.isArray(files)) return;
    const text = JSON.stringify(files);
    if (text === this.listed) return;
    this.listed = text;
    this.button.textContent = files.length ? `Files (${files.length})` : "Files";
    this.downloads.replaceChildren();
    if (!files.length) {
      const li = document.createElement("li");
      li.className = "wrd-files-empty";
      li.textContent = "Nothing yet.";
      this.downloads.append(li);
    }
    for (const f of files) {
      const li = document.createElement("li");
      li.dataset.name = f.name;
      const label = document.createElement("span");
      label.className = "wrd-name";
      label.textContent = f.name;
      label.title = f.name;
      const link = document.createElement("a");
      link.className = "wrd-dl";
      link.href = f.url;
      link.download = f.name;
      link.textContent = "Download";
      const note = document.createElement("span");
      note.className = "wrd-note";
      note.textContent = `${formatBytes(f.size)} · ${new Date(f.mtime * 1000).toLocaleString()}`;
      li.append(label, link, note);
      this.downloads.append(li);
    }
  }
}

export function setupFiles(root, config) {
  const files = new Files(root, config);
  files.start();
  window.wrdFiles = files; // for tests
  return files;
}
