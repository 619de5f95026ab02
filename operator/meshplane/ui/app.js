// Meshplane catalog UI: plain DOM, no build step. Everything shown is built with
// createElement/textContent — never innerHTML — so product metadata cannot inject markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const main = () => document.getElementById("main");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  append(node, children);
  return node;
}

function show(...children) {
  const m = main();
  m.replaceChildren();
  append(m, children);
}

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const failure = (e) => el("p", { class: "error", role: "alert" }, e.message);
const badge = (text, cls) => el("span", { class: `badge ${cls || ""}` }, text);
const productLink = (id, text) => el("a", { href: `#/product/${id}` }, text || id);

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))));
}

function summaryBadges(p) {
  return [
    badge(p.classification, p.classification),
    p.hasPii ? badge("PII", "pii") : null,
    (p.complianceTags || []).map((t) => badge(t)),
    p.ready === true ? badge("Ready", "ok") : p.ready === false ? badge("not ready", "bad") : null,
  ];
}

// ---- search ---------------------------------------------------------------------------

const FILTERS = {
  domain: null,
  classification: ["", "public", "internal", "confidential", "restricted"],
  compliance: null,
  pii: ["", "true", "false"],
  source: ["", "kafka", "cdc", "batch", "products"],
};

function searchForm(params) {
  const input = el("input", { type: "search", name: "q", placeholder: "Search products, fields, owners, tags…", value: params.get("q") || "", "aria-label": "search" });
  const controls = Object.entries(FILTERS).map(([name, options]) => options
    ? el("select", { name, "aria-label": name }, options.map((o) => el("option", { value: o, selected: params.get(name) === o }, o || `any ${name}`)))
    : el("input", { name, placeholder: name, value: params.get(name) || "", size: 10, "aria-label": name }));
  return el("form", {
    class: "search",
    onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [k, v] of new FormData(event.target)) if (v) next.set(k, v);
      location.hash = `#/?${next}`;
    },
  }, input, controls, el("button", { type: "submit" }, "Search"));
}

async function searchPage(params) {
  show(el("h1", {}, "Data products"), searchForm(params), el("p", { class: "meta" }, "Searching…"));
  try {
    const result = await api(`/api/search?${params}`);
    const hits = result.hits.map((h) => el("div", { class: "hit" },
      el("h3", {}, productLink(h.id, h.name)),
      el("div", { class: "meta" }, `${h.domain} · ${h.owner} · ${h.source} · ${h.id}`),
      el("p", {}, h.description || ""),
      summaryBadges(h)));
    show(el("h1", {}, "Data products"), searchForm(params),
      el("p", { class: "meta", id: "result-count" }, `${result.total} product${result.total === 1 ? "" : "s"}`), hits);
  } catch (e) {
    show(el("h1", {}, "Data products"), searchForm(params), failure(e));
  }
}

// ---- product --------------------------------------------------------------------------

