"""Shop webhooks as livecart order events (pure): Shopify's three order topics, and a generic mapping
of any shop's JSON (a documented mapping file: field paths -> order fields).

    outcome = shopify_order(topic, payload, webhook_id)      # Mapped or Unmapped
    outcome = mapping.order(payload)                         # OrderMapping from parse_mapping(doc)

A `Mapped` carries one ingest event map (`{"id", "type": "order", "user", "order_id", "product_id",
"qty", "amount", "status", "claim_id"?}`); it is validated like any ingested event afterwards
(events.validate_event), so a field a shop left out is refused there, with the field's name. An
`Unmapped` says why a delivery means nothing to livecart (a topic or a status it does not map): the
webhook answers 200 with that reason, so the shop does not retry it for days, and the source's
`unmapped` count shows it on the console.

**Which claim an order pays for.** The viewer page's checkout link carries the claim id to the shop
(docs/protocol.md "Checkout link"): as the cart attribute `livecart_claim` (Shopify copies cart
attributes into the order's `note_attributes`), or as a discount code `LC-<claim id>` for shops that
issue one code per claim. A refund's payload has neither, so the webhook remembers each order's claim
and passes it to `with_claim`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from livecart.errors import BadRequest
from livecart.events import ORDER_STATUSES, OrderStatus
from livecart.webhook_signature import ENCODINGS, Encoding

__all__ = ["CHECKOUT_FIELDS", "CLAIM_ATTRIBUTE", "CLAIM_CODE_PREFIX", "SHOPIFY_TOPICS", "Mapped",
           "OrderMapping", "Unmapped", "check_checkout_url", "claim_of_order", "event_id", "parse_mapping",
           "read_path", "shopify_order"]

CLAIM_ATTRIBUTE = "livecart_claim"
CLAIM_CODE_PREFIX = "LC-"
SHOPIFY_TOPICS: dict[str, OrderStatus] = {"orders/paid": "paid", "orders/cancelled": "cancelled",
                                          "refunds/create": "refunded"}
MAX_ID = 200


@dataclass(frozen=True, slots=True)
class Mapped:
    event: dict[str, Any]
    currency: str | None  # the shop's currency for the amount, when the payload says (checked by the room)

    @property
    def order_id(self) -> str:
        return str(self.event.get("order_id", ""))

    @property
    def claim_id(self) -> str | None:
        return self.event.get("claim_id")

    def with_claim(self, claim_id: str | None) -> Mapped:
        """The same order paying for `claim_id` (a remembered claim: refunds do not repeat it)."""
        if not claim_id or self.claim_id:
            return self
        return replace(self, event={**self.event, "claim_id": claim_id})


@dataclass(frozen=True, slots=True)
class Unmapped:
    reason: Literal["unknown_topic", "unknown_status", "test_order"]
    detail: str

    def to_wire(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}


def _id(value: Any) -> str | None:
    """An id as text (shops send numbers or strings); None when absent or unusable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and 1 <= len(str(value)) <= MAX_ID:
        return str(value)
    return None


def event_id(kind: str, key: str) -> str:
    """`<kind>:<key>`, within the 200 characters of an event id: a longer key (a shop's 200-character
    delivery or order id) is replaced by its digest, which names it as uniquely."""
    whole = f"{kind}:{key}"
    return whole if len(whole) <= MAX_ID else f"{kind}:#{hashlib.sha256(key.encode()).hexdigest()[:48]}"


def _amount(value: Any) -> Any:
    """A money value as a number: shops send "199.00" (exact decimal text) or a number. Anything else is
    passed through for events.validate_event to refuse with the field's name."""
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value
        return float(number) if number.is_finite() else value
    return value


def _total(values: Any) -> Any:
    """The exact sum of money values (text or numbers) as a number, or "" when one is not a number
    (events.validate_event then refuses the amount)."""
    total = Decimal(0)
    for value in values:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return ""
        if not number.is_finite():
            return ""
        total += number
    return float(total)


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _list(value: Any) -> list[Any]:
    """A payload's list, or [] for anything else a shop (or an attacker with the secret) put there."""
    return value if isinstance(value, list) else []


