// The layer-list editor: one list at a time (serial, generator, discriminator); select a layer,
// edit its parameters (a form from its registered parameters, so plugin layers work), add a layer
// after it, duplicate, move or delete it, or clear the whole list. Layers are held as layer strings
// ("Type:p1:p2:...").
import {changed, state} from "./state.js";
import {element, makeWidget} from "./widgets.js";
import {configFolder} from "./sections.js";

export function layerTypes() {
  return Object.fromEntries(state.info.layers.map((t) => [t.name, t]));
}

export function layerAt(list, index) { return (state.config.layers?.[list] || [])[index]; }

export function parseLayer(entry) {
  if (typeof entry !== "string") return {type: null, fields: [], raw: entry};
  const [type, ...fields] = entry.split(":");
  return {type: type.trim(), fields};
}

export function formatLayer(type, fields) {
  const kept = [...fields];
  while (kept.length && kept[kept.length - 1] === "") kept.pop();  // absent trailing fields: defaults
  return [type, ...kept].join(":");
}

// Problems located at layer `index` of `list` or inside it (a parameter of a typed layer).
export function layerProblems(list, index) {
  const at = `layers.${list}[${index}]`;
  return (state.check?.problems || []).filter((p) => p.where === at || p.where.startsWith(at + "."));
}

function currentList() { return state.config.layers[state.list] ||= []; }

function select(index) {
  state.selected[state.list] = index;
  renderLayerEditor(document.getElementById("layer-editor"));
  document.dispatchEvent(new CustomEvent("dlae-select", {detail: index}));
}

function edit(mutate, selectIndex) {
  mutate(currentList());
  if (selectIndex !== undefined) state.selected[state.list] = selectIndex;
  changed("layers");
}

function newLayer(typeName) {
  const type = layerTypes()[typeName];
  if (type.role === "input" || type.role === "pretrained") {  // take the config's input shape
    const shape = state.config.config_file?.input_shape;
    const fields = type.params.map((p) => (p.name === "shape" || p.name === "input_shape") && shape ? shape : "");
    return formatLayer(type.name, fields);
  }
  return type.name;
}

function typeSelect(id) {
  const select = element("select", {id});
  const families = {};
  for (const type of state.info.layers) (families[type.family] ||= []).push(type.name);
  for (const family of Object.keys(families).sort()) {
    const group = element("optgroup", {label: family});
    for (const name of families[family]) group.append(element("option", {value: name, text: name}));
    select.append(group);
  }
  select.value = "Convolution 2D" in layerTypes() ? "Convolution 2D" : state.info.layers[0].name;
  return select;
}

function toolbar(selected) {
  const list = currentList();
  const types = typeSelect("new-layer-type");
  const button = (text, id, action, disabled = false) => {
    const b = element("button", {type: "button", id, text});
    b.disabled = disabled;
    b.addEventListener("click", action);
    return b;
  };
  const none = selected === undefined || selected >= list.length;
  return element("div", {class: "toolbar"}, [
    types,
    button("Add after selected", "add-layer", () => {
      const at = none ? list.length : selected + 1;
      edit((l) => l.splice(at, 0, newLayer(types.value)), at);
    }),
    button("Duplicate", "duplicate-layer", () => edit((l) => l.splice(selected + 1, 0, l[selected]), selected + 1), none),
    button("Move up", "move-up", () => edit((l) => l.splice(selected - 1, 0, ...l.splice(selected, 1)), selected - 1),
           none || selected === 0),
    button("Move down", "move-down", () => edit((l) => l.splice(selected + 1, 0, ...l.splice(selected, 1)), selected + 1),
           none || selected >= list.length - 1),
    button("Delete", "delete-layer", () => edit((l) => l.splice(selected, 1), Math.max(0, Math.min(selected, list.length - 2))), none),
    // the original's Tools menu: delete a whole list (asked first, as it kept it apart to avoid accidents)
    button("Clear list…", "clear-list", () => {
      if (confirm(`Delete all ${list.length} layers of ${state.list}?`)) edit((l) => l.splice(0, l.length));
    }, list.length === 0),
  ]);
}