function lineageGraph(view) {
  const W = 190, H = 36, GAP_X = 70, GAP_Y = 14, PAD = 12;
  const depths = [...new Set(view.nodes.map((n) => n.depth))].sort((a, b) => a - b);
  const columns = new Map(depths.map((d) => [d, view.nodes.filter((n) => n.depth === d)]));
  const rows = Math.max(...[...columns.values()].map((c) => c.length));
  const width = PAD * 2 + depths.length * W + (depths.length - 1) * GAP_X;
  const height = PAD * 2 + rows * H + (rows - 1) * GAP_Y;
  const at = new Map();
  depths.forEach((d, ci) => columns.get(d).forEach((n, ri) => {
    at.set(n.id, { x: PAD + ci * (W + GAP_X), y: PAD + ri * (H + GAP_Y), node: n });
  }));
  const root = svg("svg", { class: "lineage", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "lineage graph" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8893a8" }))));
  for (const e of view.edges) {
    const a = at.get(e.from), b = at.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    root.appendChild(svg("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "data-from": e.from, "data-to": e.to }));
  }
  for (const { x, y, node } of at.values()) {
    const classes = [node.kind, node.depth === 0 ? "root" : "", node.known ? "" : "unknown"].join(" ");
    const label = node.label.length > 26 ? `${node.label.slice(0, 25)}…` : node.label;
    const group = svg("g", { class: "node", "data-id": node.id },
      svg("title", {}, node.id),
      svg("rect", { x, y, width: W, height: H, rx: 6, class: classes }),
      svg("text", { x: x + 8, y: y + 15 }, node.kind === "product" ? "product" : node.kind),
      svg("text", { x: x + 8, y: y + 29, "font-weight": 600 }, label));
    if (node.kind === "product" && node.known) {
      const link = svg("a", { href: `#/product/${node.id.slice("product:".length)}` });
      link.appendChild(group);
      root.appendChild(link);
    } else {
      root.appendChild(group);
    }
  }
  return root;
}

function freshnessText(f) {
  if (!f.slo) return "no freshness SLO declared";
  if (f.ageSeconds === undefined) return `SLO ${f.slo}; nothing measured yet`;
  return `SLO ${f.slo}; newest event ${f.ageSeconds} s old (${f.lastEventTime}) — ${f.state}`;
}

function completenessText(c) {
  if (c.slo === undefined) return "no completeness SLO declared";
  if (!c.measured) return `SLO ${c.slo} %; ${c.message || "not measured yet"}`;
  const m = c.measured;
  return `SLO ${c.slo} %; ${m.percent} % of the last ${m.window}'s ${m.records} records passed (${m.rejected} rejected, ${m.measuredAt}) — ${c.state}`;
}

// "Request access": the catalog has no identity of its own to file requests with, so the
// form writes the AccessRequest for the consumer to apply as themself (kubectl or the CLI),
// which is what lets the webhook record who filed it.
function requestAccessForm(p) {
  const [productNamespace, productName] = p.id.split("/");
  const output = el("pre", { id: "access-request-yaml" });
  const field = (name, label, attrs) => el("label", {}, label, " ", el("input", { name, required: true, ...attrs }));
  const form = el("form", { id: "request-access", onsubmit: (event) => {
    event.preventDefault();
    const v = Object.fromEntries(new FormData(form).entries());
    const [kind, rest] = [v.kind, v.subject.trim()];
    const [saNamespace, saName] = rest.includes("/") ? rest.split("/", 2) : [v.namespace, rest];
    const subject = kind === "ServiceAccount"
      ? `{ kind: ServiceAccount, namespace: ${saNamespace}, name: ${saName} }` : `{ kind: ${kind}, name: ${rest} }`;
    output.textContent = [
      "apiVersion: meshplane.dev/v1alpha1", "kind: AccessRequest",
      `metadata: { name: ${v.name}, namespace: ${v.namespace} }`, "spec:",
      `  product: { namespace: ${productNamespace}, name: ${productName} }`, `  subject: ${subject}`,
      `  purpose: ${JSON.stringify(v.purpose)}`, "",
      "# Apply it as yourself: kubectl apply -f request.yaml, or",
      `# meshplane access request ${v.name} -n ${v.namespace} --product ${p.id} --subject ${kind}:${kind === "ServiceAccount" ? saNamespace + "/" + saName : rest} --purpose ${JSON.stringify(v.purpose)}`,
    ].join("\n");
  } },
    field("name", "Request name", { value: `${productName}-access`, pattern: "[a-z0-9]([-a-z0-9]*[a-z0-9])?" }),
    field("namespace", "Your namespace"),
    el("label", {}, "Subject kind ", el("select", { name: "kind" },
      ["ServiceAccount", "User", "Group"].map((k) => el("option", { value: k }, k)))),
    field("subject", "Subject (namespace/name for a ServiceAccount)"),
    field("purpose", "Purpose"),
    el("button", { type: "submit" }, "Request access"));
  return el("div", {}, form, output);
}

async function productPage(id) {
  show(el("p", { class: "meta" }, "Loading…"));
  try {
    const p = await api(`/api/products/${id}`);
    const loc = p.locations;
    show(
      el("h1", {}, p.name),
      el("p", { class: "meta" }, `${p.id} · domain ${p.domain} · owner ${p.owner} · source ${p.source}`),
      el("p", { id: "description" }, p.description || ""),
      el("div", {}, summaryBadges(p)),
      el("section", {}, el("h2", {}, "Schema"),
        table(["Field", "Type", "Classification", "PII", "Masking", "Description"], p.fields.map((f) => [
          el("code", {}, f.name), f.type + (f.nullable ? "" : " (required)"), f.classification || "",
          f.pii ? badge("PII", "pii") : "", f.masking === "none" ? "none" : el("strong", { class: "masking" }, f.masking), f.description || ""]))),
      el("section", {}, el("h2", {}, "Service levels"),
        table(["", ""], [
          ["Freshness", el("span", { id: "freshness" }, freshnessText(p.freshness))],
          ["Completeness", el("span", { id: "completeness" }, completenessText(p.completeness))],
          ["Retention", p.retention],
          ["Update interval", loc.updateInterval || ""],
          ["Availability", p.slo && p.slo.availability !== undefined ? `${p.slo.availability} %` : ""],
          ["Support", (p.slo && p.slo.support) || ""],
        ]),
        p.sloHistory.length ? el("div", { id: "slo-history" }, el("h3", {}, "Recent SLO history"),
          table(["When", "Service level", "Status", "Reason", "Measured"],
            p.sloHistory.slice().reverse().map((t) => [t.at, t.slo, t.status, t.reason, t.message]))) : null),
      el("section", {}, el("h2", {}, "Where it lives"),
        table(["", ""], [["Bucket", loc.bucket || "(not provisioned yet)"], ["Prefix", loc.prefix || ""], ["Source topic", loc.topic || ""], ["Stream topic", loc.streamTopic || ""]])),
      el("section", {}, el("h2", {}, "Who uses it"),
        table(["Reader", "Purpose"], p.readers.map((r) => [`${r.kind}:${r.namespace ? r.namespace + "/" : ""}${r.name}`, r.purpose || ""])),
        p.grants.length ? table(["Granted to", "Purpose", "Columns up to", "Decided by", "Expires", "Request"],
          p.grants.map((g) => [g.subject, g.purpose, g.classification || "", g.decidedBy || "", g.expiresAt || "never", g.request])) : null,
        p.pendingRequests.length ? el("div", { id: "pending-requests" }, el("h3", {}, "Waiting for an approver"),
          table(["Subject", "Purpose", "Request", "Approve with"],
            p.pendingRequests.map((r) => [r.subject, r.purpose, r.request,
              el("code", {}, `meshplane access approve ${r.request.split("/")[1]} -n ${r.request.split("/")[0]}`)]))) : null,
        p.consumers.length ? el("p", {}, "Derived products: ", p.consumers.map((c) => [productLink(c), " "])) : null),
      el("section", {}, el("h2", {}, "Request access"), requestAccessForm(p)),
      el("section", {}, el("h2", {}, "Lineage"), lineageGraph(p.lineage)),
      el("section", {}, el("h2", {}, "Status"),
        table(["Condition", "Status", "Reason", "Message"], p.conditions.map((c) => [c.type, c.status, c.reason, c.message])),
        p.violations.length ? table(["Violation", "Policy", "Message"], p.violations.map((v) => [v.path, v.policy, v.message])) : null),
      el("p", {}, "Contract (ODCS): ",
        el("a", { href: `/api/products/${id}/contract?format=yaml` }, "YAML"), " · ",
        el("a", { href: `/api/products/${id}/contract` }, "JSON"), " · OpenLineage: ",
        el("a", { href: `/api/lineage/openlineage?product=${encodeURIComponent(p.id)}` }, "events")));
  } catch (e) {
    show(failure(e), el("p", {}, el("a", { href: "#/" }, "Back to search")));
  }
}

// ---- compliance and impact ------------------------------------------------------------

async function compliancePage() {
  show(el("p", { class: "meta" }, "Loading…"));
  try {
    const c = await api("/api/compliance");
    const links = (ids) => ids.map((id) => [productLink(id), " "]);
    show(el("h1", {}, "Compliance"),
      el("p", {}, `${c.products} products, ${c.withPii.length} with personal data.`),
      el("h2", {}, "By compliance tag"),
      table(["Tag", "Products"], Object.entries(c.byComplianceTag).map(([t, ids]) => [badge(t), links(ids)])),
      el("h2", {}, "By classification"),
      table(["Classification", "Products"], Object.entries(c.byClassification).map(([t, ids]) => [badge(t, t), links(ids)])),
      el("h2", {}, "Not compliant with the policies in force"),
      c.nonCompliant.length
        ? table(["Product", "Violations"], c.nonCompliant.map((n) => [productLink(n.id), n.violations.map((v) => el("div", {}, v))]))
        : el("p", {}, "Every product complies."));
  } catch (e) {
    show(failure(e));
  }
}

function impactPage(params) {
  const fields = ["pii", "compliance", "classification", "retentionOver", "field", "domain"];
  const results = el("div", { id: "impact-results" });
  const form = el("form", {
    class: "search",
    onsubmit: async (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(event.target)) if (v) q.set(k, v);
      try {
        const r = await api(`/api/impact?${q}`);
        results.replaceChildren(el("p", {}, `${r.total} product${r.total === 1 ? "" : "s"} affected`),
          table(["Product", "Retention", "Fields"], r.products.map((h) => [productLink(h.id), h.retention, h.matchedFields.map((f) => `${f.name} (${f.masking})`).join(", ")])));
      } catch (e) {
        results.replaceChildren(failure(e));
      }
    },
  }, fields.map((f) => el("input", { name: f, placeholder: f, value: params.get(f) || "", size: 12, "aria-label": f })), el("button", { type: "submit" }, "Analyse"));
  const policy = el("textarea", { rows: 10, cols: 80, "aria-label": "proposed policy", placeholder: "Paste a GovernancePolicy (YAML) to see which products it would reject" });
  const policyResults = el("div", { id: "policy-results" });
  const policyForm = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const r = await api("/api/impact/policy", { method: "POST", body: policy.value, headers: { "content-type": "application/yaml" } });
        policyResults.replaceChildren(el("p", {}, `${r.inScope} products in scope; ${r.rejected.length} would be rejected.`),
          table(["Product", "Why"], r.rejected.map((x) => [productLink(x.id), x.findings.map((f) => el("div", {}, `${f.path}: ${f.message}`))])));
      } catch (e) {
        policyResults.replaceChildren(failure(e));
      }
    },
  }, policy, el("div", {}, el("button", { type: "submit" }, "Which products would it reject?")));
  show(el("h1", {}, "Impact analysis"), form, results, el("h2", {}, "A proposed policy"), policyForm, policyResults);
}

// ---- routing --------------------------------------------------------------------------

function route() {
  const hash = location.hash.slice(1) || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  if (path.startsWith("/product/")) return productPage(path.slice("/product/".length).split("/").map(encodeURIComponent).join("/"));
  if (path === "/compliance") return compliancePage();
  if (path === "/impact") return impactPage(params);
  return searchPage(params);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
