// DOM helpers for the pages. Text from strangers (comments, names, product names) only ever becomes a
// text node: `h` has no way to set innerHTML, and attributes are set one by one as plain strings.

/** h("div", {class: "deal", dataset: {id}}, "text", child, ...) -> an element; strings become text. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `node` (same rules as h). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** A product image only from http(s): a `javascript:` or data URL from a bad deal spec goes nowhere. */
export function safeImageUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : "";
  } catch {
    return "";
  }
}

const moneyFormats = new Map();

/** `value` (major units) as money of `currency` (the room's ISO 4217 code, from the state or a DEAL
 * map) in the page's language: "$19.99", "¥1,500" (JPY has no decimals), "KWD 1.234". The narrow
 * symbol keeps "¥" for CNY in English too; a whole amount drops its ".00" as the pages always did. */
export function money(value, currency = "CNY", lang = document.documentElement.lang || undefined) {
  const code = /^[A-Z]{3}$/.test(currency || "") ? currency : "CNY";
  const key = `${lang}|${code}`;
  let format = moneyFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(lang, { style: "currency", currency: code, currencyDisplay: "narrowSymbol",
                                             trailingZeroDisplay: "stripIfInteger" });
    } catch {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency: code });
    }
    moneyFormats.set(key, format);
  }
  return format.format(Number(value || 0));
}

/** 83000 -> "1:23"; 3_723_000 -> "1:02:03"; never negative. */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Run `fn` every animation frame while the page is visible, at most `fps` times a second. */
export function everyFrame(fn, fps = 10) {
  let last = 0;
  const step = (t) => {
    if (t - last >= 1000 / fps) { last = t; fn(); }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

/** Restart a CSS animation class on `node` (deal start, sell-out). */
export function flash(node, className) {
  node.classList.remove(className);
  void node.offsetWidth; // reflow, so the same class animates again
  node.classList.add(className);
}

/** A cue's text in the page's language: rule cues carry `texts` {zh, en}; manual cues only `text`. */
export function cueText(cue, lang) {
  return (cue.texts && cue.texts[lang]) || cue.text || "";
}
