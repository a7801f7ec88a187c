// Forms and buttons with data-confirm="question" ask before they submit (the policy allows no
// inline onsubmit handlers).
document.addEventListener("submit", (event) => {
  const question = event.submitter?.dataset.confirm ?? event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
