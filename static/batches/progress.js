// Live progress on the batch page: poll the small JSON status endpoint while the batch runs.
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box || box.dataset.finished === "true") return;
  var url = box.dataset.statusUrl;
  var format = new Intl.NumberFormat();

  function render(status) {
    var fill = box.querySelector(".progress-fill");
    var label = box.querySelector(".progress-label");
    var bar = box.querySelector("[data-progress]");
    fill.style.width = status.progress + "%";
    label.textContent = status.progress + "%";
    bar.setAttribute("aria-valuenow", status.progress);
    var counts = {
      domains_finished: status.domains_done + status.domains_failed + status.domains_cancelled,
      domains: status.domains, domains_failed: status.domains_failed,
      sitemaps: status.sitemaps, urls: status.urls
    };
    Object.keys(counts).forEach(function (key) {
      var node = box.querySelector('[data-count="' + key + '"]');
      if (node) node.textContent = format.format(counts[key]);
    });
    var badge = document.querySelector("[data-status-badge] .badge");
    if (badge) {
      badge.className = "badge status-" + status.status;
      badge.textContent = status.status_label;
    }
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (status) {
        render(status);
        if (status.finished) {
          // Reload once so the per-domain table shows every final result.
          window.setTimeout(function () { window.location.reload(); }, 500);
        } else {
          window.setTimeout(poll, 1500);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
