/* A small canvas line chart for the stresskit Resources page (no dependencies, no network).
 *
 * new LineChart(canvas, {unit: "%", minMax: 100}).draw(series, now, windowSeconds, threshold)
 * series: [{label, color, width, points: [[t, value], ...]}]; null values break the line.
 * After each draw the canvas carries data-points (points drawn) and data-last (newest t).
 */
(function (global) {
  "use strict";

  function niceMax(value, minMax) {
    var max = Math.max(value, minMax || 1);
    var steps = [1, 2, 2.5, 5, 10];
    var magnitude = Math.pow(10, Math.floor(Math.log10(max)));
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * magnitude >= max) return steps[i] * magnitude;
    }
    return 10 * magnitude;
  }

  function LineChart(canvas, options) {
    this.canvas = canvas;
    this.options = options || {};
  }

  LineChart.prototype.draw = function (series, now, windowSeconds, threshold) {
    var canvas = this.canvas;
    var ratio = global.devicePixelRatio || 1;
    var width = canvas.clientWidth || 400, height = canvas.clientHeight || 300;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var style = global.getComputedStyle(document.body);
    var fg = style.color || "#333";
    var left = 52, right = 12, top = 10, bottom = 24;
    var plotW = width - left - right, plotH = height - top - bottom;
    // the x range grows with the data up to the chosen window (at least a minute)
    var earliest = now;
    series.forEach(function (s) { if (s.points.length && s.points[0][0] < earliest) earliest = s.points[0][0]; });
    var start = Math.max(now - windowSeconds, Math.min(earliest, now - 60));
    var span = now - start;

    var peak = 0, drawn = 0, last = 0;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[0] >= start && p[1] !== null && p[1] > peak) peak = p[1];
      });
    });
    if (threshold) peak = Math.max(peak, threshold);
    var yMax = niceMax(peak, this.options.minMax);
    var x = function (t) { return left + (t - start) / span * plotW; };
    var y = function (v) { return top + plotH - v / yMax * plotH; };

    ctx.font = "12px Roboto, Helvetica, Arial, sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(128,128,128,0.25)";
    ctx.fillStyle = fg;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (var i = 0; i <= 4; i++) {
      var v = yMax * i / 4, yy = y(v);
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(left + plotW, yy); ctx.stroke();
      ctx.fillText(formatValue(v, this.options.unit), left - 4, yy);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (var m = 0; m <= 3; m++) {
      var ago = span * (3 - m) / 3;
      var label = !ago ? "now" : ago >= 120 ? "-" + Math.round(ago / 60) + "m" : "-" + Math.round(ago) + "s";
      ctx.fillText(label, x(now - ago), top + plotH + 4);
    }
    if (threshold) {
      ctx.save();
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = "#d32f2f";
      ctx.beginPath(); ctx.moveTo(left, y(threshold)); ctx.lineTo(left + plotW, y(threshold)); ctx.stroke();
      ctx.restore();
    }
    series.forEach(function (s) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 2;
      ctx.lineJoin = "round";
      ctx.beginPath();
      var pen = false;
      s.points.forEach(function (p) {
        if (p[0] < start) return;
        if (p[1] === null || p[1] === undefined) { pen = false; return; }
        var px = x(p[0]), py = y(p[1]);
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
        drawn++;
        if (p[0] > last) last = p[0];
      });
      ctx.stroke();
    });
    canvas.dataset.points = String(drawn);
    canvas.dataset.last = String(last);
    return drawn;
  };

  function formatValue(v, unit) {
    if (unit === "MB") return v >= 1000 ? (v / 1000).toFixed(1) + "G" : Math.round(v) + "M";
    return Math.round(v) + (unit || "");
  }

  global.LineChart = LineChart;
})(window);
