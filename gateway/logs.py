"""Logging setup: plain text lines, or one JSON object per line (``--log-json``).

The access log passes its fields as ``extra={"access": {...}}``: the text format shows them
in the message, the JSON format as top-level keys (method, operation, bucket, status, ...).
"""

from __future__ import annotations

import json
import logging
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, then the access fields or the message."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "access", None)
        if fields is not None:
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"), default=str)


def configure(level: str, json_lines: bool, access_log: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if not access_log:
        logging.getLogger("gateway.access").setLevel(logging.WARNING)
