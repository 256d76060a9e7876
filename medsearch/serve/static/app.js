// medsearch page: plain JS, no build step, nothing loaded from elsewhere. All data is inserted as text.
"use strict";

const COLLECTION_KEY = "medsearch.collection";
const TITLE_KEY = "medsearch.collection.title";
const CASES_KEY = "medsearch.collection.cases";
const $ = (id) => document.getElementById(id);
let lastSearch = null;      // {kind: "text"|"image"|"similar", ...} re-run when filters change
let currentDetail = null;   // item shown in the detail dialog
let currentCase = null;     // case shown in the case view
let lastFile = null;        // the latest uploaded image: "Draft a report" and "Different diagnosis" use it
let modalityNames = {};     // modality code -> its name ("XR" -> "X-ray"), from /api/info's facets

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---- API calls: a 401 asks for the token once, trades it for a session cookie and retries ----
async function api(url, options = {}) {
  let response = await fetch(url, options);
  if (response.status === 401 && await askToken()) response = await fetch(url, options);
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// One dialog at a time: callers that meet a 401 meanwhile share its answer. Dismissed (Escape), it answers no,
// and is not shown again until the person searches again (the refusal is said in the status line).
let tokenAsked = null;
let tokenDismissed = false;

function askToken() {
  if (tokenDismissed) return Promise.resolve(false);
  if (tokenAsked) return tokenAsked;
  tokenAsked = new Promise((resolve) => {
    const dialog = $("token-dialog");
    const form = $("token-form");
    const finish = (ok) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      tokenAsked = null;
      tokenDismissed = !ok;
      resolve(ok);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      const r = await fetch("/api/session", {method: "POST", headers: {"Content-Type": "application/json"},
                                             body: JSON.stringify({token: $("token-input").value})});
      if (r.ok) { dialog.close(); finish(true); if (!infoLoaded) loadInfo(); }
      else $("token-error").textContent = "That token was not accepted.";
    };
    const onCancel = () => finish(false);
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
  });
  return tokenAsked;
}

// ---- filters ----
function filterQuery() {
  const p = new URLSearchParams();
  for (const name of ["modality", "split", "licence"]) {
    const v = $("f-" + name).value;
    if (v) p.set(name, v);
  }
  for (const box of document.querySelectorAll(".f-labels input:checked")) p.append("labels", box.value);
  return p;
}

function fillSelect(select, values) {
  for (const f of values) {
    select.append(el("option", {value: f.value, text: `${f.label || f.value} (${f.count})`}));
  }
}

let infoLoaded = false;     // /api/info answered (a dismissed token dialog leaves it to load after the token)

async function loadInfo() {
  try {
    const info = await (await api("/api/info")).json();
    infoLoaded = true;
    const c = info.counts;
    const counts = c.items != null ? `${c.items} items (${c.image ?? 0} images, ${c.text ?? 0} texts)`
      : Object.entries(c).map(([k, v]) => `${v} ${k}`).join(", ");
    $("index-info").textContent = `model ${info.model} · ${counts}`;
    if (info.targets.length) {
      for (const option of $("target").options) option.disabled = !info.targets.includes(option.value);
      if (!info.targets.includes($("target").value)) $("target").value = info.targets[0];
    } else {  // nothing indexed yet (a server may start before its first index run ends): say so, keep the choices
      $("status").textContent = "This index is empty: nothing has been indexed into it yet. Searches find items " +
        "as soon as an indexing run (medsearch index) has added them.";
    }
    fillSelect($("f-modality"), info.facets.modality);
    modalityNames = Object.fromEntries(info.facets.modality.filter((f) => f.label).map((f) => [f.value, f.label]));
    fillSelect($("f-split"), info.facets.split);
    fillSelect($("f-licence"), info.facets.licence);
    // clinically useful facets: named findings and body regions (a name filters on every code it stands for),
    // then the archive's other plain labels (not concept codes, not UMLS semantic-type buckets)
    const groups = {findings: info.facets.findings || [], body_regions: info.facets.body_regions || [],
                    labels: info.facets.labels.filter((f) => isPlain(f.value))};
    for (const [name, values] of Object.entries(groups)) {
      $("f-" + name).closest("fieldset").hidden = values.length === 0;
      for (const f of values.slice(0, 40)) {
        const box = el("input", {type: "checkbox", value: f.value});
        box.addEventListener("change", rerun);
        $("f-" + name).append(el("label", {}, box, ` ${f.label || f.value} (${f.count})`));
      }
    }
  } catch (err) {
    $("index-info").textContent = "index information unavailable: " + err.message;
  }
}

