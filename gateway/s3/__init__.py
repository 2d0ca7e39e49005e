"""The S3 protocol, with no PFS in it: error constructors, XML rendering, bucket and key names,
conditional requests, aws-chunked framing and checksums.

May import: the standard library, third-party libraries, ``gateway.lean`` and ``gateway.metrics``.
Never imports another part of ``gateway``, ``handlers`` or ``generated``.
"""
