// The dashboard: live thumbnails and cards that follow their desktops' state, refreshed only
// while the page is visible; copy buttons. No build step: a plain module.

const CARDS_EVERY_MS = 5000;
const CARDS_TRANSITION_MS = 1500; // while a desktop starts or stops

const visible = () => document.visibilityState === "visible";

function thumbBucket(seconds) {
  return Math.floor(Date.now() / 1000 / seconds);
}

// Swap a thumbnail only once the next picture has loaded: no blank frame between two.
function refreshThumbnails(root, seconds) {
  const b = thumbBucket(seconds);
  for (const img of root.querySelectorAll("img[data-thumb]")) {
    const url = `${img.dataset.thumb}?b=${b}`;
    if (img.dataset.pending === url || img.getAttribute("src") === url) continue;
    img.dataset.pending = url;
    const next = new Image();
    next.onload = () => { img.src = url; delete img.dataset.pending; };
    next.onerror = () => { delete img.dataset.pending; };
    next.src = url;
  }
}

// A menu being used or a field being typed in is never replaced under the user's hands.
function busy(root) {
  return !!root.querySelector("details[open]") || root.contains(document.activeElement) &&
    ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
}

async function refreshCards(root) {
  if (busy(root)) return;
  const r = await fetch(root.dataset.fragmentUrl, { credentials: "same-origin", cache: "no-store" });
  if (r.redirected || !r.ok) return; // signed out or a server error: keep what is shown
  const html = await r.text();
  if (html === root.dataset.lastHtml || busy(root)) return;
  // Keep the thumbnails already shown while the new cards' pictures load.
  const shown = new Map([...root.querySelectorAll("img[data-thumb]")].map((i) => [i.dataset.thumb, i.src]));
  root.dataset.lastHtml = html;
  root.innerHTML = html;
  applyAspects(root);
  for (const img of root.querySelectorAll("img[data-thumb]")) {
    if (shown.has(img.dataset.thumb)) img.src = shown.get(img.dataset.thumb);
  }
}

// Thumbnails keep their desktop's shape before the picture arrives (set from data-aspect: the
// Content-Security-Policy allows no style attributes in the markup).
function applyAspects(root) {
  for (const el of root.querySelectorAll("[data-aspect]")) el.style.aspectRatio = el.dataset.aspect;
}

function transitioning(root) {
  return !!root.querySelector('[data-state="requested"],[data-state="starting"],[data-state="stopping"]');
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
}

export function setupDashboard() {
  // "Desktop 3 is starting." has said what it had to once the card shows it.
  setTimeout(() => { for (const m of document.querySelectorAll("main > .msg:not(.error)")) m.remove(); }, 8000);
  applyAspects(document);
  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-copy]");
    if (button) copy(button.dataset.copy, button);
    if (e.target.matches?.("[data-link-url]")) e.target.select();
  });
  // One open "More" menu at a time.
  document.addEventListener("toggle", (e) => {
    if (e.target.matches?.("details.more[open]")) {
      for (const d of document.querySelectorAll("details.more[open]")) if (d !== e.target) d.open = false;
    }
  }, true);
  // The share form: a link has no name to give and always expires.
  const kind = document.querySelector("[data-share-kind]");
  if (kind) {
    const form = kind.form;
    const update = () => {
      const link = kind.value === "link";
      form.querySelector("[data-grantee]").hidden = link;
      const never = form.querySelector('select[name=expires] option[value=""]');
      if (never) never.disabled = link;
      if (link && form.expires.value === "") form.expires.value = "60";
    };
    kind.addEventListener("change", update);
    update();
  }
  // The sharing panel's "Watching now" follows viewers coming and going.
  const watching = document.getElementById("wrd-watching");
  if (watching) {
    const every = Number(watching.dataset.refreshEvery) || 5000;
    const refresh = async () => {
      try {
        if (!visible()) return;
        const r = await fetch(location.pathname, { credentials: "same-origin", cache: "no-store" });
        if (!r.ok || r.redirected) return;
        const fresh = new DOMParser().parseFromString(await r.text(), "text/html").getElementById("wrd-watching");
        if (fresh && fresh.innerHTML !== watching.innerHTML) watching.innerHTML = fresh.innerHTML;
      } finally {
        setTimeout(refresh, every);
      }
    };
    setTimeout(refresh, every);
  }
  const root = document.getElementById("wrd-cards");
  if (!root) return;
  const seconds = Math.max(1, Number(root.dataset.thumbSeconds) || 3);
  let thumbTimer = 0;
  let cardsTimer = 0;
  const thumbs = () => {
    if (visible()) refreshThumbnails(root, seconds);
    thumbTimer = setTimeout(thumbs, seconds * 1000);
  };
  const cards = async () => {
    try {
      if (visible()) await refreshCards(root);
    } finally {
      cardsTimer = setTimeout(cards, transitioning(root) ? CARDS_TRANSITION_MS : CARDS_EVERY_MS);
    }
  };
  thumbTimer = setTimeout(thumbs, seconds * 1000);
  cardsTimer = setTimeout(cards, transitioning(root) ? CARDS_TRANSITION_MS : CARDS_EVERY_MS);
  // Back to a visible tab: bring everything up to date at once rather than at the next tick.
  document.addEventListener("visibilitychange", () => {
    if (!visible()) return;
    clearTimeout(thumbTimer);
    clearTimeout(cardsTimer);
    thumbs();
    cards();
  });
  window.wrdDashboard = { root, refreshCards: () => refreshCards(root), refreshThumbnails: () => refreshThumbnails(root, seconds) };
}

setupDashboard();
