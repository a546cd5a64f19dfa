// What every page reads from its URL, and its calls to the HTTP API with the same token.

export function pageParams() {
  const q = new URLSearchParams(location.search);
  const lang = (q.get("lang") || navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  return { room: q.get("room") || "", token: q.get("token") || "", lang, query: q };
}

/** fetch with the page's token: resolves to {status, body}; status 0 when the node is unreachable.
 * `idempotencyKey`: sent as Idempotency-Key, so a retry of the same write gets the first answer.
 * `body.temporary` says whether sending the same write again makes sense (docs/protocol.md §2). */
export async function api(token, method, path, body, idempotencyKey) {
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: "bad_reply", detail: text }; }
    return { status: response.status, body: parsed };
  } catch (error) {
    return { status: 0, body: { error: "offline", detail: String(error), temporary: true } };
  }
}

/** Whether sending the same write again makes sense: the answer's own `temporary`, or, for an answer
 * that is not livecart's (a balancer's 502 or 503 page), any 5xx or 429 — as livecart.client does. */
export function isTemporary(reply) {
  if (reply.body && typeof reply.body.temporary === "boolean") return reply.body.temporary;
  return reply.status >= 500 || reply.status === 429;
}

export function roomPath(room, rest = "") {
  return `/api/rooms/${encodeURIComponent(room)}${rest}`;
}

/** The token's claims, read for display only (the server checks the signature, not us). */
export function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(payload))));
  } catch {
    return {};
  }
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; a console on a LAN address has none). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
