// Nassella web: the little script the pages use. Everything works without it but the live log.
"use strict";

// A job's log, live: the lines so far, then each new one, over server-sent events.
(function () {
  const log = document.getElementById("log");
  if (!log || !log.dataset.events) return;
  const state = document.getElementById("job-state");
  const summary = document.getElementById("summary");
  const es = new EventSource(log.dataset.events);
  es.addEventListener("line", (e) => {
    log.append(e.data + "\n");
    if (e.data.startsWith("==> ") && summary) summary.textContent = e.data.slice(4);
    log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("state", (e) => {
    if (state) { state.textContent = e.data; state.className = "state-" + e.data; }
  });
  es.addEventListener("done", (e) => {
    if (state) { state.textContent = e.data; state.className = "state-" + e.data; }
    es.close();
  });
})();

// The destroy button stays disabled until the instance's name is typed.
(function () {
  const input = document.getElementById("confirm");
  const button = document.getElementById("destroy-confirm");
  if (!input || !button) return;
  const check = () => { button.disabled = input.value !== input.dataset.expect; };
  input.addEventListener("input", check);
  check();
})();
