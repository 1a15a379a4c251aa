"""Browser-rendered pages: each page's rows arrive by JavaScript after load.

A page is an empty table plus a script that fetches ``/api/pages/N/rows`` after a short,
page-dependent delay and renders the rows, then marks ``<body data-ready="1">``. A browser (or
Selenium) has to wait for the rows; a plain HTTP client sees none of them.
"""

from __future__ import annotations

import hashlib
import html

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>stresskit page {n} of {total}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
</style>
</head>
<body data-page="{n}" data-total="{total}" data-ready="0">
<h1 id="title">Page {n} of {total}</h1>
<table id="table"><thead><tr><th>id</th><th>name</th><th>value</th></tr></thead>
<tbody id="rows"></tbody></table>
<p id="status">loading…</p>
{next_link}
<script>
(function () {{
  var page = {n};
  setTimeout(function () {{
    fetch("/api/pages/" + page + "/rows")
      .then(function (r) {{ if (!r.ok) {{ throw new Error("rows: HTTP " + r.status); }} return r.json(); }})
      .then(function (data) {{
        var body = document.getElementById("rows");
        data.rows.forEach(function (row) {{
          var tr = document.createElement("tr");
          tr.className = "row";
          tr.setAttribute("data-id", row.id);
          ["id", "name", "value"].forEach(function (k) {{
            var td = document.createElement("td");
            td.className = "cell-" + k;
            td.textContent = row[k];
            tr.appendChild(td);
          }});
          body.appendChild(tr);
        }});
        document.getElementById("status").textContent = data.rows.length + " rows";
        document.body.setAttribute("data-ready", "1");
      }})
      .catch(function (err) {{
        document.getElementById("status").textContent = "error: " + err.message;
        document.body.setAttribute("data-ready", "error");
        throw err;
      }});
  }}, {delay_ms});
}})();
</script>
</body>
</html>
"""


def render_delay_ms(page: int) -> int:
    """The page-dependent delay (20–80 ms) before the page's script fetches its rows."""
    return 20 + (page * 37) % 61


def page_rows(page: int, count: int) -> list[dict[str, object]]:
    """The deterministic rows of ``page``: the same page always yields the same rows."""
    rows = []
    for i in range(count):
        digest = hashlib.blake2s(f"{page}:{i}".encode(), digest_size=4).hexdigest()
        rows.append({"id": page * 1000 + i, "name": f"row-{page}-{i}", "value": digest})
    return rows


def render_page(page: int, total: int) -> str:
    """The HTML of page ``page`` of ``total``, linking to the next page when there is one."""
    next_link = (
        f'<a id="next" href="/pages/{page + 1}">next</a>' if page < total else '<p id="last">last page</p>'
    )
    return PAGE_TEMPLATE.format(
        n=page, total=total, next_link=next_link, delay_ms=render_delay_ms(page)
    )


def render_index(total: int) -> str:
    """A small index page linking to the first page."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>stresskit pages</title></head>"
        f"<body><p>{html.escape(str(total))} pages</p><a id='first' href='/pages/1'>first page</a>"
        "</body></html>"
    )
