// The page: loads the description and the first config, wires the tabs and the file buttons, and
// re-renders the views after every check.
import {api, query} from "./api.js";
import {changed, loadConfig, onUpdate, runCheck, state} from "./state.js";
import {element} from "./widgets.js";
import {configFolder, renderParameters, renderSections, showSectionProblems} from "./sections.js";
import {renderLayerEditor} from "./layers.js";
import {renderInspect} from "./inspect.js";
import {renderDiagram} from "./diagram.js";
import {renderRuns} from "./runs.js";
import {askPath, pickExample, pickFile, pickPrebuilt} from "./dialogs.js";

let tab = "layers";

function setHeader() {
  document.getElementById("config-path").textContent = state.path || "new config (not saved)";
  document.getElementById("dirty").hidden = !state.dirty;
}

function renderProblems() {
  const list = document.getElementById("problems");
  list.replaceChildren(...(state.check?.problems || []).map((p) => {
    const item = element("li", {class: "problem", text: p.line, "data-where": p.where});
    item.addEventListener("click", () => goTo(p.where));
    return item;
  }));
  document.getElementById("summary").textContent = state.check?.summary || "";
}

// Show the field or layer a problem is about.
function goTo(where) {
  const layer = /^layers\.(\w+)\[(\d+)\]/.exec(where);
  if (layer) {
    state.list = layer[1];
    state.selected[layer[1]] = Number(layer[2]);
    showTab("layers");
    return;
  }
  showTab("sections");
  document.querySelector(`.key-row[data-where="${CSS.escape(where)}"]`)?.scrollIntoView({block: "center"});
}

function renderLayersTab() {
  renderLayerEditor(document.getElementById("layer-editor"));
  renderInspect(document.getElementById("inspect-view"));
  renderDiagram(document.getElementById("diagram-view"));
}

function renderTab() {
  const root = document.getElementById(`tab-${tab}`);
  if (tab === "layers") renderLayersTab();
  else if (tab === "sections") renderSections(root);
  else if (tab === "parameters") renderParameters(root);
  else if (tab === "run") renderRuns(root, save);
  else if (tab === "check") renderCheckTab(root);
  else if (tab === "file") renderFileTab(root);
}

function showTab(name) {
  tab = name;
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const section of document.querySelectorAll("main > .tab")) section.hidden = section.id !== `tab-${name}`;
  renderTab();
}

onUpdate((what) => {
  setHeader();
  if (what === "check") {
    renderProblems();
    if (tab === "layers") renderLayersTab();
    else if (tab === "sections") showSectionProblems(document.getElementById("tab-sections"));
    else if (tab === "parameters") renderParameters(document.getElementById("tab-parameters"));
  } else if (what === "loaded") renderTab();
  else if (what === "layers" && tab === "layers") renderLayerEditor(document.getElementById("layer-editor"));
});

async function save({as = false} = {}) {
  let path = state.path;
  if (as || !path) {
    path = await pickFile(configFolder(), {save: true, title: "Save the config as"});
    if (!path) return false;
  }
  const form = document.getElementById("save-form").value;
  const request = (overwrite) => api("save", {config: state.config, path, form, from_path: state.path, overwrite});
  let saved;
  try {
    saved = await request(path === state.path);
  } catch (error) {
    const exists = /already exists/.test(error.message);
    if (!exists || !confirm(`${path} exists. Replace it?`)) {
      if (!exists) alert(`not saved:\n${error.message}`);
      return false;
    }
    saved = await request(true);
  }
  state.config = saved.config;
  state.path = saved.path;
  state.dirty = false;
  setHeader();
  runCheck();
  return true;
}

// what the last Validate or dlae check printed: kept when the tab is left (dlae check takes a while)
let checkOutput = "";