// ---- searches ----
function upload(url, file) {
  return api(url, {method: "POST", body: file, headers: {"Content-Type": file.type || "application/octet-stream"}});
}

let searchSeq = 0;          // only the latest search may fill the results (an older, slower answer is dropped)

async function run(search) {
  lastSearch = search;
  const seq = ++searchSeq;
  const params = filterQuery();
  const grouped = $("group-case").checked && (search.kind === "text" || search.kind === "image");
  const diverse = $("diverse").checked;
  params.set("k", grouped || search.kind === "differential" ? "12" : "24");
  params.set("target", $("target").value);
  $("status").textContent = "Searching…";
  $("draft").hidden = true;
  try {
    let response;
    if (search.kind === "text") {
      params.set("q", search.q);
      shareableUrl(search.q);
      response = await api((grouped ? "/api/cases?" : diverse ? "/api/diverse?" : "/api/search?") + params);
    } else if (search.kind === "image") {
      lastFile = search.file;
      $("draft-button").disabled = $("differential-button").disabled = false;
      response = await upload((grouped ? "/api/cases/image?" : diverse ? "/api/diverse/image?" : "/api/search/image?") + params, search.file);
    } else if (search.kind === "differential") {
      const diagnosis = $("diagnosis").value.trim();  // differ from this one (default: the nearest case's)
      if (diagnosis) params.set("diagnosis", diagnosis);
      response = search.file ? await upload("/api/different-diagnosis?" + params, search.file)
        : await api(`/api/items/${search.itemId}/different-diagnosis?` + params);
    } else {
      response = await api(`/api/items/${search.itemId}/similar?` + params);
    }
    const data = await response.json();
    if (seq !== searchSeq) return;
    if (grouped || search.kind === "differential") showCases(search, data);
    else showResults(search, data);
  } catch (err) {
    if (seq !== searchSeq) return;
    // a reference case with no diagnosis: the page's way to name one is the box under "Different diagnosis"
    const named = search.kind === "differential" && /no diagnosis or labels to differ from/.test(err.message);
    $("status").textContent = named
      ? err.message.replace(/ — .*$/, "") + ": type the diagnosis to differ from in the box under “Different diagnosis”."
      : "Error: " + err.message;
    $("results").replaceChildren();
  }
}

function rerun() { if (lastSearch) run(lastSearch); }

// ---- shareable links: /?q=WORDS[&target=images|reports] runs that search; a text search updates the address ----
const TARGETS = {image: "image", images: "image", text: "text", texts: "text", report: "text", reports: "text"};

function shareableUrl(q) {
  const p = new URLSearchParams({q});
  if ($("target").value !== "image") p.set("target", $("target").value);
  history.replaceState(null, "", "?" + p);
}

function searchFromUrl() {
  const p = new URLSearchParams(location.search);
  const target = TARGETS[(p.get("target") || "").toLowerCase()];
  if (target && ![...$("target").options].find((o) => o.value === target)?.disabled) $("target").value = target;
  const q = (p.get("q") || "").trim();
  if (q) { $("q").value = q; run({kind: "text", q}); }
}

function describe(search) {
  if (search.kind === "text") return `“${search.q}”`;
  if (search.kind === "image") return `the image ${search.file.name}`;
  if (search.kind === "differential") return search.file ? `the image ${search.file.name}` : `case ${search.label}`;
  return `item ${search.itemId} (more like this)`;
}

// "No images found for ..." with the server's reasons (a filter value no item has), when nothing was found
function emptyStatus(what, search, data) {
  const notices = data.notices || [];
  return `No ${what} found for ${describe(search)}` + (notices.length ? ": " + notices.join("; ") : "") + ".";
}

function showResults(search, data) {
  const what = data.target === "image" ? "images" : "reports";
  $("status").textContent = data.results.length ? `${data.results.length} ${what} for ${describe(search)}`
    : emptyStatus(what, search, data);
  $("results").replaceChildren(...data.results.map(card));
}

function showCases(search, data) {
  if (search.kind === "differential") {
    const reference = data.reference_diagnosis || (data.reference_labels || []).join(", ") || "unknown";
    $("status").textContent = `${data.results.length} look-alike cases for ${describe(search)} with a diagnosis other than “${reference}” (${data.reference_source})`;
  } else {
    $("status").textContent = data.results.length ? `${data.results.length} cases for ${describe(search)}`
      : emptyStatus("cases", search, data);
  }
  $("results").replaceChildren(...data.results.map(caseCard));
}

