// Reload the page every 2 s while any desktop on it is changing state, so "starting" turns
// into "running" by itself.
if (document.querySelector('[data-state="requested"],[data-state="starting"],[data-state="stopping"]')) {
  setTimeout(() => location.reload(), 2000);
}
