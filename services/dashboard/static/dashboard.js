// The dashboard's behaviour: loaded as a file (the pages' CSP allows no inline script).
(function () {
  "use strict";

  function meta(name) {
    var element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.getAttribute("content") : "";
  }

  // Every htmx request carries the CSRF token of the session (writes with a cookie need it) and
  // the team this page was rendered for, so a switch in another tab cannot redirect a write.
  document.addEventListener("htmx:configRequest", function (event) {
    var csrf = meta("mno-csrf-token");
    var team = meta("mno-team");
    if (csrf) event.detail.headers["X-CSRF-Token"] = csrf;
    if (team) event.detail.headers["X-MNO-Team"] = team;
  });

  // `data-then-go`: where to go once the request succeeded (sign-out).
  document.addEventListener("htmx:afterRequest", function (event) {
    var target = event.detail.elt.getAttribute("data-then-go");
    if (target && event.detail.successful) window.location.assign(target);
  });

  // Refusals and failures of htmx requests are announced, not swallowed.
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var text = "The request failed (" + event.detail.xhr.status + ").";
    try {
      var body = JSON.parse(event.detail.xhr.responseText);
      if (body && body.error && body.error.message) text = body.error.message;
    } catch (ignored) {
      var parsed = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
      var message = parsed.querySelector(".error");
      if (message) text = message.textContent;
    }
    flash.textContent = text;
  });

  // `data-copy="ID"`: the button copies the text of element ID (a configuration snippet) and says so
  // in the page's `#copy-status` live region.
  function copied(button, ok) {
    var status = document.getElementById("copy-status");
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = ok ? "Copied" : "Select and copy";
    if (status) status.textContent = ok ? "Copied to the clipboard." : "Copying failed: select the text and copy it.";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, false); }
      );
      return;
    }
    // Plain http on another host is no secure context: select the text and use the older command.
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (ignored) { ok = false; }
    copied(button, ok);
  });

  // `data-add-row="TEMPLATE" data-add-to="LIST"`: append a copy of <template id=TEMPLATE> to LIST, its
  // `__i__` numbered after the highest row there (the form's fields are msg_role_<i>, var_name_<i>...)
  // and `__n__` as the row's ordinal; focus its first field.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-add-row]") : null;
    if (!button) return;
    var template = document.getElementById(button.getAttribute("data-add-row"));
    var list = document.getElementById(button.getAttribute("data-add-to"));
    if (!template || !list) return;
    var next = 0;
    list.querySelectorAll("[data-message], [data-variable]").forEach(function (row) {
      var index = parseInt(row.getAttribute("data-message") || row.getAttribute("data-variable"), 10);
      if (index >= next) next = index + 1;
    });
    if (next > 999) return;  // the server takes row numbers of up to three digits
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.split("__i__").join(String(next)).split("__n__").join(String(next + 1));
    var row = holder.firstElementChild;
    list.appendChild(row);
    var first = row.querySelector("input, select, textarea");
    if (first) first.focus();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var busy = event.detail.elt;
    if (busy && busy.hasAttribute("aria-busy")) busy.setAttribute("aria-busy", "false");
    drawCharts(event.detail.elt);
  });

  // Charts: `data-chart` holds {kind, title, labels, values} or, for several series,
  // {kind, labels, series: [{name, values, stack?, dashed?}], legend?}; `unit` (usd | count | ms) formats
  // the value axis, `horizontal` lays categories on the y axis, and `links` (one URL or null per
  // label) makes a click on a bar open that label's drill-down. The table beside it has the figures.
  var PALETTE = ["#0b5cad", "#b35900", "#1a7f37", "#8250df", "#bf3989", "#0a7d8c", "#6e7781", "#9a6700", "#57606a"];

  function formatter(unit) {
    if (unit === "count" || unit === "number") return "{value}";
    if (unit === "ms") return "{value} ms";
    if (unit === "percent") return "{value}%";
    return "${value}";
  }

  // kind "interval": {labels, estimates, lows, highs, tips, unit}: per label (a variant) a point at its
  // estimate and a whisker from low to high (a line series of two points, capped), in its own colour.
  function intervalOption(spec) {
    var n = spec.labels.length;
    var whiskers = spec.labels.map(function (label, i) {
      var low = spec.lows[i], high = spec.highs[i];
      return {
        type: "line",
        name: label + " interval",
        data: low === null || high === null ? [] : [[i, low], [i, high]],
        symbol: "rect",
        symbolSize: [14, 2],
        lineStyle: { width: 2, color: PALETTE[i % PALETTE.length] },
        itemStyle: { color: PALETTE[i % PALETTE.length] },
        emphasis: { disabled: true },
      };
    });
    var points = {
      type: "scatter",
      name: spec.title,
      symbolSize: 12,
      data: spec.estimates.map(function (value, i) {
        return { value: [i, value], itemStyle: { color: PALETTE[i % PALETTE.length] } };
      }),
    };
    return {
      aria: { enabled: true },
      animation: false,
      color: PALETTE,
      tooltip: {
        trigger: "item",
        renderMode: "richText",
        formatter: function (params) {
          return spec.tips[params.seriesIndex < n ? params.seriesIndex : params.dataIndex];
        },
      },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.labels },
      yAxis: { type: "value", scale: true, axisLabel: { formatter: formatter(spec.unit) } },
      series: whiskers.concat([points]),
    };
  }

  function chartOption(spec) {
    if (spec.kind === "interval") return intervalOption(spec);
    var series = spec.series || [{ name: spec.title, values: spec.values }];
    var category = { type: "category", data: spec.labels, axisLabel: { hideOverlap: true } };
    var value = { type: "value", axisLabel: { formatter: formatter(spec.unit) } };
    return {
      aria: { enabled: true },
      animation: false,
      color: PALETTE,
      // Drawn on the canvas: an HTML tooltip would need inline styles, which the CSP refuses.
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: spec.legend ? { type: "scroll", bottom: 0 } : undefined,
      grid: { left: 8, right: 16, top: 16, bottom: spec.legend ? 32 : 8, containLabel: true },
      xAxis: spec.horizontal ? value : category,
      yAxis: spec.horizontal ? category : value,
      series: series.map(function (s, i) {
        return {
          type: spec.kind || "bar",
          name: s.name,
          data: s.values,
          stack: s.stack,
          connectNulls: false,
          lineStyle: s.dashed ? { type: "dashed" } : undefined,
          itemStyle: series.length === 1 ? { color: PALETTE[0] } : undefined,
          cursor: spec.links ? "pointer" : "default",
          emphasis: { focus: series.length > 1 ? "series" : "none" },
        };
      }),
    };
  }

  function drawCharts(root) {
    if (typeof echarts === "undefined" || !root.querySelectorAll) return;
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      if (element.getAttribute("data-drawn")) return;
      var spec = JSON.parse(element.getAttribute("data-chart"));
      var chart = echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(chartOption(spec));
      if (spec.links) {
        chart.on("click", function (params) {
          var link = spec.links[params.dataIndex];
          if (link) window.location.assign(link);
        });
      }
      element.setAttribute("data-drawn", "true");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
})();
