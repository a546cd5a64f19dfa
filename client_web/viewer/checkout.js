// The checkout link a viewer follows after a successful claim: the room's template (set by staff,
// GET …/checkout) with the claim filled in, so the shop's order names the claim it pays for and its
// webhook settles it (docs/protocol.md "Checkout link"). A Shopify cart link carries it as the cart
// attribute `livecart_claim`, which Shopify copies into the order's note attributes.

import { api, roomPath } from "../lib/page.js";

const WORDS = { en: "Check out", zh: "去结算" };

/** Pure: `template` with {claim}, {deal}, {product}, {qty} replaced by their URL-encoded values, or null
 * when the result is not an http(s) link (the server checks the template too; this is the last guard
 * before an href). */
export function checkoutLink(template, values) {
  if (typeof template !== "string" || !template) return null;
  const filled = template.replace(/\{(claim|deal|product|qty)\}/g,
    (_, name) => encodeURIComponent(String(values[name] ?? "")));
  try {
    const url = new URL(filled);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export function checkoutWord(lang) {
  return WORDS[lang] || WORDS.en;
}

/** The room's checkout template, or null (none set, or the node unreachable: the claim still stands). */
export async function loadCheckoutTemplate(room, token) {
  const reply = await api(token, "GET", roomPath(room, "/checkout"));
  return reply.status === 200 && reply.body ? reply.body.url : null;
}
