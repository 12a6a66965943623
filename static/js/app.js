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

  // Progress bars: <div class="progress-bar" data-progress="42"> (no style attribute: the CSP
  // forbids inline styles, a width set from script is allowed).
  function sizeProgress(root) {
    root.querySelectorAll(".progress-bar[data-progress]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.progress) || 0)) + "%";
    });
  }

  // <select data-navigate>: choosing an option goes to the URL in its value (partner switcher).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-navigate]") && select.value) {
      window.location = select.value;
    }
  });

  // <div data-swap-statuses="400 429">: htmx swaps these answers into it too (a form with field
  // errors, a throttled request), which it skips by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var holder = event.target.closest && event.target.closest("[data-swap-statuses]");
    if (!holder) { return; }
    var statuses = holder.dataset.swapStatuses.split(/\s+/);
    if (statuses.indexOf(String(event.detail.xhr.status)) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function enhance(root) { armToasts(root); drawCharts(root); sizeProgress(root); }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target); });
})();
