{% raw %}
// Hover read-outs for the charts. The page is complete without this script: it only shows the
// values under the pointer, read from each chart's inline JSON.
(function () {
  "use strict";
  var W = 640;
  function fmt(v, unit) {
    if (v === null || v === undefined) return "-";
    if (unit === "s") {
      if (v >= 1) return v.toFixed(2) + " s";
      if (v >= 0.001) return (v * 1000).toFixed(2) + " ms";
      return (v * 1e6).toFixed(0) + " µs";
    }
    if (unit === "%") return v.toFixed(2) + " %";
    return num(v);
  }
  function num(v) {
    if (Math.abs(v) >= 100) return v.toFixed(0);
    return String(Math.round(v * 100) / 100);
  }
  function clock(s) {
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = h > 0 && m < 10 ? "0" + m : String(m);
    return (h > 0 ? h + ":" : "") + mm + ":" + (r < 10 ? "0" : "") + r;
  }
  // The index of the x value drawn nearest to `f` (0 to 1 along the axis); `pos` places a value.
  function nearest(xs, f, pos) {
    var lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (pos(xs[mid]) <= f) lo = mid; else hi = mid;
    }
    return Math.abs(pos(xs[hi]) - f) < Math.abs(pos(xs[lo]) - f) ? hi : lo;
  }
  var boxes = document.querySelectorAll("figure.chart-box");
  Array.prototype.forEach.call(boxes, function (box) {
    var svg = box.querySelector("svg.chart");
    var tip = box.querySelector(".tip");
    var script = box.querySelector("script.chart-data");
    if (!svg || !tip || !script) return;
    var data;
    try { data = JSON.parse(script.textContent); } catch (e) { return; }
    if (!data.x || data.x.length === 0) return;
    var plot = (svg.getAttribute("data-plot") || "").split(" ").map(Number);
    var xMin = Number(svg.getAttribute("data-x-min")) || 0;
    var xMax = Number(svg.getAttribute("data-x-max")) || 1;
    if (xMax <= xMin) xMax = xMin + 1;
    var xLog = svg.getAttribute("data-x-log") === "1" && xMin > 0;
    function pos(v) {
      if (xLog) return (Math.log(Math.max(v, xMin)) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin));
      return (v - xMin) / (xMax - xMin);
    }
    var cursor = svg.querySelector("line.cursor");
    if (!cursor) return;
    svg.addEventListener("mousemove", function (ev) {
      var rect = svg.getBoundingClientRect();
      var sx = (ev.clientX - rect.left) / rect.width * W;
      var i = nearest(data.x, (sx - plot[0]) / plot[2], pos);
      var x = plot[0] + pos(data.x[i]) * plot[2];
      cursor.setAttribute("x1", x);
      cursor.setAttribute("x2", x);
      cursor.style.display = "";
      tip.textContent = "";
      var head = document.createElement("b");
      head.textContent = data.x_name ? data.x_name + " " + num(data.x[i]) : clock(data.x[i]);
      tip.appendChild(head);
      data.series.forEach(function (s) {
        var row = document.createElement("div");
        var sw = document.createElement("i");
        sw.style.background = s.color;
        row.appendChild(sw);
        row.appendChild(document.createTextNode(s.name + ": " + fmt(s.y[i], data.unit)));
        tip.appendChild(row);
      });
      (data.refs || []).forEach(function (r) {
        var row = document.createElement("div");
        row.className = "ref";
        var sw = document.createElement("i");
        sw.style.background = r.color;
        sw.style.opacity = ".35";
        row.appendChild(sw);
        row.appendChild(document.createTextNode(r.name + ": " + fmt(r.value, data.unit)));
        tip.appendChild(row);
      });
      tip.hidden = false;
      var left = (ev.clientX - rect.left) + 14;
      if (left + tip.offsetWidth > rect.width) left = (ev.clientX - rect.left) - tip.offsetWidth - 14;
      tip.style.left = Math.max(0, left) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      tip.hidden = true;
      cursor.style.display = "none";
    });
  });
})();
{% endraw %}
