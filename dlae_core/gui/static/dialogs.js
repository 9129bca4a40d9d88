// Dialogs: the file picker (folders of this machine, starting at the config's folder), a path
// prompt, the prebuilt catalog picker and the example picker. Each returns a promise of the answer
// (null when cancelled).
import {api, query} from "./api.js";

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value; else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function open(build) {
  const dialog = document.getElementById("dialog");
  const body = document.getElementById("dialog-body");
  return new Promise((resolve) => {
    let answered = false;
    const done = (value) => { if (!answered) { answered = true; dialog.close(); resolve(value); } };
    body.replaceChildren(...build(done));
    const cancel = el("button", {type: "button", id: "dialog-cancel", text: "Cancel"});
    cancel.addEventListener("click", () => done(null));
    body.append(el("div", {class: "dialog-buttons"}, [cancel]));
    dialog.addEventListener("close", () => done(null), {once: true});
    dialog.showModal();
  });
}

function relative(path, folder) {
  if (!folder) return path;
  const base = folder.endsWith("/") ? folder : folder + "/";
  return path.startsWith(base) ? path.slice(base.length) : path;
}

// Pick a file (or with `save`, name a new one); with `relative`, the answer is relative to `start`.
export function pickFile(start, {relative: asRelative = false, save = false, title = "Pick a file"} = {}) {
  return open((done) => {
    const heading = el("h2", {text: title});
    const where = el("div", {class: "picker-folder", id: "picker-folder"});
    const list = el("ul", {class: "picker", id: "picker-list"});
    const name = el("input", {type: "text", id: "picker-path", placeholder: "path", size: 60});
    const ok = el("button", {type: "button", id: "picker-ok", text: save ? "Save here" : "Choose"});
    let folder = start;
    const choose = (path) => done(asRelative ? relative(path, start) : path);
    ok.addEventListener("click", () => {
      const text = name.value.trim();
      if (text) choose(text.startsWith("/") ? text : `${folder}/${text}`);
    });
    async function show(target) {
      let listing;
      try { listing = await api(`files?${query({folder: target || ""})}`); } catch (error) { where.textContent = error.message; return; }
      folder = listing.folder;
      where.textContent = folder;
      const up = el("li", {class: "dir", text: "⬑ ..", "data-name": ".."});
      up.addEventListener("click", () => show(listing.parent));
      list.replaceChildren(up, ...listing.entries.map((entry) => {
        const item = el("li", {class: entry.dir ? "dir" : "file", text: entry.name + (entry.dir ? "/" : ""), "data-name": entry.name});
        item.addEventListener("click", () => {
          const path = `${folder}/${entry.name}`;
          if (entry.dir) show(path); else if (save) name.value = entry.name; else choose(path);
        });
        return item;
      }));
    }
    show(start);
    return [heading, where, list, el("div", {}, [name, ok])];
  });
}

export function askPath(title, value = "") {
  return open((done) => {
    const input = el("input", {type: "text", id: "ask-path", value, size: 60});
    const ok = el("button", {type: "button", id: "ask-ok", text: "OK"});
    ok.addEventListener("click", () => done(input.value.trim() || null));
    return [el("h2", {text: title}), input, ok];
  });
}

export function pickPrebuilt() {
  return open((done) => {
    const table = el("table", {class: "catalog", id: "prebuilt-table"});
    const shape = el("input", {type: "text", id: "prebuilt-shape", placeholder: "input shape, e.g. (256, 256, 1)"});
    const classes = el("input", {type: "text", id: "prebuilt-classes", placeholder: "classes", size: 6});
    const weights = el("select", {id: "prebuilt-weights"}, [el("option", {value: "none", text: "no weights"}),
                                                             el("option", {value: "imagenet", text: "ImageNet weights"})]);
    const message = el("div", {class: "problem", id: "prebuilt-message"});
    api("prebuilt").then((entries) => {
      table.append(el("tr", {}, ["name", "technique", "encoder", "description"].map((t) => el("th", {text: t}))));
      for (const entry of entries) {
        const row = el("tr", {"data-name": entry.name}, [entry.name, entry.technique, entry.encoder || "-", entry.description]
          .map((t) => el("td", {text: t})));
        row.addEventListener("click", async () => {
          try {
            const answer = await api("prebuilt", {name: entry.name, input_shape: shape.value.trim() || null,
                                                  classes: classes.value.trim() || null, weights: weights.value});
            done({name: entry.name, config: answer.config});
          } catch (error) { message.textContent = error.message; }
        });
        table.append(row);
      }
    });
    return [el("h2", {text: "Prebuilt models (dlae prebuilt)"}), el("div", {}, [shape, classes, weights]), message,
            el("div", {class: "catalog-scroll"}, [table])];
  });
}

export function pickExample(folder) {
  return open((done) => {
    const names = el("select", {id: "example-name"});
    const target = el("input", {type: "text", id: "example-folder", value: `${folder}/example`, size: 50});
    const overwrite = el("label", {}, [el("input", {type: "checkbox", id: "example-overwrite"}), " replace"]);
    const message = el("div", {class: "problem", id: "example-message"});
    const ok = el("button", {type: "button", id: "example-ok", text: "Write example"});
    api("examples").then((list) => names.append(...list.map((n) => el("option", {value: n, text: n}))));
    ok.addEventListener("click", async () => {
      try {
        done(await api("examples", {name: names.value, folder: target.value,
                                    overwrite: overwrite.firstChild.checked}));
      } catch (error) { message.textContent = error.message; }
    });
    return [el("h2", {text: "New config from an example (dlae example: config + generated data)"}),
            names, target, overwrite, ok, message];
  });
}
