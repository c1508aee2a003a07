// Draws every element with data-series="[[x...],[y...]]" as a uPlot chart. No inline scripts:
// the page carries the numbers in data attributes, this file draws them (CSP script-src 'self').
(function () {
  "use strict";

  function sizeOf(el) {
    var width = Math.max(200, el.clientWidth || el.parentElement.clientWidth || 300);
    var height = el.classList.contains("chart-large") ? 320 : 110;
    return { width: width, height: height };
  }

  function draw(el) {
    var data;
    try {
      data = JSON.parse(el.dataset.series);
    } catch (e) {
      return;
    }
    if (!data || !data[0] || data[0].length === 0) return;
    var large = el.classList.contains("chart-large");
    var bars = el.dataset.kind === "bars";
    var series = [{}];
    var colours = ["#0b5cad", "#a4161a", "#1d6b35"];
    for (var i = 1; i < data.length; i++) {
      series.push({
        label: (el.dataset.labels ? JSON.parse(el.dataset.labels)[i - 1] : el.getAttribute("aria-label")) || "",
        stroke: colours[(i - 1) % colours.length],
        width: 2,
        fill: bars ? "rgba(11, 92, 173, 0.35)" : undefined,
        paths: bars && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
        points: { show: !bars && data[0].length < 60 },
        spanGaps: false,
      });
    }
    var size = sizeOf(el);
    var options = {
      width: size.width,
      height: size.height,
      series: series,
      legend: { show: large },
      cursor: { drag: { x: large, y: false } },
      axes: large ? [{}, { size: 60 }] : [{ show: false }, { show: false }],
      scales: { x: { time: true } },
    };
    el.textContent = "";
    var plot = new uPlot(options, data, el);
    el.dataset.points = String(data[0].length);
    el.classList.add("chart-ready");
    window.addEventListener("resize", function () {
      plot.setSize(sizeOf(el));
    });
    var reset = document.querySelector('[data-reset-zoom="' + el.id + '"]');
    if (reset) {
      reset.addEventListener("click", function () {
        plot.setScale("x", { min: data[0][0], max: data[0][data[0].length - 1] });
      });
    }
  }

  function start() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-series]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
