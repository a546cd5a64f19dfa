"""Settings: one frozen object, built once from CLI flags and LIVECART_* environment variables.

Precedence: CLI flag > environment > default. Nothing else in livecart reads the environment; pure code
receives plain arguments (tick_ms, max_bytes), never Settings.

Each value is parsed by its field's type (`parse_setting`), and a value that does not parse stops the node
with an error naming the setting:

- `int`, `float`: Python's number syntax (`20000`, `20_000`, `0.5`);
- durations are numbers with the unit in the name (`hold_s`, `tick_ms`, `deal_retention_days`): `90`,
  not `90s`;
- `bool`: 1/0, true/false, yes/no, on/off (any case);
- lists (`tuple[X, ...]`): comma-separated, blanks around and empty entries ignored;
- `X | None`: unset (or empty) keeps the default, anything else is read as X.
"""

from __future__ import annotations

import os
import secrets
import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from livecart.client_ip import Networks
from livecart.money import check_currency

__all__ = ["Secret", "Settings", "cluster_address", "load_or_create_secret", "mask_password", "parse_setting"]

DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = "./livecart-data"
SECRET_FILE = "secret"


def cluster_address(redis_url: str) -> tuple[str, int] | None:
    """(host, port) of a seed node for `redis+cluster://host:port`, None for a plain Redis URL."""
    if not redis_url.startswith("redis+cluster://"):
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    if not parts.hostname:
        raise ValueError(f"a cluster URL needs a host: {redis_url!r}")
    return parts.hostname, parts.port or 6379