function caseCard(hit) {
  const strip = el("div", {class: "strip"}, ...hit.items.filter((i) => i.thumbnail_url).slice(0, 3).map((i) =>
    el("img", {src: i.thumbnail_url + "?size=256", alt: i.key, loading: "lazy"})));
  const title = hit.title || hit.diagnosis || hit.case;
  const findings = hit.sections.findings || (hit.items[0] && hit.items[0].snippet) || "";
  return el("article", {class: "card case-card", "data-case": hit.case},
    strip,
    el("div", {class: "body"},
      el("div", {class: "top"}, el("span", {text: `#${hit.rank} · case ${hit.case} · ${hit.n_items} item(s)`}),
         el("span", {class: "score", text: hit.score.toFixed(3)})),
      el("h3", {text: title}),
      hit.diagnosis && hit.diagnosis !== title ? el("p", {class: "muted small", text: "Diagnosis: " + hit.diagnosis}) : "",
      el("p", {class: "snippet", text: findings}),
      labelsNode(hit),
      el("p", {class: "licence", text: "Licence: " + (caseLicence(hit) || "unknown")}),
      el("div", {class: "row"},
        el("button", {type: "button", class: "open-case", text: "Open case", onclick: () => openCase(hit.archive, hit.case)}),
        el("button", {type: "button", class: "add-case", text: caseInCollection(hit.archive, hit.case) ? "In collection" : "Add case",
                      onclick: (e) => { addCase(hit); e.target.textContent = "In collection"; }}))));
}

// ---- case view ----
const SECTION_TITLES = {history: "History", exam: "Exam", findings: "Findings", differential: "Differential diagnosis",
                        diagnosis: "Diagnosis", discussion: "Discussion", impression: "Impression", indication: "Indication"};

async function openCase(archive, caseKey) {
  try {
    const view = await (await api("/api/case?" + new URLSearchParams({archive, case: caseKey}))).json();
    currentCase = view;
    $("case-title").textContent = `${view.title || view.diagnosis || view.case} (case ${view.case}, ${view.archive})`;
    $("case-diagnosis").textContent = view.diagnosis ? "Diagnosis: " + view.diagnosis : "";
    $("case-strip").replaceChildren(...view.items.map((item) => el("figure", {"data-item-id": String(item.item_id)},
      item.thumbnail_url ? el("img", {src: item.thumbnail_url + "?size=256", alt: item.key, onclick: () => { $("case-view").close(); openDetail(item.item_id); }})
        : el("div", {class: "noimg", text: "report only"}),
      el("figcaption", {text: [item.metadata.plane, item.modality, item.snippet].filter(Boolean).join(" · ")}))));
    $("case-sections").replaceChildren(...Object.entries(view.sections).flatMap(([name, text]) =>
      [el("dt", {text: SECTION_TITLES[name] || name}), el("dd", {text})]));
    $("case-licence").textContent = "Licence: " + (caseLicence(view) || "unknown");
    $("case-add").textContent = caseInCollection(view.archive, view.case) ? "In collection" : "Add case to collection";
    $("case-differential").disabled = !view.items.some((i) => i.has_image);
    if ($("detail").open) $("detail").close();
    $("case-view").showModal();
  } catch (err) {
    $("status").textContent = "Error: " + err.message;
  }
}

// ---- report draft from the uploaded image ----
async function draftReport() {
  if (!lastFile) return;
  $("status").textContent = "Drafting…";
  try {
    const data = await (await upload("/api/draft?" + filterQuery(), lastFile)).json();
    showDraft(data);
    $("status").textContent = data.status === "ok" ? `Draft for the image ${lastFile.name} from ${data.citations.length} similar case(s)` : data.message;
  } catch (err) {
    $("status").textContent = "Error: " + err.message;
  }
}