def claim_of_order(order: dict[str, Any]) -> str | None:
    """The livecart claim an order pays for: the `livecart_claim` note attribute, else a discount code
    `LC-<claim id>` (letters of the code compared without case, the id kept as written)."""
    for attribute in _list(order.get("note_attributes")):
        if isinstance(attribute, dict) and attribute.get("name") == CLAIM_ATTRIBUTE:
            claim = _id(attribute.get("value"))
            if claim:
                return claim.strip()
    for discount in _list(order.get("discount_codes")):
        code = discount.get("code") if isinstance(discount, dict) else None
        if isinstance(code, str) and code[:len(CLAIM_CODE_PREFIX)].upper() == CLAIM_CODE_PREFIX:
            claim = _id(code[len(CLAIM_CODE_PREFIX):].strip())
            if claim:
                return claim
    return None


def _shopify_buyer(customer: Any, order_id: str | None) -> dict[str, str]:
    """Who bought, as the ticker shows it: a first name and an initial, never a full name or an email
    (viewers and the overlay see the name: it is on the stream)."""
    if isinstance(customer, dict) and _id(customer.get("id")):
        first = str(customer.get("first_name") or "").strip()[:40]
        last = str(customer.get("last_name") or "").strip()
        name = f"{first} {last[0]}." if first and last else first or "Shopify customer"
        return {"id": f"shopify:{customer['id']}", "name": name}
    return {"id": f"shopify:order:{order_id or 'unknown'}", "name": "Shopify customer"}


