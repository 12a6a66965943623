// The chart of a distribution's page: messages sent (bars) and codes redeemed (line) per
// hour, day or week. The canvas survives the metrics fragment's polling (hx-preserve); each
// new fragment brings a <script id="metrics-chart-data"> with fresh numbers, which update the
// chart in place (no re-animation every three seconds). Without JavaScript, the visually
// hidden table next to the canvas still carries the numbers.
(function () {
  "use strict";

  var chart = null;

  function readData() {
    var source = document.getElementById("metrics-chart-data");
    return source ? JSON.parse(source.textContent) : null;
  }

  function draw() {
    var canvas = document.getElementById("metrics-chart");
    var data = readData();
    if (!canvas || !data || !window.Chart) { return; }
    if (chart && chart.canvas === canvas) {
      chart.data.labels = data.labels;
      chart.data.datasets[0].data = data.sent;
      chart.data.datasets[1].data = data.redeemed;
      chart.update("none");
      return;
    }
    if (chart) { chart.destroy(); }
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Messages sent", data: data.sent, backgroundColor: "#2456c8", order: 2 },
          {
            label: "Codes redeemed", data: data.redeemed, type: "line", borderColor: "#17803d",
            backgroundColor: "#17803d", tension: 0.2, pointRadius: 4, order: 1
          }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
