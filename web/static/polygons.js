// Watchpost polygon editor: draw zones and masks by clicking on the camera's picture.
// Progressive enhancement of the camera form: the textareas stay the source of truth (one polygon
// per line, x,y from 0 to 1; zones as "name: x,y x,y ..."); this script appends to them and draws
// what they hold. The server validates on save. No framework, no inline code.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function parsePoints(text) {
    var points = [];
    text.trim().split(/\s+/).forEach(function (pair) {
      var xy = pair.split(",");
      var x = parseFloat(xy[0]), y = parseFloat(xy[1]);
      if (xy.length === 2 && isFinite(x) && isFinite(y)) points.push([x, y]);
    });
    return points;
  }

  function polygonsOf(textarea, named) {
    return textarea.value.split("\n").filter(function (l) { return l.trim(); }).map(function (line) {
      var name = "";
      if (named && line.indexOf(":") >= 0) {
        name = line.slice(0, line.indexOf(":")).trim();
        line = line.slice(line.indexOf(":") + 1);
      }
      return { name: name, points: parsePoints(line) };
    });
  }

  function round(v) { return Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000; }

  function setup(editor) {
    var form = editor.closest("form");
    var img = editor.querySelector("img");
    var svg = editor.querySelector("svg");
    var kind = editor.querySelector("[data-kind]");
    var nameInput = editor.querySelector("[data-zone-name]");
    var status = editor.querySelector("[data-status]");
    var fields = {
      zone: form.querySelector("textarea[name=zones]"),
      objects: form.querySelector("textarea[name=object_mask]"),
      motion: form.querySelector("textarea[name=mask]")
    };
    var current = [];

    function draw() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      [["zone", "zone"], ["objects", "object-mask"], ["motion", "motion-mask"]].forEach(function (pair) {
        polygonsOf(fields[pair[0]], pair[0] === "zone").forEach(function (p) {
          if (p.points.length < 2) return;
          var poly = document.createElementNS(SVG, "polygon");
          poly.setAttribute("points", p.points.map(function (q) { return q[0] + "," + q[1]; }).join(" "));
          poly.setAttribute("class", pair[1]);
          svg.appendChild(poly);
          if (p.name) {
            var label = document.createElementNS(SVG, "text");
            label.setAttribute("x", p.points[0][0] + 0.005);
            label.setAttribute("y", p.points[0][1] + 0.04);
            label.setAttribute("class", "draw-label");
            label.textContent = p.name;
            svg.appendChild(label);
          }
        });
      });
      if (current.length) {
        var line = document.createElementNS(SVG, "polyline");
        line.setAttribute("points", current.map(function (q) { return q[0] + "," + q[1]; }).join(" "));
        line.setAttribute("class", "drawing");
        svg.appendChild(line);
        current.forEach(function (q) {
          var dot = document.createElementNS(SVG, "circle");
          dot.setAttribute("cx", q[0]);
          dot.setAttribute("cy", q[1]);
          dot.setAttribute("r", 0.008);
          dot.setAttribute("class", "drawing-point");
          svg.appendChild(dot);
        });
      }
      status.textContent = current.length
        ? current.length + " point(s); click to add more, then Finish (3 or more)."
        : "Click on the picture to start a polygon.";
    }

    svg.addEventListener("click", function (event) {
      var box = svg.getBoundingClientRect();
      current.push([round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)]);
      draw();
    });
    editor.querySelector("[data-action=undo]").addEventListener("click", function () { current.pop(); draw(); });
    editor.querySelector("[data-action=cancel]").addEventListener("click", function () { current = []; draw(); });
    editor.querySelector("[data-action=finish]").addEventListener("click", function () {
      if (current.length < 3) { status.textContent = "A polygon needs at least 3 points."; return; }
      var target = fields[kind.value];
      var text = current.map(function (q) { return q[0] + "," + q[1]; }).join(" ");
      if (kind.value === "zone") {
        var name = (nameInput.value || "").trim().toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
        if (!name) { status.textContent = "Give the zone a name first."; nameInput.focus(); return; }
        text = name + ": " + text;
      }
      target.value = (target.value.trim() ? target.value.trim() + "\n" : "") + text;
      current = [];
      draw();
    });
    kind.addEventListener("change", function () { nameInput.hidden = kind.value !== "zone"; });
    Object.keys(fields).forEach(function (k) { fields[k].addEventListener("input", draw); });
    img.addEventListener("error", function () { editor.classList.add("no-picture"); });
    draw();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-polygon-editor]"), setup);
  });
})();
