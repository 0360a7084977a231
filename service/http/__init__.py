"""The HTTP API (Litestar): every command of the application, the main reads, operations.

- :mod:`service.http.app`: :func:`create_app`, the commands' routes, the request context;
- :mod:`service.http.services`: the :class:`Services` the app hands its handlers (by
  dependency injection);
- :mod:`service.http.views_reader`: the reads of the DuckDB views, wherever they are held;
- :mod:`service.http.command_routes`: one route per command, request bodies derived from the
  application's method signatures;
- :mod:`service.http.reads`: outcome state and history, rooms, topics, analytics;
- :mod:`service.http.export`: ``GET /audit/export`` (an audit bundle);
- :mod:`service.http.problems`: RFC 9457 ``application/problem+json`` errors;
- :mod:`service.http.bearer`: who is calling;
- :mod:`service.http.ops`: ``/healthz``, ``/readyz``, ``/metrics``;
- :mod:`service.http.metrics`: the Prometheus counters;
- :mod:`service.http.server`: uvicorn inside ``hsl serve``;
- :mod:`service.http.openapi`: writes ``docs/openapi.json``.
"""