function renderCheckTab(root) {
  const output = element("pre", {id: "check-output", class: "log", text: checkOutput});
  const show = (text) => {  // into the tab as it is now: it may have been drawn again meanwhile
    checkOutput = text;
    const shown = document.getElementById("check-output");
    if (shown) shown.textContent = text;
  };
  const backend = element("select", {id: "check-backend"}, [element("option", {value: "", text: "no backend"}),
    ...state.info.backends.filter((b) => b.installed).map((b) => element("option", {value: b.name, text: b.name}))]);
  const validate = element("button", {type: "button", id: "validate-button", text: "Validate (dlae validate, with the data files)"});
  validate.addEventListener("click", async () => {
    show("checking…");
    const answer = await api("check", {config: state.config, path: state.path, data: true, backend: backend.value});
    show(answer.ok ? `OK: ${answer.summary}` : answer.problems.map((p) => `error: ${p.line}`).join("\n"));
  });
  const parity = element("button", {type: "button", id: "parity-button", text: "Compare backends (dlae check)"});
  const installedCount = state.info.backends.filter((b) => b.installed).length;
  parity.disabled = installedCount < 2;  // dlae check compares two installed backends
  if (parity.disabled) parity.title = "dlae check needs two installed backends";
  parity.addEventListener("click", async () => {
    show("running dlae check (builds the model on both backends)…");
    try {
      const answer = await api("parity", {config: state.config, path: state.path});
      show(`$ ${answer.command}\n${answer.output}\nexit ${answer.exit_code}`);
    } catch (error) { show(error.message); }
  });
  const installed = state.info.backends.map((b) => `${b.name}: ${b.installed ? "installed" : "not installed (needs " + b.missing.join(", ") + ")"}`);
  root.replaceChildren(element("p", {id: "backend-list", text: "Backends — " + installed.join("; ")}),
                       element("div", {class: "toolbar"}, [backend, validate, parity]), output);
}

async function renderFileTab(root) {
  const form = element("select", {id: "file-form"}, [element("option", {value: "typed", text: "typed form"}),
                                                     element("option", {value: "legacy", text: "original string form"})]);
  const text = element("pre", {id: "file-text", class: "log"});
  const show = async () => {
    try { text.textContent = (await api("text", {config: state.config, form: form.value})).text; } catch (error) { text.textContent = error.message; }
  };
  form.addEventListener("change", show);
  root.replaceChildren(element("p", {text: "The file as Save writes it (dlae convert)."}), form, text);
  show();
}

async function start() {
  state.info = await api("describe");
  const technique = document.getElementById("new-technique");
  technique.append(...state.info.techniques.map((t) => element("option", {value: t, text: t})));
  technique.value = state.info.techniques.includes("FCN") ? "FCN" : state.info.techniques[0];
  document.getElementById("backends").textContent = state.info.backends
    .map((b) => `${b.name} ${b.installed ? "✓" : "✗"}`).join("  ");
  for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  document.getElementById("new-button").addEventListener("click", async () => {
    loadConfig((await api("new", {technique: technique.value})).config, null).then(() => { state.dirty = true; setHeader(); });
  });
  document.getElementById("open-button").addEventListener("click", async () => {
    const path = await pickFile(configFolder(), {title: "Open a config"});
    if (path) openFile(path);
  });
  document.getElementById("example-button").addEventListener("click", async () => {
    const answer = await pickExample(configFolder());
    if (answer) loadConfig(answer.config, answer.path);
  });
  document.getElementById("prebuilt-button").addEventListener("click", async () => {
    const answer = await pickPrebuilt();
    if (answer) { await loadConfig(answer.config, null); state.dirty = true; setHeader(); }
  });
  document.getElementById("save-button").addEventListener("click", () => save());
  document.getElementById("save-as-button").addEventListener("click", () => save({as: true}));
  document.addEventListener("dlae-list", () => renderLayersTab());
  document.addEventListener("dlae-select", () => { renderInspect(document.getElementById("inspect-view")); });
  document.addEventListener("dlae-pick", (event) => { state.selected[state.list] = event.detail; renderLayersTab(); });
  window.dlae = {state, openFile, save, askPath, changed};  // for the browser tests and the console
  if (state.info.config_path) await openFile(state.info.config_path);
  else await loadConfig((await api("new", {technique: technique.value})).config, null);
}

async function openFile(path) {
  try {
    const answer = await api(`config?${query({path})}`);
    await loadConfig(answer.config, answer.path);
  } catch (error) { alert(`cannot open ${path}:\n${error.message}`); }
}

start();
