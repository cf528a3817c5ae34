// The explorer: a single page over the /v1 API. Routes live in the URL's fragment:
//   #/search?q=…&lang=…   #/record/<id>   #/contributor/<key>   #/stats
// Every value from the API is put in the page as text (never as markup).
"use strict";

const view = document.getElementById("view");
const keyInput = document.getElementById("key");
keyInput.value = localStorage.getItem("masa-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("masa-key", keyInput.value.trim());
  route();
});

const FILTERS = ["lang", "source", "contributor", "licence", "min_quality", "sort"];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path) {
  const headers = {};
  const key = keyInput.value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(path, { headers });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

function failure(e) {
  view.replaceChildren(el("p", { class: "error", id: "error" }, e.message));
}

const time = (micros) => new Date(micros / 1000).toISOString().replace(".000Z", "Z");
const short = (key) => `${key.slice(0, 12)}…`;
const hashOf = (path, params) => {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  return `#/${path}${q.toString() ? `?${q}` : ""}`;
};

// A snippet with its highlights: byte ranges of the UTF-8 text, marked.
function snippet(text, ranges) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const out = el("p", { class: "snippet" });
  let at = 0;
  for (const [start, end] of ranges) {
    out.append(dec.decode(bytes.subarray(at, start)), el("mark", {}, dec.decode(bytes.subarray(start, end))));
    at = end;
  }
  out.append(dec.decode(bytes.subarray(at)));
  return out;
}

async function searchPage(params) {
  const form = el("form", { id: "search-form" },
    el("input", { name: "q", id: "q", placeholder: "tantivy query: words, \"a phrase\", title:word", value: params.q || "" }),
    ...FILTERS.map((f) => el("input", { name: f, placeholder: f, value: params[f] || "", size: f === "contributor" ? 20 : 8 })),
    el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = Object.fromEntries(new FormData(form));
    location.hash = hashOf("search", p);
  });
  view.replaceChildren(form);
  if (!params.q) return;
  const q = new URLSearchParams({ q: params.q, limit: "20", facets: "true" });
  for (const f of [...FILTERS, "cursor"]) if (params[f]) q.set(f, params[f]);
  const answer = await api(`/v1/search?${q}`);
  const facets = el("aside", { id: "facets" });
  for (const [field, counts] of Object.entries(answer.facets || {})) {
    if (!counts.length) continue;
    facets.append(el("h3", {}, field), el("ul", {}, ...counts.map((c) =>
      el("li", {}, el("a", { href: hashOf("search", { ...params, cursor: "", [field]: c.value }) },
        field === "contributor" ? short(c.value) : c.value), ` ${c.count}`))));
  }
  const results = el("ol", { id: "results" }, ...answer.hits.map((h) => el("li", { class: "hit" },
    el("a", { href: `#/record/${h.record_id}`, class: "title" }, h.title || "(untitled)"),
    el("div", { class: "uri" }, h.uri),
    snippet(h.snippet, h.highlights),
    el("div", { class: "meta" },
      el("a", { href: `#/contributor/${h.contributor}` }, short(h.contributor)),
      ` · ${h.source} · ${h.lang || "-"} · ${h.licence || "no licence"} · quality ${h.quality ?? "-"} · ${time(h.fetched_at_micros)}`))));
  const footer = el("p", { class: "meta" },
    `${answer.hits.length} hits at table version ${answer.table_version} in ${answer.took_micros} µs `);
  if (answer.next_cursor) {
    footer.append(el("a", { id: "next", href: hashOf("search", { ...params, cursor: answer.next_cursor }) }, "next page"));
  }
  view.append(el("div", { class: "columns" }, facets, el("section", {}, results, footer)));
}

