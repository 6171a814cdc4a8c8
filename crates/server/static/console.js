// Live updates for the console: when the desk changes (server-sent events), fetch the page
// again and swap its main part, unless the operator is typing in a form (then show a banner
// instead, so nothing typed is lost). Without JavaScript the console works by reloading.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) { return; }
  var dirty = false;
  document.addEventListener("input", function () { dirty = true; });
  var banner = document.getElementById("live");

  function refresh() {
    if (dirty) { if (banner) { banner.hidden = false; } return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html || dirty) { return; }
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var current = document.getElementById("main");
        if (next && current) { current.innerHTML = next.innerHTML; }
      })
      .catch(function () { if (banner) { banner.hidden = false; } });
  }

  var source = new EventSource("/console/events");
  source.addEventListener("change", refresh);
  document.documentElement.setAttribute("data-live", "on");
})();
