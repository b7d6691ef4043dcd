// The query page: YASGUI on this server's /sparql when its assets are installed, else a plain form whose results
// this script draws as a table. Named queries load into the editor from the page's own <pre> elements.
(function () {
  "use strict";

  const root = document.getElementById("query-ui");
  if (!root) {
    return;
  }
  const endpoint = new URL(root.dataset.endpoint, window.location.href).href;
  const form = document.getElementById("query-form");
  const textarea = document.getElementById("query-text");
  const output = document.getElementById("query-result");
  let yasgui = null;

  function startYasgui() {
    const Yasgui = window.Yasgui;
    // Nothing may leave this server: YASQE's "property" and "class" autocompleters ask Linked Open Vocabularies
    // over the network as one types, and the endpoint catalogue offers remote endpoints. Prefix completion reads
    // this server's predefined prefixes (prefix.cc is never asked). The autocompleter list is set on the defaults
    // because YASGUI merges a config's arrays index by index, so a shorter list would not remove entries.
    Yasgui.Yasqe.defaults.autocompleters = ["variables", "prefixes"];
    Yasgui.Yasqe.defaults.prefixCcApi = new URL(root.dataset.prefixes, window.location.href).href;
    const catalogue = () => [{ endpoint: endpoint }];
    Yasgui.defaults.endpointCatalogueOptions.getData = catalogue;
    Yasgui.defaults.requestConfig.endpoint = endpoint;
    return new Yasgui(document.getElementById("yasgui"), {
      requestConfig: { endpoint: endpoint, method: "POST" },
      endpointCatalogueOptions: { getData: catalogue },
      copyEndpointOnNewTab: true,
      corsProxy: undefined,
      persistenceId: "makerkg-query",
      autofocus: false,
    });
  }

  if (root.dataset.editor === "yasgui") {
    if (typeof window.Yasgui === "function") {
      yasgui = startYasgui();
      form.hidden = true;
      root.dataset.ready = "yasgui";
    } else {
      const notice = document.createElement("p");
      notice.className = "notice";
      notice.textContent = "The query editor could not be loaded; a plain form is shown instead.";
      root.prepend(notice);
    }
  }
  if (!yasgui) {
    root.dataset.ready = "form";
  }

  function load(name, title) {
    const source = document.getElementById("query-" + name);
    if (!source) {
      return;
    }
    const text = source.textContent;
    if (yasgui) {
      const tab = yasgui.getTab();
      tab.setEndpoint(endpoint);
      tab.setQuery(text);
      tab.setName(title);
      const yasqe = tab.getYasqe();
      if (yasqe) {
        yasqe.focus();
      }
    } else {
      textarea.value = text;
      textarea.focus();
    }
    root.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  for (const button of document.querySelectorAll("button.load-query")) {
    const item = button.closest(".named-query");
    const title = item ? item.querySelector("h3").textContent : button.dataset.query;
    button.addEventListener("click", () => load(button.dataset.query, title));
  }

  function cell(row, tag, text) {
    const element = document.createElement(tag);
    element.textContent = text;
    row.appendChild(element);
  }

  function draw(result) {
    output.replaceChildren();
    if (typeof result.boolean === "boolean") {
      const answer = document.createElement("p");
      answer.textContent = "ASK: " + result.boolean;
      output.appendChild(answer);
      return;
    }
    const variables = result.head.vars;
    const bindings = result.results.bindings;
    const count = document.createElement("p");
    count.className = "muted";
    count.textContent = bindings.length + (bindings.length === 1 ? " row" : " rows");
    output.appendChild(count);
    const table = document.createElement("table");
    table.className = "results";
    const head = table.createTHead().insertRow();
    for (const name of variables) {
      cell(head, "th", name);
    }
    const body = table.createTBody();
    for (const binding of bindings) {
      const row = body.insertRow();
      for (const name of variables) {
        cell(row, "td", binding[name] ? binding[name].value : "");
      }
    }
    output.appendChild(table);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    output.textContent = "Running …";
    try {
      // JSON results become a table; another chosen format (or a graph, as Turtle) is shown as text
      const body = new URLSearchParams({ query: textarea.value });
      const format = form.elements.namedItem("format").value;
      if (format !== "json") {
        body.set("format", format);
      }
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { Accept: "application/sparql-results+json, text/turtle;q=0.9" },
        body: body,
      });
      const text = await response.text();
      if (!response.ok) {
        output.textContent = text;
        return;
      }
      if ((response.headers.get("Content-Type") || "").startsWith("application/sparql-results+json")) {
        draw(JSON.parse(text));
      } else {
        const graph = document.createElement("pre");
        graph.className = "source";
        graph.textContent = text;
        output.replaceChildren(graph);
      }
    } catch (error) {
      output.textContent = "The query failed: " + error;
    }
  });
})();
