// Runs: save and start `dlae run` as a process of its own (closing the page does not stop it;
// the list finds it again), follow its log, draw the loss and metric curves per epoch, show GAN
// previews and prediction samples as they are written, the error lines, a stop button (the run
// ends as Ctrl-C ends it, keeping its last checkpoint) and TensorBoard on the config's log folder.
import {api, query} from "./api.js";
import {state} from "./state.js";
import {element} from "./widgets.js";
import {lineChart} from "./chart.js";

const POLL_MS = 1000;
const view = {id: null, offset: 0, log: "", timer: null, last: null};

function isLoss(name) { return /loss$/.test(name); }

async function startRun(save) {
  const backend = document.getElementById("run-backend").value;
  const overwrite = document.getElementById("run-overwrite").checked;
  const message = document.getElementById("run-message");
  message.textContent = "";
  try {
    if (!(await save())) return;
    const run = await api("runs", {path: state.path, backend, overwrite});
    follow(run.id);
  } catch (error) { message.textContent = error.message; }
}

async function refreshList() {
  const runs = await api("runs");
  const list = document.getElementById("run-list");
  if (!list) return runs;
  list.replaceChildren(...runs.map((run) => {
    const item = element("li", {class: `run state-${run.state}` + (run.id === view.id ? " selected" : ""), "data-id": run.id,
                                text: `${run.id} ${run.state}${run.exit_code !== null && run.exit_code !== undefined ? ` (exit ${run.exit_code})` : ""} — ${run.config}`});
    item.addEventListener("click", () => follow(run.id));
    return item;
  }));
  return runs;
}

function follow(id) {
  clearTimeout(view.timer);
  Object.assign(view, {id, offset: 0, log: "", last: null});
  document.getElementById("run-log").textContent = "";
  poll();
}

async function poll() {
  if (!view.id) return;
  const id = view.id;
  let run;
  try { run = await api(`runs/${id}?${query({offset: view.offset})}`); } catch (error) {
    document.getElementById("run-message").textContent = error.message; return;
  }
  if (id !== view.id) return;
  view.offset = run.next_offset;
  view.log += run.log;
  view.last = run;
  showRun(run);
  if (["running", "starting", "samples"].includes(run.state) || run.next_offset < run.log_size) {
    view.timer = setTimeout(poll, POLL_MS);
  } else refreshList();
}

// the run's id in the address: a later run's images of the same name are not taken from the cache
function imageUrl(path, run) { return `api/image?${query({path, config: run.config, run: run.id})}`; }

function showRun(run) {
  const last = run.epochs[run.epochs.length - 1];
  const step = run.step;
  const of = last?.of || step?.of || 0;
  const done = last ? last.epoch : 0;
  const bar = document.getElementById("run-progress");
  bar.max = Math.max(of, 1);
  bar.value = done + (step && step.epoch === done + 1 ? step.step / Math.max(step.steps, 1) : 0);
  document.getElementById("run-state").textContent = `${run.id}: ${run.state}` +
    (run.exit_code !== null && run.exit_code !== undefined ? ` (exit ${run.exit_code})` : "") +
    (of ? ` — epoch ${done}/${of}` : "") + (step ? `, step ${step.step}/${step.steps}, ETA ${step.eta}` : "");
  document.getElementById("run-stop").disabled = !["running", "samples"].includes(run.state);
  const names = [...new Set(run.epochs.flatMap((e) => Object.keys(e.metrics)))];
  const charts = document.getElementById("run-charts");
  charts.replaceChildren(lineChart(run.epochs, names.filter(isLoss), {id: "loss-chart"}),
                         lineChart(run.epochs, names.filter((n) => !isLoss(n) && n !== "lr"), {id: "metric-chart"}));
  const log = document.getElementById("run-log");
  log.textContent = view.log;
  log.scrollTop = log.scrollHeight;
  document.getElementById("run-errors").replaceChildren(...run.errors.map((line) => element("li", {text: line})));
  showImages(run);
}

const MAX_LISTED_BOXES = 6;

function boxText(box) {  // [class, confidence, xmin, ymin, xmax, ymax] in input pixels
  const [c, confidence, ...corners] = box;
  const [x0, y0, x1, y1] = corners.map((v) => v.toFixed(1));
  return `class ${c} ${(100 * confidence).toFixed(0)}% at (${x0}, ${y0})–(${x1}, ${y1})`;
}