def mask_password(url: str) -> str:
    """`url` fit for a log or a terminal: a password in it (redis://user:pw@host, or redis-py's
    `?password=`) becomes `***`."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "<unparseable url>"
    masked = url
    if password:
        netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
        masked = masked.replace(parts.netloc, netloc, 1)
    if any(name == "password" for name, _ in query):
        masked = masked.partition("?")[0] + "?" + urlencode(
            [(n, "***" if n == "password" else v) for n, v in query], safe="*")
    return masked


class Secret(str):
    """A string that never shows its value in a repr or a log line."""

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    redis_url: str | None = None  # None: start and supervise our own redis-server under data_dir
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    secret: Secret = field(default=Secret(""), repr=False)
    # Origins (scheme://host[:port]) besides this node's own that may open host and assistant sockets
    # from a browser (e.g. a console behind another domain).
    allowed_origins: tuple[str, ...] = ()
    # Secrets still accepted for tokens (not used to sign): a rotation's grace period.
    previous_secrets: tuple[Secret, ...] = field(default=(), repr=False)
    node_id: str = ""
    # Node processes `livecart serve` runs on the one port (SO_REUSEPORT), supervised; 0: one per core
    # (the cores this process may run on). 1 is a single process with no supervisor.
    workers: int = 0
    # A second port answering only /healthz and /metrics (0: none), so that Prometheus can scrape each
    # process: worker k of `--workers N` takes metrics_port + k.
    metrics_port: int = 0
    # Bind the port with SO_REUSEPORT, so that several processes share it and the kernel spreads new
    # connections over them (every worker of `--workers N` does; a lone node does not, so a second one
    # started on its port by mistake fails instead of quietly taking half the connections).
    reuse_port: bool = False
    redis_server: str = "redis-server"  # binary used for the embedded default
    # The embedded redis-server's maxmemory (policy noeviction: never silently lose a claim). A shared
    # Redis (--redis-url) is configured by its operator (docs/operations.md "Memory").
    redis_maxmemory: str = "1gb"
    # Fan-out
    tick_ms: int = 50  # a room flushes at most once per tick (immediately when it was quiet)
    max_tick_ms: int = 150  # the tick grows with room size (batch.tick_for) up to this
    state_tick_ms: int = 200  # frames with only moving numbers (stock left, viewers) at most this often
    # A frame goes out to this many sockets per event-loop pass; the node reads between two slices.
    fanout_slice: int = 400  # hub.FANOUT_SLICE says why this size
    # Socket input read per event-loop pass (intake.py): a rush's burst is read, sent to Redis and
    # answered in slices this size instead of all at once.
    intake_messages: int = 128
    intake_ms: float = 3.0
    outbound_max_bytes: int = 4 * 1024 * 1024  # a socket further behind than this is closed (1013)
    outbound_high_water: int = 64 * 1024  # above this, counter-only frames wait and coalesce
    max_inbound_bytes: int = 64 * 1024
    heartbeat_s: float = 20.0
    # How often a node rereads the revocations of its rooms and closes the sockets they name (the
    # published message closes them at once; this bounds the delay when a node missed it).
    revocation_check_s: float = 2.0
    presence_s: float = 2.0
    # Room log
    history_max: int = 20_000
    history_max_age_s: int = 24 * 3600
    dedup_window_s: int = 24 * 3600
    # Ingest and limits
    ingest_max_body: int = 1024 * 1024
    # One request's events go to Redis as one atomic append: its size bounds how long every other room on
    # that Redis waits behind it (a 1 MiB body was ~20,000 events in one call).
    ingest_max_events: int = 500
    # Events (not requests) per second per token identity and node: a request of 500 events costs 500.
    ingest_rate: float = 5000.0
    ingest_burst: int = 10_000  # at least ingest_max_events, or a full request could never pass
    comment_rate: float = 1.0  # viewer comments per second per user
    comment_burst: int = 5
    claim_rate: float = 5.0  # claims per second per user and node (a person taps; a script floods)
    claim_burst: int = 20
    # New sockets per second per node; past it, upgrades get 503 busy. About what one core connects (a
    # connect costs the node ~320 us of CPU): a herd beyond it waits its turn instead of timing out.
    connect_rate: float = 3000.0
    connect_retry_max_s: int = 30  # the longest Retry-After of a 503 busy (it grows with the backlog)
    # Per client IP, per node (docs/operations.md "Per-IP limits"). Loose on purpose: a campus, an office
    # or a mobile carrier's NAT puts hundreds of viewers behind one address. A rate of 0 (or a maximum
    # of 0) turns that limit off.
    trusted_proxies: str = ""  # comma-separated IPs/CIDRs of balancers whose X-Forwarded-For is believed
    ip_limit_exempt: str = "127.0.0.0/8,::1"  # clients no per-IP limit applies to (load tools, probes)
    ip_max_connections: int = 1000  # open sockets per IP; past it, upgrades get 429 too_many_connections
    # Connections per IP that have not completed a request head yet; past it, new ones get 429 at once.
    # Real clients finish in milliseconds; slowloris-style and silent connections pile up here.
    ip_max_unfinished: int = 64
    handshake_timeout_s: float = 10.0  # accept → complete request head (or upgrade answered), else 408
    ip_connect_rate: float = 50.0  # new sockets per second per IP; past it, upgrades get 429 rate_limited
    ip_connect_burst: int = 200
    ip_claim_rate: float = 200.0  # new claims per second per IP (HTTP and sockets)
    ip_claim_burst: int = 1000
    ip_comment_rate: float = 50.0  # viewer comments per second per IP
    ip_comment_burst: int = 200
    # Flash deals
    hold_s: float = 300.0  # a successful claim holds its units this long, waiting for payment
    # A deal's keys, claim records and holds are removed this long after it closed (the report can be
    # made until then): Redis does not grow with every deal ever run.
    deal_retention_days: float = 7.0
    # A room with no sockets and no ingest for this long is deleted, all of it (0: never).
    room_retention_days: float = 30.0
    price_floor: float = 0.10  # deal prices under this share of list price need "confirm": true
    # A room's currency until an assistant sets one (POST /api/rooms/{room}/currency); ISO 4217.
    default_currency: str = "CNY"
    shutdown_timeout_s: float = 8.0
    # Cues and statistics
    cue_rules: str = ""  # a TOML rules file; "" for the built-in livecart/cue_rules.toml
    cue_lang: str = "zh"  # the language of a cue's `text` (both are in `texts`)
    # How often the director steps its rooms (cues, live stats). Rules count in whole seconds: a
    # shorter step reacts sooner, never differently (the suite's director tests run at 0.2 s).
    director_step_s: float = 1.0
    stats_retention_days: float = 30.0  # stats, cues and funnels are kept this long after a room's last fold

    @property
    def allowed_origin_list(self) -> frozenset[str]:
        return frozenset(self.allowed_origins)

    @property
    def token_keys(self) -> tuple[str, ...]:
        """The secrets a token may be signed with: the current one first, then the previous ones."""
        return (self.secret, *self.previous_secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
        """Build settings: `overrides` (parsed CLI flags, None meaning 'not given') win over LIVECART_*."""
        values: dict[str, Any] = {}
        hints = _field_types()
        for f in fields(cls):
            given = (overrides or {}).get(f.name)
            raw = given if given is not None else environ.get("LIVECART_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = parse_setting(f.name, hints[f.name], raw)
        settings = cls(**values)
        for name in ("trusted_proxies", "ip_limit_exempt"):
            try:
                Networks.parse(getattr(settings, name))
            except ValueError as exc:
                raise ValueError(f"setting {name}: {exc}") from None
        try:
            check_currency(settings.default_currency)
        except ValueError as exc:
            raise ValueError(f"setting default_currency: {exc}") from None
        if settings.ingest_max_events < 1 or settings.ingest_burst < settings.ingest_max_events:
            raise ValueError("setting ingest_burst must be at least ingest_max_events (>= 1): a request of "
                             "ingest_max_events events must be able to pass the rate limit")
        if not 0 < settings.director_step_s <= 1:
            # Over 1 s a room's 3 s director lease could lapse between two steps of its holder.
            raise ValueError("setting director_step_s must be over 0 and at most 1")
        if settings.workers < 0:
            raise ValueError("setting workers: cannot be negative (0 means one per core)")
        if not settings.node_id:
            settings = replace(settings, node_id=uuid.uuid4().hex[:12])
        if not settings.secret:
            settings = replace(settings, secret=load_or_create_secret(settings.data_dir))
        return settings


def load_or_create_secret(data_dir: Path) -> Secret:
    """The signing secret kept in the data dir, generated on first use (mode 0600)."""
    path = Path(data_dir) / SECRET_FILE
    try:
        return Secret(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return Secret(value)


@cache
def _field_types() -> dict[str, Any]:
    # The annotations are strings (postponed evaluation): resolve them once.
    return get_type_hints(Settings)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_UNITS = {"_ms": "milliseconds", "_s": "seconds", "_days": "days"}  # a duration's unit is in its name


def parse_setting(name: str, kind: Any, raw: object) -> Any:
    """`raw` (text from the environment or a flag, or a value argparse already typed) as a value of the
    setting `name`'s type `kind`; ValueError naming the setting and saying what was expected."""
    try:
        return _parse(kind, raw)
    except ValueError as exc:
        unit = next((u for suffix, u in _UNITS.items() if name.endswith(suffix)), None)
        wanted = f"a number of {unit} (the unit is in the name)" if unit and kind in (int, float) \
            else _describe(kind)
        raise ValueError(f"setting {name}: cannot read {raw!r} as {wanted}") from exc