function showDraft(data) {
  const box = $("draft");
  const parts = [el("h2", {text: "Report draft (every sentence is quoted from the case it cites)"})];
  if (data.status !== "ok") {
    parts.push(el("p", {class: "refused", text: data.message}));
  } else {
    if (!data.findings.length && !data.impression.length) parts.push(el("p", {class: "refused", text: data.message}));
    for (const [title, sentences] of [["Findings", data.findings], ["Impression", data.impression]]) {
      if (!sentences.length) continue;
      parts.push(el("h3", {text: title}), el("ul", {class: title.toLowerCase()}, ...sentences.map((s) => el("li", {"data-assertion": s.assertion},
        el("span", {class: "sentence", text: s.text}),
        el("span", {class: "cite", text: `[${[s.citation, ...s.supported_by].join(", ")}]`}),
        s.assertion !== "asserted" ? el("span", {class: "mark", text: s.assertion}) : ""))));
    }
    parts.push(el("h3", {text: "Sources"}), el("ol", {class: "sources"}, ...data.citations.map((c) => el("li", {},
      el("span", {text: `${c.archive}/${c.case}${c.diagnosis ? " — " + c.diagnosis : ""} · similarity ${c.score.toFixed(3)} · licence: ${c.licence || "not stated"} `}),
      el("button", {type: "button", class: "open-case", text: "Open case", onclick: () => openCase(c.archive, c.case)})))));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

// Concept codes (UMLS CUIs such as C0032326) show by their names (hit.concepts, from the server's vocabulary);
// the codes themselves and UMLS semantic types ("T047:Disease or Syndrome") are not shown as chips.
const isCode = (label) => /^C\d{7}$/.test(label);
const isPlain = (label) => !isCode(label) && !/^T\d{3}:/.test(label);

function chips(item) {
  const names = item.concepts || [];
  const lower = new Set(names.map((n) => n.toLowerCase()));
  return [...names, ...item.labels.filter((l) => isPlain(l) && !lower.has(l.toLowerCase()))];
}

function labelsNode(hit) {
  return el("p", {class: "labels"}, ...chips(hit).slice(0, 4).map((l) => el("span", {text: l})));
}

// The snippet with the query's matched terms in <mark> (spans from the server; text nodes only, never HTML).
function snippetNode(hit) {
  const text = hit.snippet || hit.key;
  const p = el("p", {class: "snippet"});
  let last = 0;
  for (const [a, b] of (hit.highlights || []).slice().sort((x, y) => x[0] - y[0])) {
    if (a < last || b > text.length) continue;
    p.append(document.createTextNode(text.slice(last, a)), el("mark", {text: text.slice(a, b)}));
    last = b;
  }
  p.append(document.createTextNode(text.slice(last)));
  const negated = Object.entries(hit.assertion || {}).filter(([, s]) => s !== "asserted" && s !== "absent");
  if (negated.length) p.title = negated.map(([f, s]) => `${f}: ${s}`).join("; ");
  return p;
}

// Why a text search found the hit: which ranking found it, the query's words in its text, and the text's status
// for each finding of the query (negated, uncertain, ...), shown on the card, not only in a tooltip.
const STATUS_WORDS = {asserted: "stated", negated: "negated", uncertain: "uncertain", historical: "history",
                      absent: "not mentioned"};

function whyNode(hit) {
  if (!hit.mode) return "";
  const via = hit.lexical_score == null ? "by meaning" : hit.dense_score == null ? "by words" : "by words and meaning";
  const parts = [el("span", {class: "via", text: via})];
  if (hit.matched_terms && hit.matched_terms.length) {
    parts.push(el("span", {class: "terms", text: "matched: " + hit.matched_terms.join(", ")}));
  }
  for (const [finding, status] of Object.entries(hit.assertion || {})) {
    parts.push(el("span", {class: "finding", "data-status": status,
                           text: `${finding}: ${STATUS_WORDS[status] || status}`}));
  }
  return el("p", {class: "why"}, ...parts);
}

function modalityName(code) { return code ? modalityNames[code] || code : ""; }

function card(hit) {
  const picture = hit.thumbnail_url
    ? el("img", {src: hit.thumbnail_url + "?size=256", alt: hit.key, loading: "lazy"})
    : el("div", {class: "noimg", text: "report only"});
  const addButton = el("button", {type: "button", class: "add", text: inCollection(hit.item_id) ? "In collection" : "Add to collection"});
  addButton.addEventListener("click", async () => { await addToCollection(hit.item_id); addButton.textContent = "In collection"; });
  return el("article", {class: "card", "data-item-id": String(hit.item_id)},
    picture,
    el("div", {class: "body"},
      el("div", {class: "top"}, el("span", {text: [`#${hit.rank}`, modalityName(hit.modality)].filter(Boolean).join(" · ")}),
         el("span", {class: "score", text: hit.score.toFixed(3)})),
      snippetNode(hit),
      whyNode(hit),
      labelsNode(hit),
      el("p", {class: "licence", text: "Licence: " + (hit.licence || "unknown")}),
      el("div", {class: "row"},
        el("button", {type: "button", class: "details", text: "Details", onclick: () => openDetail(hit.item_id)}),
        el("button", {type: "button", class: "similar", text: "More like this", onclick: () => run({kind: "similar", itemId: hit.item_id})}),
        addButton)));
}

// ---- item detail ----
async function openDetail(itemId) {
  try {
    const item = await (await api(`/api/items/${itemId}`)).json();
    currentDetail = item;
    const img = $("detail-image");
    img.hidden = !item.thumbnail_url;
    if (item.thumbnail_url) { img.src = item.thumbnail_url + "?size=512"; img.alt = item.key; }
    $("detail-key").textContent = `${item.key} (${item.archive || "archive"})`;
    $("detail-licence").textContent = "Licence: " + (item.licence || "unknown");
    $("detail-labels").replaceChildren(...chips(item).map((l) => el("span", {text: l})));
    $("detail-text").textContent = item.text;
    const rows = Object.entries({modality: item.modality, split: item.split, ...item.metadata})
      .filter(([, v]) => v !== null && v !== "" && v !== undefined)
      .map(([k, v]) => el("tr", {}, el("td", {text: k}), el("td", {text: typeof v === "object" ? JSON.stringify(v) : String(v)})));
    $("detail-meta").replaceChildren(...rows);
    $("detail-add").textContent = inCollection(item.item_id) ? "In collection" : "Add to collection";
    $("detail-case").hidden = $("detail-case-info").hidden = true;
    $("detail").showModal();
    if (!item.case) return;  // it belongs to no case: nothing to ask for
    try {
      const view = await (await api(`/api/items/${itemId}/case`)).json();
      $("detail-case-info").textContent = `Case ${view.case}${view.diagnosis ? " · " + view.diagnosis : ""} · ${view.items.length} item(s)`;
      $("detail-case").hidden = $("detail-case-info").hidden = false;
      $("detail-case").onclick = () => openCase(view.archive, view.case);
    } catch (_) { /* the item belongs to no case */ }
  } catch (err) {
    $("status").textContent = "Error: " + err.message;
  }
}

// ---- collection (localStorage) ----
function collection() {
  try { return JSON.parse(localStorage.getItem(COLLECTION_KEY)) || []; } catch (_) { return []; }
}
function saveCollection(items) { localStorage.setItem(COLLECTION_KEY, JSON.stringify(items)); renderCollection(); }
function inCollection(itemId) { return collection().some((e) => e.item_id === itemId); }

async function addToCollection(itemId) {
  if (inCollection(itemId)) return;
  const item = await (await api(`/api/items/${itemId}`)).json();
  const entry = {item_id: item.item_id, key: item.key, archive: item.archive, text: item.text, labels: item.labels,
                 licence: item.licence, modality: item.modality, attribution: item.attribution, note: ""};
  saveCollection([...collection(), entry]);
}

function caseCollection() {
  try { return JSON.parse(localStorage.getItem(CASES_KEY)) || []; } catch (_) { return []; }
}
function saveCases(cases) { localStorage.setItem(CASES_KEY, JSON.stringify(cases)); renderCollection(); }
function caseInCollection(archive, caseKey) { return caseCollection().some((e) => e.archive === archive && e.case === caseKey); }
// A case's licence: its own, else its items' (a PMC article states none; its figures do)
function caseLicence(c) {
  return c.licence || [...new Set((c.items || []).map((i) => i.licence).filter(Boolean))].join("; ") || null;
}

function addCase(c) {
  if (caseInCollection(c.archive, c.case)) return;
  saveCases([...caseCollection(), {archive: c.archive, case: c.case, title: c.title, diagnosis: c.diagnosis,
                                   licence: caseLicence(c), note: ""}]);
}

// The remove button and note box of entry ``i`` of a collection list (``read``/``save``: that list's storage), named
// for screen readers by ``name`` (an item's key, "case PMC1")
function entryControls(entry, i, name, read, save) {
  const note = el("input", {type: "text", placeholder: "note for the teaching file", value: entry.note || "",
                            "aria-label": `note on ${name} for the teaching file`});
  note.addEventListener("change", () => { const all = read(); all[i].note = note.value; save(all); });
  const remove = el("button", {type: "button", class: "remove", text: "×", "aria-label": `remove ${name}`});
  remove.addEventListener("click", () => save(read().filter((_, j) => j !== i)));
  return [remove, note];
}

function caseEntries() {
  return caseCollection().map((entry, i) => el("li", {class: "case-entry", "data-case": entry.case},
    el("span", {text: [entry.case, entry.title || entry.diagnosis, entry.licence || "licence unknown"].filter(Boolean).join(" · ")}),
    ...entryControls(entry, i, `case ${entry.case}`, caseCollection, saveCases)));
}

function renderCollection() {
  const items = collection();
  const cases = caseCollection();
  $("collection-count").textContent = String(items.length + cases.length);
  $("collection-list").replaceChildren(...caseEntries(), ...items.map((entry, i) => el("li", {"data-item-id": String(entry.item_id)},
    el("span", {text: `${entry.key} · ${entry.licence || "licence unknown"}`}),
    ...entryControls(entry, i, entry.key, collection, saveCollection))));
  for (const id of ["export-json", "export-html", "clear-collection"]) $(id).disabled = items.length + cases.length === 0;
}

function download(blob, filename) {
  const a = el("a", {href: URL.createObjectURL(blob), download: filename});
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function exportJson() {
  const body = {title: $("collection-title").value, exported: new Date().toISOString(), items: collection(),
                cases: caseCollection()};
  download(new Blob([JSON.stringify(body, null, 2)], {type: "application/json"}), "collection.json");
}

async function exportHtml() {
  const items = collection();
  const cases = caseCollection();
  const notes = Object.fromEntries(items.filter((e) => e.note).map((e) => [e.item_id, e.note]));
  try {
    if (cases.length) {
      for (const c of cases.filter((c) => c.note)) notes[c.case] = c.note;
      const response = await api("/api/export/cases/html", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({cases: cases.map((c) => ({archive: c.archive, case: c.case})), item_ids: items.map((e) => e.item_id),
                              title: $("collection-title").value || "Teaching file", notes})});
      download(await response.blob(), "teaching-file.html");
      return;
    }
    const response = await api("/api/export/html", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({item_ids: items.map((e) => e.item_id), title: $("collection-title").value || "Teaching file", notes})});
    download(await response.blob(), "teaching-file.html");
  } catch (err) {
    $("status").textContent = "Export failed: " + err.message;
  }
}

// ---- wiring ----
function searchFile(file) { tokenDismissed = false; if (file) run({kind: "image", file}); }

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("q").value.trim();
    tokenDismissed = false;  // the person acts again: a needed token may be asked for again
    if (q) run({kind: "text", q});
  });
  $("target").addEventListener("change", rerun);
  for (const name of ["modality", "split", "licence"]) $("f-" + name).addEventListener("change", rerun);
  $("clear-filters").addEventListener("click", () => {
    for (const name of ["modality", "split", "licence"]) $("f-" + name).value = "";
    for (const box of document.querySelectorAll(".f-labels input")) box.checked = false;
    rerun();
  });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); searchFile(e.dataTransfer.files[0]); });
  $("choose-file").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => { searchFile(e.target.files[0]); e.target.value = ""; });
  $("detail-similar").addEventListener("click", () => { $("detail").close(); run({kind: "similar", itemId: currentDetail.item_id}); });
  $("detail-add").addEventListener("click", async () => { await addToCollection(currentDetail.item_id); $("detail-add").textContent = "In collection"; });
  $("export-json").addEventListener("click", exportJson);
  $("export-html").addEventListener("click", exportHtml);
  $("clear-collection").addEventListener("click", () => { saveCases([]); saveCollection([]); });
  $("group-case").addEventListener("change", rerun);
  $("diverse").addEventListener("change", rerun);
  $("draft-button").addEventListener("click", draftReport);
  $("differential-button").addEventListener("click", () => { if (lastFile) run({kind: "differential", file: lastFile}); });
  $("case-add").addEventListener("click", () => { if (currentCase) { addCase(currentCase); $("case-add").textContent = "In collection"; } });
  $("case-differential").addEventListener("click", () => {
    const first = currentCase && currentCase.items.find((i) => i.has_image);
    if (!first) return;
    $("case-view").close();
    run({kind: "differential", itemId: first.item_id, label: currentCase.case});
  });
  $("collection-title").value = localStorage.getItem(TITLE_KEY) || $("collection-title").value;
  $("collection-title").addEventListener("change", () => localStorage.setItem(TITLE_KEY, $("collection-title").value));
  renderCollection();
  loadInfo().then(searchFromUrl);
});
