"""The gateway's side of PFS: the async client over the generated ``pfs_v2`` stubs (and the
``pfsd.Pages`` extension with its pachd fallback), hand-made wire bytes, PFS errors mapped to S3
errors, bucket references, and object metadata sidecars with their cache.

May import: ``gateway.s3``, ``gateway.metrics``, ``generated``. Never imports ``gateway.server``,
``gateway.ops``, ``gateway.explorer`` or ``handlers``.
"""