def _first_line(items: Any) -> dict[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return {}


def _variant(line: dict[str, Any]) -> str | None:
    # livecart's product id for a Shopify product is its variant id: the id a cart link names.
    return _id(line.get("variant_id")) or _id(line.get("sku")) or _id(line.get("product_id"))


def _is_test(payload: dict[str, Any]) -> bool:
    """Shopify marks test orders (the admin's "Send test notification", a test payment gateway) with
    `"test": true`; a refund, on its transactions."""
    return payload.get("test") is True or any(isinstance(t, dict) and t.get("test") is True
                                               for t in _list(payload.get("transactions")))


def shopify_order(topic: str | None, payload: dict[str, Any], webhook_id: str, *,
                  count_tests: bool = False) -> Mapped | Unmapped:
    """Map one Shopify delivery. `orders/paid` and `orders/cancelled` carry an order; `refunds/create`
    a refund of one (its `order_id`, refunded line items, refund transactions). The event id is the
    webhook id, so a replayed delivery is a duplicate of the first. A test order is unmapped unless
    `count_tests` (a rehearsal): a "Send test notification" click must not add to a live show's GMV."""
    status = SHOPIFY_TOPICS.get(topic or "")
    if status is None:
        return Unmapped("unknown_topic", f"livecart maps {', '.join(SHOPIFY_TOPICS)}, not {topic!r}; "
                                         "unsubscribe this topic or ignore this answer")
    if not count_tests and _is_test(payload):
        return Unmapped("test_order", "Shopify marked this order as a test (a test notification or a test "
                                      "gateway): not counted; add ?test_orders=count to the webhook URL "
                                      "to count test orders while rehearsing")
    event: dict[str, Any] = {"id": event_id("shopify", webhook_id), "type": "order", "status": status}
    if status == "refunded":
        order_id = _id(payload.get("order_id"))
        refunded = _list(payload.get("refund_line_items"))
        line = _first_line(refunded)
        item: dict[str, Any] = line["line_item"] if isinstance(line.get("line_item"), dict) else {}
        paid_back = [t for t in _list(payload.get("transactions")) if isinstance(t, dict)
                     and t.get("kind") == "refund" and t.get("status") == "success"]
        if paid_back:
            amount = _total(t.get("amount") for t in paid_back)
            currency = paid_back[0].get("currency")
        else:  # a refund without money moved (a restock only): the refunded lines' subtotal
            amount = _total(x.get("subtotal") or 0 for x in refunded if isinstance(x, dict))
            currency = None
        qty = sum(_int(x.get("quantity")) for x in refunded
                  if isinstance(x, dict) and isinstance(_int(x.get("quantity")), int)) or 1
        event.update(order_id=order_id, product_id=_variant(item), qty=qty, amount=amount,
                     user={"id": f"shopify:order:{order_id or 'unknown'}", "name": "Shopify customer"})
    else:
        order_id = _id(payload.get("id"))
        line = _first_line(payload.get("line_items"))
        currency = payload.get("currency")
        event.update(order_id=order_id, product_id=_variant(line), qty=_int(line.get("quantity", 1)),
                     amount=_amount(payload.get("total_price")),
                     user=_shopify_buyer(payload.get("customer"), order_id))
        claim = claim_of_order(payload)
        if claim:
            event["claim_id"] = claim
    return Mapped({k: v for k, v in event.items() if v is not None},
                  currency if isinstance(currency, str) else None)


# ---- generic shops: a mapping file ----------------------------------------------------------------

_SEGMENT = re.compile(r"^(?P<name>[^.\[\]]+)(?:\[(?P<key>[^=\]]+)=(?P<value>[^\]]*)\])?$")
MAX_PATH = 200
MAX_SEGMENTS = 12
REQUIRED_FIELDS = ("order_id", "status", "amount", "product_id")
OPTIONAL_FIELDS = ("qty", "claim_id", "user_id", "user_name", "currency")
MAX_STATUSES = 50


def _parse_path(path: Any, field: str) -> tuple[tuple[str, str | None, str | None], ...]:
    if not isinstance(path, str) or not 1 <= len(path) <= MAX_PATH:
        raise BadRequest("bad_mapping", f"fields.{field} must be a path of 1-{MAX_PATH} characters")
    segments = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if match is None:
            raise BadRequest("bad_mapping",
                             f"fields.{field}: {part!r} is not a key, an index or key[field=value]")
        segments.append((match["name"], match["key"], match["value"]))
    if len(segments) > MAX_SEGMENTS:
        raise BadRequest("bad_mapping", f"fields.{field} has more than {MAX_SEGMENTS} segments")
    return tuple(segments)


def read_path(document: Any, path: tuple[tuple[str, str | None, str | None], ...]) -> Any:
    """The value at `path` in `document`, or None. A segment is a key of an object, an index of a list
    (`line_items.0.sku`), or `name[key=value]`: the first element of the list `name` whose `key` is
    `value` (`meta_data[key=livecart_claim].value`)."""
    value = document
    for name, key, wanted in path:
        if isinstance(value, dict):
            value = value.get(name)
        elif isinstance(value, list) and name.isdigit() and key is None:
            index = int(name)
            value = value[index] if index < len(value) else None
            continue
        else:
            return None
        if key is not None:
            if not isinstance(value, list):
                return None
            value = next((item for item in value if isinstance(item, dict)
                          and str(item.get(key)) == wanted), None)
    return value


@dataclass(frozen=True, slots=True)
class OrderMapping:
    """A shop's mapping file, checked: where each order field is, how its statuses read, how it signs."""

    document: dict[str, Any]  # as given (normalised), for the console to show
    paths: dict[str, tuple[tuple[str, str | None, str | None], ...]]
    statuses: dict[str, OrderStatus]
    signature_header: str
    signature_encoding: Encoding
    signature_prefix: str

    def order(self, payload: dict[str, Any]) -> Mapped | Unmapped:
        """The order event of one delivery. Its id is `orders:<order id>:<status>`: a shop that sends the
        same status twice (a retry, a second delivery) is counted once."""
        values = {name: read_path(payload, path) for name, path in self.paths.items()}
        raw_status = values.get("status")
        status = self.statuses.get(str(raw_status)) if raw_status is not None else None
        if status is None:
            known = ", ".join(sorted(self.statuses))
            return Unmapped("unknown_status",
                            f"status {raw_status!r} is not in the mapping's statuses ({known})")
        order_id = _id(values.get("order_id"))
        user_id = _id(values.get("user_id"))
        name = values.get("user_name")
        user = {"id": f"shop:{user_id}" if user_id else f"shop:order:{order_id or 'unknown'}",
                "name": str(name)[:100] if isinstance(name, str | int) and str(name) else "customer"}
        event: dict[str, Any] = {"id": event_id("orders", f"{order_id}:{status}"), "type": "order",
                                 "status": status,
                                 "order_id": order_id, "product_id": _id(values.get("product_id")),
                                 "qty": _int(values.get("qty")) if values.get("qty") is not None else 1,
                                 "amount": _amount(values.get("amount")), "user": user}
        claim = _id(values.get("claim_id"))
        if isinstance(claim, str) and claim[:len(CLAIM_CODE_PREFIX)].upper() == CLAIM_CODE_PREFIX:
            claim = claim[len(CLAIM_CODE_PREFIX):] or None
        if claim:
            event["claim_id"] = claim
        currency = values.get("currency")
        return Mapped({k: v for k, v in event.items() if v is not None},
                      currency if isinstance(currency, str) else None)


_HEADER = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def parse_mapping(doc: Any) -> OrderMapping:
    """Check a mapping file (docs/protocol.md "Generic order webhooks"); BadRequest `bad_mapping` names
    the first thing wrong."""
    if not isinstance(doc, dict):
        raise BadRequest("bad_mapping", "the mapping must be an object")
    unknown = set(doc) - {"signature", "fields", "statuses", "comment"}
    if unknown:
        raise BadRequest("bad_mapping", f"unknown keys: {', '.join(sorted(unknown))}")
    signature = doc.get("signature", {})
    if not isinstance(signature, dict) or set(signature) - {"header", "encoding", "prefix"}:
        raise BadRequest("bad_mapping", "signature must be {header, encoding, prefix}")
    header = signature.get("header", "X-Livecart-Hmac-Sha256")
    encoding = signature.get("encoding", "base64")
    prefix = signature.get("prefix", "")
    if not isinstance(header, str) or not _HEADER.match(header):
        raise BadRequest("bad_mapping", "signature.header must be a header name")
    if encoding not in ENCODINGS:
        raise BadRequest("bad_mapping", f"signature.encoding must be one of {', '.join(ENCODINGS)}")
    if not isinstance(prefix, str) or len(prefix) > 20:
        raise BadRequest("bad_mapping", "signature.prefix must be at most 20 characters")
    fields = doc.get("fields")
    if not isinstance(fields, dict):
        raise BadRequest("bad_mapping", "fields must map order fields to paths")
    extra = set(fields) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
    if extra:
        raise BadRequest("bad_mapping", f"unknown order fields: {', '.join(sorted(extra))} (known: "
                                        f"{', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)})")
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise BadRequest("bad_mapping", f"fields must name {', '.join(missing)}")
    paths = {name: _parse_path(path, name) for name, path in fields.items()}
    statuses = doc.get("statuses")
    if not isinstance(statuses, dict) or not 1 <= len(statuses) <= MAX_STATUSES:
        raise BadRequest("bad_mapping", f"statuses must map 1-{MAX_STATUSES} shop statuses to livecart's")
    for shop_status, ours in statuses.items():
        if ours not in get_args(OrderStatus) or len(shop_status) > 100:
            raise BadRequest("bad_mapping",
                             f"statuses.{shop_status[:100]} must be one of {', '.join(ORDER_STATUSES)}")
    normalised = {"signature": {"header": header, "encoding": encoding, "prefix": prefix},
                  "fields": dict(fields), "statuses": dict(statuses)}
    return OrderMapping(normalised, paths, dict(statuses), header, encoding, prefix)


# ---- the checkout link the viewer page opens after a claim ---------------------------------------

CHECKOUT_FIELDS = ("claim", "deal", "product", "qty")
MAX_CHECKOUT_URL = 1000
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_checkout_url(value: Any) -> str:
    """A checkout link template (400 `bad_checkout_url` otherwise): an https URL (http only on
    localhost, for trying it out) of at most 1000 characters naming `{claim}`, so the order can name the
    claim it pays for, and no placeholder but {claim}, {deal}, {product}, {qty}. The viewer page fills
    them in, URL-encoded. A Shopify cart link:
    `https://SHOP.myshopify.com/cart/{product}:{qty}?attributes[livecart_claim]={claim}`."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CHECKOUT_URL:
        raise BadRequest("bad_checkout_url", f"url must be a link of 1-{MAX_CHECKOUT_URL} characters")
    if not (value.startswith("https://") or re.match(r"^http://(localhost|127\.0\.0\.1)(:\d+)?/", value)):
        raise BadRequest("bad_checkout_url", "url must start with https:// (http:// only on localhost)")
    if any(c.isspace() or c in "\"'<>\\`" for c in value):
        raise BadRequest("bad_checkout_url", "url must not contain spaces, quotes, <, > or backslashes")
    names = _PLACEHOLDER.findall(value)
    unknown = sorted(set(names) - set(CHECKOUT_FIELDS))
    if unknown:
        raise BadRequest("bad_checkout_url", f"unknown placeholders {', '.join(unknown)}; known: "
                                             f"{', '.join('{' + f + '}' for f in CHECKOUT_FIELDS)}")
    if "claim" not in names:
        raise BadRequest("bad_checkout_url", "url must pass {claim} to the shop (a cart attribute "
                                             "livecart_claim, or a discount code LC-{claim})")
    return value
