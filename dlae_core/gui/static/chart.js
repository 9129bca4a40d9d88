// Line chart of per-epoch metrics (SVG, no library): one line per metric, losses on the left axis'
// scale, everything else (accuracy, mAP, ...) in a second chart so scales do not crush each other.
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function node(tag, attributes, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

function niceNumber(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2); }

export function lineChart(epochs, names, {width = 460, height = 220, id} = {}) {
  const pad = {left: 50, right: 10, top: 10, bottom: 40};
  const chart = node("svg", {width, height, class: "chart", ...(id ? {id} : {})});
  const points = names.map((name) => epochs.map((e) => [e.epoch, e.metrics[name]]).filter(([, v]) => v !== null && v !== undefined));
  const values = points.flat().map(([, v]) => v);
  if (!values.length) return chart;
  let low = Math.min(...values), high = Math.max(...values);
  if (high === low) { high += 0.5; low -= 0.5; }
  const first = epochs[0].epoch, last = Math.max(epochs[epochs.length - 1].epoch, first + 1);
  const x = (e) => pad.left + (e - first) / (last - first) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (high - v) / (high - low) * (height - pad.top - pad.bottom);
  chart.append(node("line", {x1: pad.left, y1: y(low), x2: width - pad.right, y2: y(low), class: "axis"}),
               node("line", {x1: pad.left, y1: pad.top, x2: pad.left, y2: y(low), class: "axis"}),
               node("text", {x: pad.left - 4, y: y(high) + 4, "text-anchor": "end", class: "tick"}, niceNumber(high)),
               node("text", {x: pad.left - 4, y: y(low), "text-anchor": "end", class: "tick"}, niceNumber(low)),
               node("text", {x: width - pad.right, y: y(low) + 14, "text-anchor": "end", class: "tick"}, `epoch ${last}`));
  points.forEach((series, k) => {
    const colour = COLOURS[k % COLOURS.length];
    if (series.length > 1) {
      chart.append(node("polyline", {points: series.map(([e, v]) => `${x(e)},${y(v)}`).join(" "), stroke: colour,
                                     fill: "none", "stroke-width": 2, class: "series", "data-name": names[k]}));
    }
    for (const [e, v] of series) chart.append(node("circle", {cx: x(e), cy: y(v), r: 2.5, fill: colour, class: "point", "data-name": names[k]}));
    chart.append(node("text", {x: pad.left + k * 90, y: height - 6, fill: colour, class: "legend"}, names[k]));
  });
  return chart;
}