def _parse(kind: Any, raw: object) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):  # X | None: a value given is an X
        (inner,) = (a for a in get_args(kind) if a is not type(None))
        return _parse(inner, raw)
    if origin is tuple:  # tuple[X, ...]: comma-separated
        (item, _) = get_args(kind)
        parts = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(parts, list | tuple):
            raise ValueError(f"not a list: {raw!r}")
        return tuple(_parse(item, p.strip() if isinstance(p, str) else p) for p in parts
                     if not isinstance(p, str) or p.strip())
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"not a boolean: {raw!r}")
    if kind is int or kind is float:
        # bool is an int subclass, never meant as a number here; a float is no int (no silent truncation)
        if isinstance(raw, str) or (isinstance(raw, int | float) and not isinstance(raw, bool)
                                    and (kind is float or isinstance(raw, int))):
            return kind(raw)
        raise ValueError(f"not a number: {raw!r}")
    if kind in (str, Secret, Path):
        if not isinstance(raw, str | Path):
            raise ValueError(f"not text: {raw!r}")
        return kind(raw)
    raise TypeError(f"no parser for settings of type {kind!r}")


def _describe(kind: Any) -> str:
    if get_origin(kind) in (Union, types.UnionType):
        return _describe(next(a for a in get_args(kind) if a is not type(None)))
    if get_origin(kind) is tuple:
        return f"a comma-separated list of {_describe(get_args(kind)[0])}"
    if kind is bool:
        return "a boolean (1/0, true/false, yes/no, on/off)"
    return {int: "an integer", float: "a number", Path: "a path"}.get(kind, "text")
