// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Toasts fade out after a few seconds (they stay in the DOM for screen readers until then).
  function armToasts(root) {
    root.querySelectorAll(".toast:not([data-armed])").forEach(function (toast) {
      toast.dataset.armed = "1";
      setTimeout(function () { toast.classList.add("hide"); }, 6000);
      setTimeout(function () { toast.remove(); }, 6500);
    });
  }

  // <form data-confirm="Really?"> and <button data-confirm> ask before destructive acts.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var text = (button && button.dataset.confirm) || form.dataset.confirm;
    if (text && !window.confirm(text)) { event.preventDefault(); }
  }, true);

  // Charts: <canvas data-chart='{"type": ..., "data": ...}'> drawn with the vendored Chart.js.
  function drawCharts(root) {
    if (!window.Chart) { return; }
    root.querySelectorAll("canvas[data-chart]:not([data-drawn])").forEach(function (canvas) {
      canvas.dataset.drawn = "1";
      var config = JSON.parse(canvas.dataset.chart);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false }, config.options || {});
      new window.Chart(canvas, config);
    });
  }

  function enhance(root) { armToasts(root); drawCharts(root); }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target); });
})();
