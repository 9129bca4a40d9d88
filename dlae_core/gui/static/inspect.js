// The `dlae inspect` table of the shown layer list (output shape, parameters, activation memory per
// layer), updated after every edit, with the problem of a faulty layer in its row; and the
// network diagram.
import {state} from "./state.js";
import {element} from "./widgets.js";

const BYTES = 4 * 2;  // fp32, each output kept for the backward pass with a gradient of its size

export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function listRows(report, list) {
  return (report?.layers || []).filter((row) => row.model === list);
}

function problemRow(problem) {
  return element("tr", {class: "problem-row"}, [element("td", {colspan: 6, text: problem.line})]);
}

export function renderInspect(root) {
  const report = state.check?.inspect;
  const rows = listRows(report, state.list);
  const table = element("table", {id: "inspect-table", class: "inspect"});
  table.append(element("thead", {}, [element("tr", {}, ["#", "layer", "output shape", "trainable", "non-trainable", "memory"]
    .map((h) => element("th", {text: h})))]));
  const body = element("tbody");
  const selected = state.selected[state.list];
  const shownProblems = new Set();
  for (const row of rows) {
    const elements = row.output_shape.reduce((a, b) => a * b, 1);
    const tr = element("tr", {"data-position": row.position ?? "", class: row.position === selected ? "selected" : ""}, [
      element("td", {text: row.position ?? ""}), element("td", {text: row.type, title: row.layer}),
      element("td", {text: `(${row.output_shape.join(", ")})`}),
      element("td", {class: "number", text: row.trainable_params.toLocaleString("en")}),
      element("td", {class: "number", text: row.non_trainable_params.toLocaleString("en")}),
      element("td", {class: "number", text: formatBytes(elements * BYTES)})]);
    if (row.position !== null && row.position !== undefined) {
      tr.addEventListener("click", () => document.dispatchEvent(new CustomEvent("dlae-pick", {detail: row.position})));
    }
    body.append(tr);
  }
  // the faulty layer's problem where its row would be: after the rows of the layers before it
  for (const problem of state.check?.problems || []) {
    if (!problem.where.startsWith(`layers.${state.list}[`) || shownProblems.has(problem.line)) continue;
    shownProblems.add(problem.line);
    const at = Number(problem.where.slice(`layers.${state.list}[`.length).split("]")[0]);
    const next = [...body.children].find((tr) => Number(tr.dataset.position) > at);
    const tr = problemRow(problem);
    tr.dataset.position = at;
    tr.id = `inspect-problem-${at}`;
    body.insertBefore(tr, next || null);
  }
  table.append(body);
  const header = report
    ? `${rows.length} rows; ${report.total_params.toLocaleString("en")} parameters in all; activation memory `
      + `${formatBytes(report.activation_bytes_per_sample)} per sample` + (report.partial ? " (up to the faulty layer)" : "")
    : "no table: a value does not parse (see the problems)";
  root.replaceChildren(element("div", {class: "inspect-header", id: "inspect-header", text: header}), table);
}