// What samples.json says of one sample, in words (the image shows the rest).
function sampleCaption(info) {
  const head = `sample ${info.name}: `;
  if (info.probabilities) {
    return head + info.probabilities.map((p, c) => `${c}: ${(100 * p).toFixed(1)}%`).join(", ") +
      (info.target !== undefined ? ` (true class ${info.target})` : "");
  }
  if (info.values) {
    return head + "output " + info.values.map((v) => v.toPrecision(4)).join(", ") +
      (info.target_values ? ` (target ${info.target_values.map((v) => v.toPrecision(4)).join(", ")})` : "");
  }
  if (info.boxes) {
    const listed = info.boxes.detections.slice(0, MAX_LISTED_BOXES).map(boxText);
    const more = info.boxes.detections.length > listed.length ? `; ${info.boxes.detections.length - listed.length} more` : "";
    return head + `${info.boxes.truth.length} true boxes (green), ${info.detections} detections (red)` +
      (listed.length ? ": " + listed.join("; ") + more : "");
  }
  return head + info.panels.join(" | ");
}

function showImages(run) {
  const box = document.getElementById("run-images");
  const samples = Object.fromEntries((run.samples?.samples || []).map((s) => [s.image, s]));
  // the images and samples.json (written after its images: captions come when it does)
  const key = `${run.id}#${run.samples?.samples?.length || 0}#` + run.images.join("|");
  if (box.dataset.key === key) return;  // unchanged: keep the loaded images
  box.dataset.key = key;
  box.replaceChildren(...run.images.map((path) => {
    const info = samples[path];
    const caption = info ? sampleCaption(info) : path.split("/").slice(-2).join("/");
    return element("figure", {"data-path": path, class: info ? "sample" : "preview"},
                   [element("img", {src: imageUrl(path, run), alt: caption}), element("figcaption", {text: caption})]);
  }));
}

// TensorBoard on the config's log folder (started by the server on 127.0.0.1; a link, and a new tab
// where the browser lets the page open one).
async function openTensorBoard() {
  const box = document.getElementById("tensorboard");
  box.replaceChildren("starting TensorBoard…");
  try {
    const answer = await api("tensorboard", {config: state.config, path: state.path});
    box.replaceChildren(`TensorBoard of ${answer.logdir}: `,
                        element("a", {href: answer.url, target: "_blank", rel: "noopener", id: "tensorboard-link", text: answer.url}));
    window.open(answer.url, "_blank", "noopener");
  } catch (error) { box.replaceChildren(element("span", {class: "problem", text: error.message})); }
}

async function stopRun() {
  try { showRun(await api(`runs/${view.id}/stop`, {})); } catch (error) {
    document.getElementById("run-message").textContent = error.message;
  }
  poll();
}

export function renderRuns(root, save) {
  const backends = element("select", {id: "run-backend"}, state.info.backends.filter((b) => b.installed)
    .map((b) => element("option", {value: b.name, text: b.name})));
  const start = element("button", {type: "button", id: "run-start", text: "Save and run"});
  start.addEventListener("click", () => startRun(save));
  const stop = element("button", {type: "button", id: "run-stop", text: "Stop"});
  stop.disabled = true;
  stop.addEventListener("click", stopRun);
  const board = element("button", {type: "button", id: "tensorboard-button", text: "TensorBoard",
                                   title: "open TensorBoard on save_configurations.save_tensorboard_path"});
  board.addEventListener("click", openTensorBoard);
  root.replaceChildren(
    element("div", {class: "toolbar"}, [element("label", {text: "backend "}), backends,
      element("label", {}, [element("input", {type: "checkbox", id: "run-overwrite"}), " overwrite outputs"]), start, stop, board]),
    element("div", {id: "run-message", class: "problem"}), element("div", {id: "tensorboard"}),
    element("h3", {text: "Runs (they go on when the page is closed)"}), element("ul", {id: "run-list"}),
    element("div", {id: "run-state"}), element("progress", {id: "run-progress", value: 0, max: 1}),
    element("div", {id: "run-charts"}), element("div", {id: "run-images"}),
    element("h3", {text: "Error log"}), element("ul", {id: "run-errors", class: "errors"}),
    element("pre", {id: "run-log", class: "log"}));
  refreshList().then((runs) => {
    const active = runs.find((r) => ["running", "starting", "samples"].includes(r.state));
    if (!view.id && active) follow(active.id);
    else if (view.id) follow(view.id);
  });
}