async function recordPage(id, params) {
  const { record: r, proof } = await api(`/v1/records/${encodeURIComponent(id)}`);
  const result = el("span", { id: "verify-result" });
  const button = el("button", {
    id: "verify",
    onclick: async () => {
      result.className = "";
      result.textContent = "checking…";
      try {
        const v = await proofs.verify(proof);
        result.className = "ok";
        result.textContent = `verified: row ${v.row} of batch ${v.batch} is leaf ${v.logIndex} of a log of ${v.logSize}, root ${v.root.slice(0, 16)}…, signed by ${v.signers.map(short).join(", ")}`;
      } catch (e) {
        result.className = "fail";
        result.textContent = `verification failed: ${e.message}`;
      }
    },
  }, "Verify");
  const rows = [
    ["uri", r.uri], ["source", r.source], ["language", `${r.lang || "-"} (${r.lang_score ?? "-"})`],
    ["quality", r.quality_score ?? "-"], ["licence", r.licence || "none recorded"],
    ["fetched", time(r.fetched_at_micros)], ["batch", `${r.batch_id} row ${r.row_in_batch}`],
    ["content hash", r.content_hash], ["near duplicate of", r.near_dup_of || "-"],
  ];
  view.replaceChildren(
    el("h2", {}, r.title || "(untitled)"),
    el("table", { class: "fields" },
      el("tr", {}, el("th", {}, "contributor"), el("td", {}, el("a", { href: `#/contributor/${r.contributor}` }, r.contributor))),
      ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    el("h3", {}, "Provenance"),
    el("p", {}, `Leaf ${proof.log_index} of log ${proof.origin}. `, button, " ", result),
    el("h3", {}, "Consent evidence"),
    el("pre", {}, JSON.stringify(r.consent, null, 2)),
    el("h3", {}, "Text"),
    el("pre", { class: "text", id: "text" }, r.text));
  if (params.verify) button.click();
}

async function contributorPage(key) {
  const c = await api(`/v1/contributors/${encodeURIComponent(key)}`);
  view.replaceChildren(
    el("h2", {}, `Contributor ${short(c.key)}`),
    el("table", { class: "fields" },
      ...[["key", c.key], ["records", c.records], ["text bytes", c.text_bytes], ["rewards", c.rewards],
        ["balance", c.balance], ["stake", JSON.stringify(c.stake)]]
        .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    el("h3", {}, "Rewards by epoch"),
    c.epochs.length
      ? el("table", {}, ...c.epochs.map(([n, a]) => el("tr", {}, el("td", {}, `epoch ${n}`), el("td", {}, a))))
      : el("p", {}, "no epoch has paid it yet"),
    el("p", {}, el("a", { href: hashOf("search", { q: "*", contributor: c.key }) }, "its records")));
}

// Charts as inline SVG: the dataset's growth by commit, and drops by reason.
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function growthChart(batches) {
  const w = 480, h = 160;
  let total = 0;
  const points = batches.map((b) => (total += b.records));
  const max = Math.max(1, total);
  const xy = points.map((v, i) => `${(i + 1) * w / Math.max(1, points.length)},${h - v * h / max}`);
  return svg("svg", { viewBox: `0 -10 ${w} ${h + 20}`, class: "chart", id: "growth" },
    svg("polyline", { points: `0,${h} ${xy.join(" ")}`, fill: "none", stroke: "currentColor" }),
    svg("text", { x: 4, y: 4 }, `${total} records after ${points.length} batches`));
}

function dropsChart(drops) {
  const entries = Object.entries(drops).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return svg("svg", { viewBox: `0 0 480 ${20 * entries.length + 4}`, class: "chart", id: "drops" },
    ...entries.flatMap(([reason, n], i) => [
      svg("rect", { x: 180, y: 20 * i + 4, width: 290 * n / max, height: 14 }),
      svg("text", { x: 0, y: 20 * i + 15 }, `${reason} ${n}`)]));
}

async function statsPage() {
  const s = await api("/v1/stats");
  view.replaceChildren(
    el("h2", {}, "Dataset"),
    el("table", { class: "fields" }, ...[["location", s.dataset], ["table version", s.table_version], ["records", s.records],
      ["text bytes", s.text_bytes], ["data files", s.data_files], ["commits", s.commits], ["removed by dedup", s.removed_by_dedup]]
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v ?? "-")))),
    el("h3", {}, "Growth"), growthChart(s.batches),
    el("h3", {}, "Dropped before they became records"),
    Object.keys(s.drops).length ? dropsChart(s.drops) : el("p", {}, "nothing dropped"));
}

async function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  const [page, arg] = path.split("/");
  try {
    if (page === "record") await recordPage(decodeURIComponent(arg), params);
    else if (page === "contributor") await contributorPage(decodeURIComponent(arg));
    else if (page === "stats") await statsPage();
    else await searchPage(params);
    document.body.dataset.loaded = location.hash;
  } catch (e) {
    failure(e);
  }
}

window.addEventListener("hashchange", route);
route();
