// The settings: one form per config section, one row per key (widget, default, doc), with the
// check's messages under the field they are about; and the read-only view of every parameter.
import {changed, problemsAt, sectionValue, state} from "./state.js";
import {element, makeWidget} from "./widgets.js";

export function configFolder() {
  return state.path ? state.path.replace(/[\\/][^\\/]*$/, "") : state.info.workdir;
}

function setValue(section, key, value) {
  if (typeof state.config[section] !== "object" || state.config[section] === null) state.config[section] = {};
  if (value === "") delete state.config[section][key];  // empty: the default, as in the string form
  else state.config[section][key] = value;
  changed();
}

function keyRow(section, info) {
  const where = `${section}.${info.key}`;
  const id = `field-${section}-${info.key}`;
  const widget = makeWidget(info, sectionValue(section, info.key), (v) => setValue(section, info.key, v),
                            {id, folder: configFolder});
  const used = info.used_by.length && info.used_by.length < 4 ? ` (${info.used_by.join(", ")})` : "";
  const doc = element("div", {class: "doc", text: info.doc + used + (info.new ? " [new in dlae]" : "")});
  const messages = element("div", {class: "messages", "data-where": where});
  const defaultText = info.required ? "required" : `default ${info.default === "" ? '""' : info.default}`;
  return element("div", {class: "key-row", "data-where": where}, [
    element("label", {for: id, text: info.key}), widget,
    element("span", {class: "default", text: defaultText}), doc, messages]);
}

export function renderSections(root) {
  root.replaceChildren();
  for (const section of state.info.sections) {
    const box = element("fieldset", {class: "section", id: `section-${section.name}`},
                        [element("legend", {text: section.name})]);
    for (const info of section.keys) box.append(keyRow(section.name, info));
    root.append(box);
  }
  showSectionProblems(root);
}

export function showSectionProblems(root) {
  for (const box of root.querySelectorAll(".messages")) {
    const found = problemsAt(box.dataset.where);
    box.replaceChildren(...found.map((p) => element("div", {class: "problem", text: p.line})));
    box.parentElement.classList.toggle("has-problem", found.length > 0);
  }
}

// The original's "parameter states" view: every key with its value, defaults included.
export function renderParameters(root) {
  const grid = element("div", {class: "parameter-grid"});
  for (const section of state.info.sections) {
    const table = element("table", {class: "parameters"}, [element("caption", {text: section.name})]);
    for (const info of section.keys) {
      const value = sectionValue(section.name, info.key);
      const given = value !== undefined;
      const shown = given ? value : info.default;
      table.append(element("tr", {class: given ? "given" : "default"}, [
        element("th", {text: info.key}),
        element("td", {text: shown === null || shown === undefined ? "—" : String(shown)})]));
    }
    grid.append(table);
  }
  const layers = element("table", {class: "parameters"}, [element("caption", {text: "layers"})]);
  for (const name of state.info.layer_lists) {
    const count = (state.config.layers?.[name] || []).length;
    layers.append(element("tr", {}, [element("th", {text: name}), element("td", {text: `${count} layers`})]));
  }
  grid.append(layers);
  root.replaceChildren(element("p", {class: "hint", text: "Every parameter as the run will use it; values in bold are set in the config, the others are defaults."}), grid);
}
