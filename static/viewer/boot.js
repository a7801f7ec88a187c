// The viewer page's entry point: the viewer itself and its files panel, with the page's
// configuration (a json_script block, so the page needs no inline script).
import { main } from "./viewer.js";
import { setupFiles } from "./files.js";

main();
setupFiles(document.getElementById("wrd-viewer"), JSON.parse(document.getElementById("wrd-config").textContent));
