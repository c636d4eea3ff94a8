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

// Live tail: follow the console's relay of the account's event stream
// (same origin, the session cookie; the API token stays on the server).
// Entries are built as text nodes, never as HTML from the stream.
const live = document.getElementById("live");
if (live && window.EventSource) {
  const state = document.getElementById("live-state");
  const maxEntries = 200;
  const hookNames = new Map();
  for (const option of document.querySelectorAll("#hook_id option")) {
    if (option.value) hookNames.set(option.value, option.textContent);
  }
  const prepend = (listID, parts) => {
    const list = document.getElementById(listID);
    const item = document.createElement("li");
    item.className = "fresh";
    for (const part of parts) {
      item.append(part instanceof Node ? part : document.createTextNode(part));
    }
    const empty = list.querySelector("li.empty");
    if (empty) empty.remove();
    list.prepend(item);
    while (list.children.length > maxEntries) list.lastElementChild.remove();
  };
  const badge = (text, className) => {
    const span = document.createElement("span");
    span.className = "result " + className;
    span.textContent = text;
    return span;
  };
  const link = (href, text) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  };
  const when = (iso) => {
    const t = new Date(iso);
    return isNaN(t) ? iso : t.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  };
  const source = new EventSource(live.dataset.stream);
  source.addEventListener("open", () => {
    state.textContent = "Live: new events and deliveries appear at the top as they happen.";
  });
  source.addEventListener("error", () => {
    state.textContent = source.readyState === EventSource.CLOSED
      ? "The live stream was refused or ended; reload the page to try again."
      : "The live stream was interrupted; reconnecting…";
  });
  source.addEventListener("event", (message) => {
    const ev = JSON.parse(message.data);
    const parts = [badge(ev.status || ev.kind, "status-" + (ev.status || "none")), " " + ev.kind];
    if (ev.call_type) parts.push(" · " + ev.call_type);
    if (ev.media_type) parts.push(" · " + ev.media_type);
    parts.push(" · " + (ev.from || "") + " → " + (ev.to || "") + " · " + when(ev.received_at));
    if (ev.call_id) parts.push(" · ", link(live.dataset.timeline + encodeURIComponent(ev.call_id), "timeline"));
    prepend("live-events", parts);
  });
  source.addEventListener("attempt", (message) => {
    const a = JSON.parse(message.data);
    const parts = [badge(a.result, a.result), " attempt " + a.attempt + " · "];
    parts.push(a.response_status ? "HTTP " + a.response_status : "no response");
    parts.push(" · " + a.latency_ms + " ms · " + when(a.timestamp) + " · ");
    parts.push(link(live.dataset.deliveries + encodeURIComponent(a.hook_id), hookNames.get(a.hook_id) || "hook " + a.hook_id));
    parts.push(" · delivery " + a.delivery_id);
    prepend("live-deliveries", parts);
  });
  source.addEventListener("dropped", (message) => {
    const d = JSON.parse(message.data);
    state.textContent = d.dropped + " update(s) came faster than this page could take and were skipped.";
  });
  source.addEventListener("close", () => {
    source.close();
    state.textContent = "The server is restarting; reload the page in a moment.";
  });
}
