(function () {
  "use strict";
  function cellKey(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (raw === "" || raw === "\u2013") { return null; }
    if (numeric) { var n = Number(raw); return isNaN(n) ? null : n; }
    return raw.toLowerCase();
  }
  function sortTable(table, th, index) {
    var numeric = th.getAttribute("data-kind") === "num";
    var current = th.getAttribute("aria-sort");
    var ascending = current ? current === "descending" : !numeric;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) { return [cellKey(row, index, numeric), i, row]; });
    keyed.sort(function (a, b) {
      if (a[0] === null && b[0] === null) { return a[1] - b[1]; }
      if (a[0] === null) { return 1; }
      if (b[0] === null) { return -1; }
      var c = numeric ? a[0] - b[0] : a[0].localeCompare(b[0]);
      if (c === 0) { return a[1] - b[1]; }
      return ascending ? c : -c;
    });
    keyed.forEach(function (k) { body.appendChild(k[2]); });
    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, th, index); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortTable(table, th, index);
        }
      });
    });
  });
})();
