// One widget per value kind, from the description the server generates from the schema and the
// registry: bool (checkbox), choice (select), integer/number (number field), optional-number,
// tuple (one field per element), path (text + file picker), text (the original string form).
// Every widget reports its value in the page form: a boolean, or the original string form.
import {pickFile} from "./dialogs.js";

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}
export {element};

function splitTuple(text, length) {
  const inner = String(text ?? "").trim().replace(/^[([]/, "").replace(/[)\]],?$/, "");
  const parts = inner === "" ? [] : inner.split(",").map((part) => part.trim());
  while (parts.length < length) parts.push("");
  return parts.slice(0, length);
}

function tupleWidget(info, value, onChange, id) {
  const box = element("span", {class: "tuple", id});
  const isNone = String(value).trim() === "None";
  const fields = splitTuple(isNone ? "" : value, info.length).map((part, index) =>
    element("input", {type: "number", value: part, "data-index": index, size: 4}));
  const none = info.none ? element("label", {}, [element("input", {type: "checkbox"}), " None"]) : null;
  if (none) none.firstChild.checked = isNone;
  const report = () => {
    if (none?.firstChild.checked) return onChange("None");
    const values = fields.map((field) => field.value.trim());
    if (values.every((v) => v === "")) return onChange("");
    onChange(values.length === 1 ? `(${values[0]},)` : `(${values.join(", ")})`);
  };
  for (const field of fields) { field.addEventListener("change", report); box.append(field); }
  if (none) { none.firstChild.addEventListener("change", report); box.append(none); }
  return box;
}

// A widget for `info` showing `value` (undefined: the default is shown as a placeholder).
export function makeWidget(info, value, onChange, {id, folder} = {}) {
  const shown = value === undefined || value === null ? "" : value;
  const fallback = info.default === null || info.default === undefined ? "" : String(info.default);
  switch (info.widget) {
    case "bool": {
      const box = element("input", {type: "checkbox", id});
      box.checked = value === undefined ? Boolean(info.default) : value === true || value === "True";
      box.addEventListener("change", () => onChange(box.checked));
      return box;
    }
    case "choice": {
      const select = element("select", {id});
      const choices = [...info.choices];
      if (shown !== "" && !choices.includes(shown)) choices.unshift(shown);  // an unknown name: the check names it
      if (info.required && shown === "") select.append(element("option", {value: "", text: "— choose —"}));
      for (const choice of choices) select.append(element("option", {value: choice, text: choice}));
      select.value = shown !== "" ? shown : fallback;
      select.addEventListener("change", () => onChange(select.value));
      return select;
    }
    case "tuple":
      return tupleWidget(info, shown !== "" ? shown : fallback, onChange, id);
    case "path": {
      const input = element("input", {type: "text", id, value: shown, placeholder: fallback || "(not set)"});
      input.addEventListener("change", () => onChange(input.value));
      const button = element("button", {type: "button", class: "pick", text: "…", title: "pick a file"});
      button.addEventListener("click", async () => {
        const picked = await pickFile(folder?.(), {relative: true});
        if (picked !== null) { input.value = picked; onChange(picked); }
      });
      return element("span", {class: "path"}, [input, button]);
    }
    default: {
      const numeric = info.widget === "integer" || info.widget === "number";
      const input = element("input", {type: "text", id, value: shown, placeholder: fallback,
                                      inputmode: numeric ? "decimal" : "text", class: info.widget});
      input.addEventListener("change", () => onChange(input.value));
      return input;
    }
  }
}
