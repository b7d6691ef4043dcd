// Sends the names on the page to this server's reconciliation service as one query batch (a POSTed form, as
// OpenRefine does) and shows each name's candidates; the text of the answer is set as text, never as HTML.
"use strict";

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  row.appendChild(td);
  return td;
}

async function reconcile(event) {
  event.preventDefault();
  const names = document.getElementById("reconcile-names").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const type = document.getElementById("reconcile-type").value;
  const place = document.getElementById("reconcile-place").value.trim();
  const queries = {};
  names.forEach((name, i) => {
    const query = { query: name, limit: 5 };
    if (type) query.type = type;
    if (place) query.properties = [{ pid: "place", v: place }];
    queries[`q${i}`] = query;
  });
  const table = document.getElementById("reconcile-results");
  const body = table.querySelector("tbody");
  const response = await fetch(document.getElementById("service-url").textContent, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ queries: JSON.stringify(queries) }),
  });
  body.replaceChildren();
  if (!response.ok) {
    const row = document.createElement("tr");
    cell(row, await response.text()).colSpan = 3;
    body.appendChild(row);
    table.hidden = false;
    return;
  }
  const results = await response.json();
  names.forEach((name, i) => {
    const candidates = results[`q${i}`].result;
    const row = document.createElement("tr");
    row.dataset.name = name;
    cell(row, name);
    const matched = candidates.find((c) => c.match);
    const badge = document.createElement("span");
    badge.className = matched ? "badge match" : "badge";
    badge.textContent = matched ? "match" : "no match";
    cell(row, badge);
    const list = document.createElement("ol");
    for (const candidate of candidates) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/" + candidate.id;
      link.textContent = candidate.name;
      link.dataset.id = candidate.id;
      if (candidate.match) link.className = "match";
      item.appendChild(link);
      item.append(` (${candidate.score}) `);
      const note = document.createElement("span");
      note.className = "muted";
      note.textContent = candidate.description;
      item.appendChild(note);
      list.appendChild(item);
    }
    cell(row, list);
    body.appendChild(row);
  });
  table.hidden = false;
  table.dataset.ready = "results";
}

window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("reconcile-form").addEventListener("submit", (event) => {
    reconcile(event).catch((error) => { console.error(error); });
  });
});
