// Draws every element with data-series="[[x...],[y...]]" as a uPlot chart. No inline scripts:
// the page carries the numbers in data attributes, this file draws them (CSP script-src 'self').
//
// Charts tell the truth: bars start at zero, the value axis names its unit (data-unit), and
// numbers, dates, times and legends follow the page's language (<html lang>): in Swedish
// "7 693", "9 nov." and a 24-hour clock. data-x-label names the time in the legend.
(function () {
  "use strict";

  var lang = document.documentElement.lang || "en";
  var locale = lang === "sv" ? "sv-SE" : "en-GB";
  var integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  var dayMonth = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
  var monthYear = new Intl.DateTimeFormat(locale, { month: "short", year: "numeric", timeZone: "UTC" });
  var fullDate = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  // Hourly buckets are true instants: shown in the browser's own zone, as uPlot does.
  var clock = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var dateTime = new Intl.DateTimeFormat(locale, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  function sizeOf(el) {
    var width = Math.max(200, el.clientWidth || el.parentElement.clientWidth || 300);
    var height = el.classList.contains("chart-large") ? 320 : 110;
    if (width < 420 && el.classList.contains("chart-large")) height = 260;
    return { width: width, height: height };
  }

  // x values are epoch seconds: hourly buckets the bucket's instant, daily ones noon UTC of
  // the person's local date (so the date shown is that date in any zone).
  function xText(seconds, hourly, span) {
    var d = new Date(seconds * 1000);
    if (hourly) return span > 2 * 86400 ? dateTime.format(d) : clock.format(d);
    return span > 400 * 86400 ? monthYear.format(d) : dayMonth.format(d);
  }

  function number(value, duration) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    if (duration) {
      var minutes = Math.round(value);
      var h = Math.floor(minutes / 60);
      var m = minutes % 60;
      return h ? h + " h " + (m < 10 ? "0" : "") + m + " min" : m + " min";
    }
    return Math.abs(value) >= 100 || Math.round(value) === value ? integer.format(value) : decimal.format(value);
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
    var duration = el.dataset.duration === "true";
    var hourly = el.dataset.hourly === "true";
    var unit = el.dataset.unit || "";
    var names = el.dataset.labels ? JSON.parse(el.dataset.labels) : [];
    var span = data[0][data[0].length - 1] - data[0][0];
    var colours = ["#0b5cad", "#a4161a", "#1d6b35"];
    var series = [
      {
        label: el.dataset.xLabel || "",
        value: function (u, v) {
          return v === null || v === undefined ? "–" : hourly ? dateTime.format(new Date(v * 1000)) : fullDate.format(new Date(v * 1000));
        },
      },
    ];
    for (var i = 1; i < data.length; i++) {
      series.push({
        label: names[i - 1] || el.getAttribute("aria-label") || "",
        stroke: colours[(i - 1) % colours.length],
        width: 2,
        fill: bars ? "rgba(11, 92, 173, 0.35)" : undefined,
        paths: bars && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
        points: { show: !bars && data[0].length < 60 },
        spanGaps: false,
        value: function (u, v) {
          return v === null || v === undefined ? "–" : number(v, duration) + (unit && !duration ? " " + unit : "");
        },
      });
    }
    var size = sizeOf(el);
    var yScale = {};
    if (bars) {
      // A bar's height is its value: the axis starts at zero, whatever the smallest bar.
      yScale.range = function (u, min, max) {
        return [0, max > 0 ? max * 1.08 : 1];
      };
    }
    var options = {
      width: size.width,
      height: size.height,
      series: series,
      legend: { show: large },
      cursor: { drag: { x: large, y: false } },
      axes: large
        ? [
            {
              values: function (u, splits) {
                var shown = splits.map(function (s) {
                  return xText(s, hourly, span);
                });
                el.dataset.xTicks = JSON.stringify(shown); // the canvas's text, for tests and tools
                return shown;
              },
            },
            {
              size: 70,
              label: duration ? el.dataset.durationUnit || "h" : unit,
              labelSize: 20,
              values: function (u, splits) {
                var shown = splits.map(function (s) {
                  return duration ? decimal.format(s / 60) : number(s, false);
                });
                el.dataset.yTicks = JSON.stringify(shown);
                return shown;
              },
            },
          ]
        : [{ show: false }, { show: false }],
      scales: { x: { time: true }, y: yScale },
      hooks: {
        draw: [
          function (u) {
            el.dataset.yMin = String(u.scales.y.min);
          },
        ],
      },
    };
    el.textContent = "";
    var plot = new uPlot(options, data, el);
    el.dataset.points = String(data[0].length);
    el.dataset.yLabel = options.axes[1].label || "";
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
