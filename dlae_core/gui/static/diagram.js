// A diagram of the shown layer list that a person can read at a glance: one box per node, top to
// bottom, the main path as the spine; merges (skip connections) as arcs on the right, nested by
// length; BBD hooks (the tensors the predictor heads read) as arrows on the left; pretrained
// networks as one box. Built from the inspect rows and the layer list.
import {state} from "./state.js";
import {listRows} from "./inspect.js";
import {parseLayer, layerTypes} from "./layers.js";

const SVG = "http://www.w3.org/2000/svg";
const BOX_W = 230, BOX_H = 20, GAP = 6, LEFT = 40;

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function colour(row) {
  if (row.op === "merge") return "#f6d365";
  if (row.op === "input") return "#9fd3c7";
  if (row.op === "network") return "#c3aed6";
  if (/activation/i.test(row.type)) return "#e8e8e8";
  if (/pool|upsampl|resize|transpose/i.test(row.type)) return "#a8d8ea";
  if (/convolution|dense/i.test(row.type)) return "#ffb6b9";
  return "#fae3d9";
}

// layer-list positions of hook markers, mapped to the node just before each
function hookNodes(rows) {
  const list = state.config.layers?.[state.list] || [];
  const types = layerTypes();
  const hooks = new Set();
  list.forEach((entry, index) => {
    if (types[parseLayer(entry).type]?.role !== "hook") return;
    const before = rows.filter((r) => r.position !== null && r.position < index).pop();
    if (before) hooks.add(before.name);
  });
  return hooks;
}

export function renderDiagram(root) {
  const rows = listRows(state.check?.inspect, state.list);
  const index = Object.fromEntries(rows.map((row, i) => [row.name, i]));
  const height = rows.length * (BOX_H + GAP) + GAP;
  const arcs = [];
  rows.forEach((row, i) => {
    for (const input of row.inputs) {
      const from = index[input];
      if (from !== undefined && from !== i - 1) arcs.push({from, to: i});
    }
  });
  arcs.sort((a, b) => (a.to - a.from) - (b.to - b.from));
  const width = LEFT + BOX_W + 30 + arcs.length * 8 + 10;
  const drawing = svg("svg", {id: "diagram", width, height, viewBox: `0 0 ${width} ${height}`});
  const y = (i) => GAP + i * (BOX_H + GAP);
  const hooks = hookNodes(rows);
  rows.forEach((row, i) => {
    if (i > 0 && row.inputs.includes(rows[i - 1].name)) {
      drawing.append(svg("line", {x1: LEFT + BOX_W / 2, y1: y(i) - GAP, x2: LEFT + BOX_W / 2, y2: y(i), class: "edge"}));
    }
    const group = svg("g", {class: "node", "data-position": row.position ?? ""});
    group.append(svg("rect", {x: LEFT, y: y(i), width: BOX_W, height: BOX_H, rx: 4, fill: colour(row)}),
                 svg("text", {x: LEFT + 6, y: y(i) + 14}, `${row.type}`),
                 svg("text", {x: LEFT + BOX_W - 6, y: y(i) + 14, "text-anchor": "end", class: "shape"},
                     row.output_shape.join("×")));
    group.append(svg("title", {}, `${row.layer}\n→ (${row.output_shape.join(", ")})`));
    if (hooks.has(row.name)) {
      drawing.append(svg("path", {d: `M ${LEFT} ${y(i) + BOX_H / 2} h -24`, class: "hook"}),
                     svg("text", {x: 2, y: y(i) + 14, class: "hook-label"}, "hook"));
    }
    drawing.append(group);
  });
  arcs.forEach((arc, k) => {
    const x = LEFT + BOX_W + 14 + k * 8;
    const y1 = y(arc.from) + BOX_H / 2, y2 = y(arc.to) + BOX_H / 2;
    drawing.append(svg("path", {d: `M ${LEFT + BOX_W} ${y1} H ${x} V ${y2} H ${LEFT + BOX_W + 4}`, class: "skip"}),
                   svg("path", {d: `M ${LEFT + BOX_W + 4} ${y2 - 3} l -4 3 l 4 3`, class: "skip"}));
  });
  root.replaceChildren(drawing);
}
