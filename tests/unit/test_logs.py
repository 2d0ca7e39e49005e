"""Log formatting: the cached-timestamp text formatter writes what logging's own would."""

from __future__ import annotations

import logging

from gateway.server import logs


def test_text_formatter_matches_logging_formatter():
    ours, std = logs.TextFormatter(), logging.Formatter(logs.TEXT_FORMAT)
    for created in (1700000000.123, 1700000000.987, 1700000001.001, 1600000000.5):
        record = logging.LogRecord("gateway.access", logging.INFO, __file__, 1, "GET %s", ("/b/k",), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        assert ours.format(record) == std.format(record)
