// pbxhooks console: small enhancements only; every flow works without it.
"use strict";
document.addEventListener("click", (event) => {
  const copy = event.target.closest("button.copy");
  if (copy) {
    navigator.clipboard.writeText(copy.dataset.copy).then(() => {
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = "Copy"; }, 1500);
    });
    return;
  }
  const confirmed = event.target.closest("[data-confirm]");
  if (confirmed && !window.confirm(confirmed.dataset.confirm)) {
    event.preventDefault();
  }
});
// Copy buttons need the clipboard API; they stay hidden without script.
for (const copy of document.querySelectorAll("button.copy")) {
  copy.hidden = !navigator.clipboard;
}
