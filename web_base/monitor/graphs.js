// Interactive graphs of factoryGraphs.html, drawn with the vendored uPlot.
// The data are the graphs_<range>.js files the factory writes beside its RRDs: each one
// calls gwmsGraphData({...}), so they load with a <script> tag from file:// as well as
// from the factory's web server. The choice of entry, frontend and range is kept in the
// URL (?entry=&frontend=&range=) so a link can open a given view.
(function () {
  "use strict";
  var GRAPHS = [
    ["status", "Glideins by state"],
    ["requested", "Requested idle and max glideins"],
    ["client", "What the frontend reported"],
    ["completed", "Completed and failed glideins (per interval)"],
    ["lifetime", "Completed glideins by lifetime (per interval)"],
    ["waste", "Glidein hours by badput fraction (per interval)"],
    ["rejected", "Rejected requests by reason (per interval)"]
  ];
  var COLOURS = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var RANGES = ["1h", "6h", "day", "week", "month", "year"];
  var params = new URLSearchParams(window.location.search);
  var state = {
    entry: params.get("entry") || "",
    frontend: params.get("frontend") || "",
    range: RANGES.indexOf(params.get("range")) >= 0 ? params.get("range") : "6h"
  };
  var charts = [];

  function dataPath() {
    var path = state.entry ? "entry_" + encodeURIComponent(state.entry) + "/" : "";
    if (!state.frontend) {
      path += "total/";
    } else {
      path += (state.entry ? "" : "total/") + "frontend_" + encodeURIComponent(state.frontend) + "/";
    }
    return path + "graphs_" + state.range + ".js";
  }

  function message(text) {
    document.getElementById("graph-message").textContent = text;
  }

  function clear() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    document.querySelectorAll("div.graph").forEach(function (box) {
      box.setAttribute("data-points", "0");
    });
  }

  function draw(data) {
    clear();
    var width = Math.min(900, Math.max(400, document.body.clientWidth - 40));
    GRAPHS.forEach(function (graph) {
      var box = document.getElementById("graph-" + graph[0]);
      var values = data.graphs[graph[0]];
      if (!box || !values || !Object.keys(values).length) { return; }
      var names = Object.keys(values);
      var points = 0;
      names.forEach(function (name) {
        values[name].forEach(function (v) { if (v !== null) { points += 1; } });
      });
      var series = [{}].concat(names.map(function (name, i) {
        return { label: name, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false };
      }));
      var columns = [data.t].concat(names.map(function (name) { return values[name]; }));
      charts.push(new uPlot({ title: graph[1], width: width, height: 220, series: series },
                            columns, box));
      box.setAttribute("data-points", String(points));
      box.setAttribute("data-first", String(data.t.length ? data.t[0] : ""));
    });
    document.body.setAttribute("data-drawn", data.range);
    message("");
  }

  window.gwmsGraphData = function (data) {
    if (data.range === state.range) { draw(data); }
  };

  function load() {
    var old = document.getElementById("graph-data");
    if (old) { old.parentNode.removeChild(old); }
    document.body.removeAttribute("data-drawn");
    var script = document.createElement("script");
    script.id = "graph-data";
    script.src = dataPath();
    script.onerror = function () {
      clear();
      document.body.setAttribute("data-drawn", "none");
      message("No history for this choice yet.");
    };
    document.body.appendChild(script);
    try {  // keep the choice in the address (some browsers refuse this on file://)
      var query = new URLSearchParams(state).toString();
      window.history.replaceState(null, "", window.location.pathname + "?" + query);
    } catch (ignored) { /* the view still works, only the address does not follow */ }
    document.querySelectorAll("button[data-range]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-range") === state.range));
    });
  }

  ["entry", "frontend"].forEach(function (name) {
    var select = document.getElementById("select-" + name);
    select.value = state[name];
    select.addEventListener("change", function () { state[name] = select.value; load(); });
  });
  document.querySelectorAll("button[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      state.range = button.getAttribute("data-range");
      load();
    });
  });
  document.getElementById("graph-controls").removeAttribute("hidden");
  load();
})();
