// The page's one state: the description (schema + registry), the config in its page form, where it
// came from, and the last check. Edits call `changed()`, which checks the config again and tells
// every view; a check that comes back after a newer edit is dropped.
import {api} from "./api.js";

export const state = {
  info: null,        // /api/describe
  config: null,      // page form: {section: {key: value}, layers: {list: [layer strings]}}
  path: null,        // the file the config was loaded from or saved to (null: new)
  dirty: false,
  check: null,       // last /api/check answer
  list: "serial_layer_list",
  selected: {},      // layer list -> selected index
  editStarted: null, // performance.now() of the edit being checked
  lastInspectMs: null,
};

const listeners = [];
export function onUpdate(listener) { listeners.push(listener); }
function notify(what) { for (const listener of listeners) listener(what); }

let sequence = 0;

export async function runCheck() {
  const mine = ++sequence;
  const started = state.editStarted ?? performance.now();
  document.getElementById("check-state").textContent = "checking…";
  let answer;
  try {
    answer = await api("check", {config: state.config, path: state.path});
  } catch (error) {
    answer = {ok: false, problems: (error.lines || [String(error)]).map((line) => ({where: "", line})),
              inspect: null, summary: null};
  }
  if (mine !== sequence) return;  // a newer edit is being checked
  state.check = answer;
  notify("check");
  state.lastInspectMs = performance.now() - started;
  window.dlaeLastInspectMs = state.lastInspectMs;  // read by the browser tests
  window.dlaeChecks = (window.dlaeChecks || 0) + 1;
  state.editStarted = null;
  document.getElementById("check-state").textContent = answer.ok ? "✓ valid" : `✗ ${answer.problems.length} problem(s)`;
  document.getElementById("check-state").className = answer.ok ? "ok" : "bad";
}

export function changed(what = "config") {
  state.editStarted = performance.now();
  state.dirty = true;
  notify(what);
  return runCheck();
}

export function loadConfig(config, path) {
  state.config = config;
  state.path = path;
  state.dirty = false;
  state.selected = {};
  const lists = state.info.layer_lists.filter((name) => (config.layers?.[name] || []).length);
  state.list = lists[0] || "serial_layer_list";
  notify("loaded");
  return runCheck();
}

export function sectionValue(section, key) {
  const values = state.config?.[section];
  return values && key in values ? values[key] : undefined;
}

// Problems whose JSON path is `where` exactly, or (prefix) starts with it.
export function problemsAt(where, prefix = false) {
  const problems = state.check?.problems || [];
  return problems.filter((p) => p.where === where || (prefix && p.where.startsWith(where)));
}
