"""The running gateway: configuration, the app factory, middleware, dispatch from the spec,
connexion tuning, logs, and the embedded PFS server as a child process.

May import every other part of ``gateway``; nothing in ``gateway`` imports it except
``gateway.__main__``. Handlers are reached by connexion through the spec's operationIds,
never imported here.
"""
