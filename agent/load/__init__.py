"""Throughput under load: the offline and server scenarios (docs/ranking.md, "Scenarios").

Single-stream measures one request at a time. Here several executors (each its own session or
interpreter, with the job's intra-op threads split between them) serve requests at once:

* ``arrivals``: the server scenario's open-loop Poisson schedule;
* ``engine``: executors serving a schedule (server) or a standing queue (offline), with each
  request's scheduled arrival, start and end kept;
* ``search``: the peak QPS that meets a percentile bound (bisection, pure);
* ``scenario``: the worker's glue (load the executors, batch the inputs, sweep, search).
"""
