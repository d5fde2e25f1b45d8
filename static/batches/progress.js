// Live progress on the batch page: poll the small JSON status endpoint every 1.5 s while the
// batch runs, and stop when it has finished. Without JavaScript the page refreshes itself
// (a <noscript> meta refresh), so this only makes the same page smoother.
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box || box.dataset.finished === "true") return;
  var statusUrl = box.dataset.statusUrl;
  var format = new Intl.NumberFormat();
  var lastFinished = null;
  var POLL_MS = 1500;

  function setText(selector, value) {
    var node = box.querySelector(selector);
    if (node) node.textContent = format.format(value);
  }

  function render(status) {
    var bar = box.querySelector("[data-progress]");
    bar.querySelectorAll("[data-seg]").forEach(function (segment) {
      var share = status.domains ? 100 * status[segment.dataset.seg] / status.domains : 0;
      segment.style.width = share + "%";
    });
    bar.querySelector(".progress-label").textContent = status.progress + "%";
    bar.setAttribute("aria-valuenow", status.progress);
    ["domains_finished", "domains", "domains_done", "domains_failed", "domains_cancelled", "sitemaps", "urls"]
      .forEach(function (key) { setText('[data-count="' + key + '"]', status[key]); });
    var badge = document.querySelector("[data-status-badge] .badge");
    if (badge) {
      badge.className = "badge status-" + status.status;
      badge.textContent = status.status_label;
    }
  }

  // The domain table and the action buttons are server-rendered; when a domain finishes,
  // fetch this same page (same filters, same page number) and swap those parts in.
  function refreshLiveParts() {
    return fetch(window.location.href, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var replacement = fresh.getElementById(part.id);
          if (replacement) part.replaceWith(document.importNode(replacement, true));
        });
      });
  }

  function poll() {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (status) {
        render(status);
        var changed = status.domains_finished !== lastFinished || status.finished;
        lastFinished = status.domains_finished;
        var refreshed = changed ? refreshLiveParts() : Promise.resolve();
        return refreshed.then(function () {
          if (status.finished) {
            box.dataset.finished = "true";
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        });
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 3); });
  }
  window.setTimeout(poll, POLL_MS);
})();
