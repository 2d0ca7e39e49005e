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


def test_text_formatter_matches_with_an_exception():
    ours, std = logs.TextFormatter(), logging.Formatter(logs.TEXT_FORMAT)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("gateway", logging.ERROR, __file__, 1, "failed %s", ("x",),
                                   sys.exc_info())
    assert ours.format(record) == std.format(record) and "ValueError: boom" in ours.format(record)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_access_log_records_are_what_logger_info_makes(monkeypatch):
    """AccessLog's record carries what ``logger.info(message, extra=...)``'s would (with the
    call-site look-up off, as logs.configure sets it), and goes to the same handlers (the text
    and JSON lines come out the same)."""
    monkeypatch.setattr(logging, "_srcfile", None)
    logger = logging.getLogger("test.access.records")
    keep = _Keep()
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        fields = {"method": "GET", "status": 200}
        logger.info("GET /b/k %s", "200", extra={"access": fields})
        logs.AccessLog(logger).write("GET /b/k 200", fields)
    finally:
        logger.removeHandler(keep)
    theirs, ours = keep.records
    times = {"created", "msecs", "relativeCreated", "msg", "args"}
    assert {k: v for k, v in vars(ours).items() if k not in times} == \
        {k: v for k, v in vars(theirs).items() if k not in times}
    assert ours.getMessage() == theirs.getMessage() == "GET /b/k 200"
    assert abs(ours.created - theirs.created) < 5 and 0 <= ours.msecs < 1000
    assert abs(ours.relativeCreated - theirs.relativeCreated) < 5000
    for formatter in (logs.TextFormatter(), logs.JSONFormatter()):
        ours.created, ours.msecs = theirs.created, theirs.msecs
        assert formatter.format(ours) == formatter.format(theirs)