function layerItem(entry, index, selected) {
  const {type} = parseLayer(entry);
  const role = layerTypes()[type]?.role || "unknown";
  const problems = layerProblems(state.list, index);
  const text = typeof entry === "string" ? entry : JSON.stringify(entry);
  const item = element("li", {class: `layer role-${role}` + (index === selected ? " selected" : "") +
                                     (problems.length ? " has-problem" : ""), "data-index": index,
                              title: problems.map((p) => p.line).join("\n") || text},
                       [element("span", {class: "index", text: String(index)}), element("span", {class: "text", text})]);
  item.addEventListener("click", () => select(index));
  return item;
}

function replaceSelected(index, text) {
  edit((l) => { l[index] = text; });
}

function parameterForm(index) {
  const entry = layerAt(state.list, index);
  const box = element("div", {class: "layer-form", id: "layer-form"});
  if (entry === undefined) return box;
  const problems = layerProblems(state.list, index);
  if (typeof entry !== "string") {  // an object that does not parse: edited as JSON
    const area = element("textarea", {id: "layer-raw", rows: 4});
    area.value = JSON.stringify(entry);
    area.addEventListener("change", () => { try { replaceSelected(index, JSON.parse(area.value)); } catch { replaceSelected(index, area.value); } });
    box.append(element("h3", {text: `layer ${index} (as written)`}), area);
  } else {
    const {type, fields} = parseLayer(entry);
    const info = layerTypes()[type];
    const raw = element("input", {type: "text", id: "layer-raw", value: entry, class: "raw"});
    raw.addEventListener("change", () => replaceSelected(index, raw.value));
    box.append(element("h3", {text: `layer ${index}: ${info ? info.name : type}`}),
               element("div", {class: "doc", text: info?.doc || "unknown layer type"}),
               element("label", {class: "raw-label", text: "layer string"}), raw);
    for (const [i, param] of (info?.params || []).entries()) {
      const id = `param-${param.name}`;
      const value = fields[i] === undefined || fields[i].trim() === "" ? undefined : fields[i].trim();
      const widget = makeWidget(param, value, (v) => {
        const next = [...fields];
        while (next.length < info.params.length) next.push("");
        next[i] = v === true ? "True" : v === false ? "False" : v;
        replaceSelected(index, formatLayer(type, next));
      }, {id, folder: configFolder});
      box.append(element("div", {class: "key-row param-row"}, [element("label", {for: id, text: param.name}), widget,
        element("span", {class: "default", text: param.required ? "required" : `default ${param.default}`}),
        element("div", {class: "doc", text: param.doc})]));
    }
  }
  for (const p of problems) box.append(element("div", {class: "problem layer-problem", text: p.line}));
  return box;
}

function listPicker() {
  const box = document.getElementById("list-picker");
  box.replaceChildren(...state.info.layer_lists.map((name) => {
    const count = (state.config.layers?.[name] || []).length;
    const button = element("button", {type: "button", "data-list": name, class: name === state.list ? "active" : "",
                                      text: `${name} (${count})`});
    button.addEventListener("click", () => { state.list = name; document.dispatchEvent(new CustomEvent("dlae-list")); });
    return button;
  }));
}

export function renderLayerEditor(root) {
  listPicker();
  const list = currentList();
  let selected = state.selected[state.list];
  if (selected !== undefined && selected >= list.length) {  // an emptied list has no selection
    selected = state.selected[state.list] = list.length ? list.length - 1 : undefined;
  }
  const items = element("ol", {id: "layer-list", start: 0}, list.map((e, i) => layerItem(e, i, selected)));
  root.replaceChildren(toolbar(selected), items, parameterForm(selected));
  items.querySelector(".selected")?.scrollIntoView({block: "nearest"});
}
