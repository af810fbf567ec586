// Building the DOM without HTML strings: every text from the server or a user goes in as a
// text node (textContent), never through innerHTML, so nothing typed can become markup.

/** An element: `h("a", {class: "x", href: "#/", onclick: f}, "text", child, …)`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Empties `el` and puts `children` in. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A `<select>` of `[value, label]` pairs with `value` chosen. */
export function select(name, options, value, onchange) {
  return h("select", { name, onchange },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}
