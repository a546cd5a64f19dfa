// The shop panel: the room's webhook secrets (Shopify, other shops) and the viewer page's checkout
// link, set by the assistant. A secret goes to the server once and is never shown again, here or
// anywhere: the panel shows the hint the server answers (its last four characters), who set it, when.
// Writes go through ConsoleApi (one Idempotency-Key per write, retried while the node is away).

import { fill, h, setText } from "../lib/dom.js";
import { refusal } from "./api.js";

const WORDS = {
  en: { title: "Shop", shop: "Webhook", secret: "Secret", save: "Save", saved: "Saved", none: "no secret",
    checkout: "Checkout link", url: "Webhook URL", set: "set by", clear: "Remove" },
  zh: { title: "店铺", shop: "Webhook", secret: "密钥", save: "保存", saved: "已保存", none: "未设置密钥",
    checkout: "结算链接", url: "Webhook 地址", set: "设置人", clear: "移除" },
};
const $ = (id) => document.getElementById(id);

/** Pure: one line per shop from GET …/webhooks: its name, webhook path, and the secret's hint or none. */
export function shopLines(settings) {
  return Object.entries((settings && settings.shops) || {}).map(([name, shop]) => ({
    name, url: shop.url, hint: shop.secret ? shop.secret.hint : null, by: shop.secret ? shop.secret.by : "",
  }));
}

export class ShopPanel {
  constructor({ api, t, lang }) {
    Object.assign(this, { api, t });
    this.words = WORDS[lang] || WORDS.en;
  }

  start() {
    const w = this.words;
    setText($("shop-title"), w.title);
    setText($("shop-secret-label"), w.secret);
    setText($("shop-save"), w.save);
    setText($("checkout-label"), w.checkout);
    setText($("checkout-save"), w.save);
    $("shop-form").addEventListener("submit", (event) => { event.preventDefault(); this.saveSecret(); });
    $("checkout-form").addEventListener("submit", (event) => { event.preventDefault(); this.saveCheckout(); });
    this.load();
  }

  async load() {
    const reply = await this.api.expect(200, "GET", "/webhooks");
    if (reply.ok) this.render(reply.body);
  }

  async saveSecret() {
    const input = $("shop-secret");
    const shop = $("shop-kind").value;
    const reply = await this.api.expect(200, "POST", `/webhooks/${encodeURIComponent(shop)}/secret`,
      { secret: input.value });
    input.value = ""; // never kept on the page, whatever the answer
    this.answer(reply);
  }

  async saveCheckout() {
    const url = $("checkout-url").value.trim();
    const reply = url ? await this.api.expect(200, "POST", "/checkout", { url })
      : await this.api.expect(200, "DELETE", "/checkout");
    setText($("shop-result"), reply.ok ? this.words.saved : refusal(this.t, reply));
    $("shop-result").className = reply.ok ? "ok" : "error";
  }

  answer(reply) {
    setText($("shop-result"), reply.ok ? this.words.saved : refusal(this.t, reply));
    $("shop-result").className = reply.ok ? "ok" : "error";
    if (reply.ok) this.render(reply.body);
  }

  render(settings) {
    const w = this.words;
    fill($("shop-lines"), shopLines(settings).map((line) => h("li", { dataset: { shop: line.name } },
      h("b", {}, line.name), " ", h("code", {}, line.url), " ",
      line.hint ? h("span", { class: "shop-hint" }, `${line.hint} (${w.set} ${line.by})`)
        : h("span", { class: "error shop-hint" }, w.none))));
    if (settings && "checkout_url" in settings && document.activeElement !== $("checkout-url")) {
      $("checkout-url").value = settings.checkout_url || "";
    }
  }
}
