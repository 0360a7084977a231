"""The HTTP API (Litestar): every command of the application, the main reads, operations.

- :mod:`service.http.app`: :func:`create_app` and the :class:`Services` it serves;
- :mod:`service.http.catalogue`: one route per command, request bodies derived from the
  application's method signatures;
- :mod:`service.http.reads`: outcome state and history, rooms, topics, analytics, export;
- :mod:`service.http.problems`: RFC 9457 ``application/problem+json`` errors;
- :mod:`service.http.bearer`: who is calling;
- :mod:`service.http.ops`: ``/healthz``, ``/readyz``, ``/metrics``;
- :mod:`service.http.metrics`: the Prometheus counters;
- :mod:`service.http.server`: uvicorn inside ``hsl serve``;
- :mod:`service.http.openapi`: writes ``docs/openapi.json``.
"""
