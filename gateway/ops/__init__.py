"""S3 semantics over PFS that several handlers (and the explorer) share: objects and their
ETags, upload bodies, listings, history, copies, multi-deletes and multipart uploads.

May import: ``gateway.s3``, ``gateway.auth``, ``gateway.pfs``, ``generated``. Never imports
``gateway.server``, ``gateway.explorer`` or ``handlers``.
"""
