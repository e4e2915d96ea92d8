/* PSE CRM behaviour: no inline scripts (the CSP forbids them). Data comes from
 * data- attributes, json_script blocks and django-chartjs JSON views. */
(function () {
  "use strict";

  var QUADRANT_COLORS = {
    performer: "#2f855a",
    motivated: "#dd6b20",
    independent: "#3182ce",
    casual: "#805ad5",
    dormant: "#a0aec0",
  };
  var SERIES_COLORS = ["#2457d6", "#2f855a", "#dd6b20", "#805ad5", "#d53f8c", "#319795"];

  function lang() {
    return document.documentElement.lang || "en";
  }

  function fmt(n) {
    return new Intl.NumberFormat(lang()).format(n);
  }

  /* Select boxes that submit their form when changed (tenant switcher, filters). */
  function autosubmit() {
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () {
        el.form.submit();
      });
    });
    document.querySelectorAll(".js-hide").forEach(function (el) {
      el.hidden = true;
    });
  }

  /* Forms and buttons that ask before acting. */
  function confirms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  /* Threshold lines (views and results cut-offs) on the scatter. */
  var thresholdPlugin = {
    id: "thresholds",
    afterDatasetsDraw: function (chart, args, opts) {
      if (!opts || (opts.x == null && opts.y == null)) return;
      var ctx = chart.ctx;
      var area = chart.chartArea;
      ctx.save();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#1b2433";
      ctx.fillStyle = "#1b2433";
      ctx.font = "11px system-ui, sans-serif";
      if (opts.x != null) {
        var x = chart.scales.x.getPixelForValue(opts.x);
        if (x >= area.left && x <= area.right) {
          ctx.beginPath();
          ctx.moveTo(x, area.top);
          ctx.lineTo(x, area.bottom);
          ctx.stroke();
          if (opts.xLabel) ctx.fillText(opts.xLabel, x + 4, area.top + 12);
        }
      }
      if (opts.y != null) {
        var y = chart.scales.y.getPixelForValue(opts.y);
        if (y >= area.top && y <= area.bottom) {
          ctx.beginPath();
          ctx.moveTo(area.left, y);
          ctx.lineTo(area.right, y);
          ctx.stroke();
          if (opts.yLabel) ctx.fillText(opts.yLabel, area.right - ctx.measureText(opts.yLabel).width - 4, y - 4);
        }
      }
      ctx.restore();
    },
  };

  function scatterConfig(payload) {
    var datasets = (payload.datasets || []).map(function (ds) {
      var color = QUADRANT_COLORS[ds.key] || "#2457d6";
      return {
        label: ds.label,
        data: ds.data,
        backgroundColor: color + "b3",
        borderColor: color,
        pointRadius: payload.point_radius || 3,
        pointHoverRadius: 5,
      };
    });
    var axes = payload.axes || {};
    return {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        plugins: {
          legend: { position: "bottom" },
          thresholds: {
            x: payload.thresholds ? payload.thresholds.x : null,
            y: payload.thresholds ? payload.thresholds.y : null,
            xLabel: payload.thresholds ? payload.thresholds.x_label : "",
            yLabel: payload.thresholds ? payload.thresholds.y_label : "",
          },
          tooltip: {
            callbacks: {
              label: function (item) {
                var p = item.raw || {};
                return (p.name ? p.name + ": " : "") + fmt(item.parsed.x) + " / " + fmt(item.parsed.y);
              },
            },
          },
        },
        scales: {
          x: { title: { display: true, text: axes.x || "" }, beginAtZero: true },
          y: { title: { display: true, text: axes.y || "" }, beginAtZero: true },
        },
        onClick: function (event, elements, chart) {
          if (!elements.length) return;
          var el = elements[0];
          var point = chart.data.datasets[el.datasetIndex].data[el.index];
          if (point && point.url) window.location.href = point.url;
        },
      },
      plugins: [thresholdPlugin],
    };
  }

  /* Weekly charts: an incomplete week (payload.partial[i]) is drawn dashed, with a hollow
   * diamond, and named in the tooltip, so that it never reads as a drop. */
  function lineConfig(payload, type) {
    var partial = payload.partial || [];
    function isPartial(i) {
      return partial[i] === true;
    }
    var datasets = (payload.datasets || []).map(function (ds, i) {
      var color = ds.color || SERIES_COLORS[i % SERIES_COLORS.length];
      return {
        label: ds.label,
        data: ds.data,
        borderColor: color,
        backgroundColor: type === "bar" ? function (ctx) {
          return isPartial(ctx.dataIndex) ? color + "55" : color + "cc";
        } : color + "22",
        borderDash: type === "bar" ? function (ctx) {
          return isPartial(ctx.dataIndex) ? [4, 3] : [];
        } : undefined,
        fill: type !== "bar" && i === 0,
        cubicInterpolationMode: "monotone",
        yAxisID: ds.yAxisID || "y",
        segment: {
          borderDash: function (ctx) {
            return isPartial(ctx.p1DataIndex) ? [6, 4] : undefined;
          },
        },
        pointRadius: function (ctx) {
          return isPartial(ctx.dataIndex) ? 5 : 2;
        },
        pointStyle: function (ctx) {
          return isPartial(ctx.dataIndex) ? "rectRot" : "circle";
        },
        pointBackgroundColor: function (ctx) {
          return isPartial(ctx.dataIndex) ? "#fff" : color;
        },
        pointBorderColor: color,
      };
    });
    var scales = {
      x: { ticks: { maxRotation: 0, autoSkipPadding: 16 } },
      y: { beginAtZero: true, position: "left", ticks: { precision: 0 } },
    };
    if (datasets.some(function (d) { return d.yAxisID === "y1"; })) {
      scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { precision: 0 } };
    }
    if (payload.stacked) {
      scales.x.stacked = true;
      scales.y.stacked = true;
    }
    return {
      type: type,
      data: { labels: payload.labels || [], datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              footer: function (items) {
                return items.length && isPartial(items[0].dataIndex) ? payload.partial_text || "" : "";
              },
            },
          },
        },
        scales: scales,
      },
    };
  }

  function countPoints(payload) {
    return (payload.datasets || []).reduce(function (n, ds) {
      return n + (ds.data ? ds.data.length : 0);
    }, 0);
  }

  function draw(canvas, payload) {
    var kind = canvas.dataset.chart;
    var config = kind === "scatter" ? scatterConfig(payload) : lineConfig(payload, kind);
    // eslint-disable-next-line no-new
    new window.Chart(canvas, config);
    canvas.dataset.points = String(countPoints(payload));
    canvas.dataset.partial = String((payload.partial || []).filter(Boolean).length);
    canvas.dataset.rendered = "1";
    var note = canvas.closest(".card") && canvas.closest(".card").querySelector("[data-sample-note]");
    if (note && payload.total > payload.shown && canvas.dataset.sampleText) {
      note.textContent = canvas.dataset.sampleText
        .replace("{shown}", fmt(payload.shown))
        .replace("{total}", fmt(payload.total));
      note.hidden = false;
    }
  }

  function charts() {
    if (!window.Chart) return;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#5d677a";
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.source) {
        var node = document.getElementById(canvas.dataset.source);
        draw(canvas, JSON.parse(node.textContent));
        return;
      }
      fetch(canvas.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(r.status);
          return r.json();
        })
        .then(function (payload) {
          draw(canvas, payload);
        })
        .catch(function () {
          canvas.dataset.rendered = "error";
        });
    });
  }

  /* A running segmentation: poll its status until it is done, then reload. The status
   * says how long the run has waited or run (no percentage: nothing measures that). */
  function progress() {
    document.querySelectorAll("[data-poll-url]").forEach(function (box) {
      var label = box.querySelector("[data-progress-label]");
      function tick() {
        fetch(box.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (s) {
            if (label) label.textContent = s.text || s.label || "";
            box.dataset.status = s.status;
            if (s.elapsed_seconds === null || s.elapsed_seconds === undefined) {
              delete box.dataset.elapsed;
            } else {
              box.dataset.elapsed = s.elapsed_seconds;
            }
            if (s.finished) {
              window.setTimeout(function () { window.location.reload(); }, 600);
            } else {
              window.setTimeout(tick, 1200);
            }
          })
          .catch(function () { window.setTimeout(tick, 3000); });
      }
      tick();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit();
    confirms();
    charts();
    progress();
  });
})();
