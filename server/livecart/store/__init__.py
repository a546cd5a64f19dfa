"""Redis: the one source of truth for room logs, counters, presence and (later) the deal ledger."""
