"""Who may use the gateway: request signatures (SigV4), configured key pairs and Pachyderm auth
tokens, and the decision for each request.

May import: ``gateway.s3`` and ``generated`` (pachd's auth API). Never imports
``gateway.server``, ``gateway.ops``, ``gateway.explorer`` or ``handlers``.
"""
