// A small, dependency-free explorer for the OpenAPI document this server serves.
"use strict";

const $ = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
};

let spec = null;

function resolve(schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    schema = spec.components.schemas[schema.$ref.split("/").pop()];
  }
  return schema || {};
}

function example(schema, depth = 0) {
  schema = resolve(schema);
  if (depth > 4) return null;
  if ("default" in schema) return schema.default;
  if (schema.anyOf) return example(schema.anyOf.find((s) => s.type !== "null") || {}, depth + 1);
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case "object": {
      const out = {};
      for (const name of schema.required || []) out[name] = example(schema.properties[name], depth + 1);
      return out;
    }
    case "array": return [];
    case "integer": case "number": return 0;
    case "boolean": return false;
    case "string":
      if (schema.format === "date-time") return new Date(Date.now() + 864e5).toISOString().slice(0, 16) + ":00+00:00";
      if (schema.format === "date") return new Date(Date.now() + 864e5).toISOString().slice(0, 10);
      return "";
    default: return null;
  }
}

function field(param) {
  const input = $("input", { name: param.name, "data-in": param.in, placeholder: param.schema && param.schema.type || "" });
  const label = $("span", param.required ? { class: "required" } : {}, `${param.name} (${param.in})`);
  return $("label", {}, label, input);
}

async function send(method, path, op, form, output) {
  let url = path;
  const query = new URLSearchParams();
  const headers = {};
  for (const input of form.querySelectorAll("input")) {
    if (!input.value) continue;
    const where = input.dataset.in;
    if (where === "path") url = url.replace(`{${input.name}}`, encodeURIComponent(input.value));
    else if (where === "query") query.append(input.name, input.value);
    else if (where === "header") headers[input.name] = input.value;
  }
  const token = document.getElementById("token").value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method: method.toUpperCase(), headers };
  const body = form.querySelector("textarea");
  if (body && body.value.trim()) {
    headers["Content-Type"] = "application/json";
    init.body = body.value;
  }
  const target = url + (query.toString() ? `?${query}` : "");
  output.replaceChildren($("p", {}, `${init.method} ${target} …`));
  const response = await fetch(target, init);
  const text = await response.text();
  let shown = text;
  try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
  const lines = [...response.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  output.replaceChildren(
    $("p", { class: `status ${response.ok ? "ok" : "bad"}` }, `${response.status} ${response.statusText}`),
    $("pre", {}, lines),
    $("pre", {}, shown),
  );
}

function show(method, path, op, button) {
  document.querySelectorAll("nav button.active").forEach((b) => b.classList.remove("active"));
  button.classList.add("active");
  const form = $("form", { onsubmit: (event) => { event.preventDefault(); send(method, path, op, form, output); } });
  const params = op.parameters || [];
  if (params.length) form.append($("fieldset", {}, $("legend", {}, "Parameters"), ...params.map(field)));
  const json = op.requestBody && op.requestBody.content["application/json"];
  if (json) {
    form.append($("fieldset", {}, $("legend", {}, "JSON body"),
      $("textarea", { spellcheck: "false" }, JSON.stringify(example(json.schema), null, 2))));
  }
  form.append($("button", { type: "submit" }, "Send"));
  const output = $("div");
  const statuses = Object.entries(op.responses).map(([code, r]) => `${code}: ${r.description}`).join("\n");
  document.getElementById("operation").replaceChildren(
    $("h2", {}, $("span", { class: `method ${method}` }, method), path),
    $("p", {}, op.summary || ""),
    ...(op.description ? [$("p", {}, op.description)] : []),
    form,
    $("details", {}, $("summary", {}, "Responses"), $("pre", {}, statuses)),
    output,
  );
}

async function main() {
  const token = document.getElementById("token");
  token.value = sessionStorage.getItem("reserver-token") || "";
  token.addEventListener("change", () => sessionStorage.setItem("reserver-token", token.value));
  spec = await (await fetch("/api/v1/openapi.json")).json();
  document.getElementById("version").textContent = `v${spec.info.version}`;
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  const nav = document.getElementById("operations");
  nav.replaceChildren();
  for (const [tag, ops] of byTag) {
    nav.append($("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const button = $("button", { type: "button", title: op.summary || "" },
        $("span", { class: `method ${method}` }, method), path);
      button.addEventListener("click", () => show(method, path, op, button));
      nav.append(button);
    }
  }
}

main().catch((error) => {
  document.getElementById("operations").replaceChildren($("p", { class: "bad" }, `Could not load the API: ${error}`));
});
