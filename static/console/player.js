// The recording player: ?at=<unix time> (from the connection history) starts where that moment
// is in the file; "latest" reloads a live recording's growing file, keeping the place.
const video = document.getElementById("player");
const at = Number(new URLSearchParams(location.search).get("at"));
if (at) {
  video.addEventListener("loadedmetadata", () => {
    video.currentTime = Math.max(0, at - Number(video.dataset.started));
  }, { once: true });
}
const latest = document.getElementById("latest");
if (latest) latest.addEventListener("click", () => {
  const t = video.currentTime, playing = !video.paused;
  video.src = video.src.split("?")[0] + "?" + Date.now();
  video.addEventListener("loadedmetadata", () => { video.currentTime = t; if (playing) video.play(); }, { once: true });
});
