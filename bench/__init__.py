"""stocksbot's benchmark: the same workloads through stocksbot, the raw driver and SQLAlchemy 2 ORM.

Run it from the repository root::

    python -m bench                    # the full run, both engines (several minutes)
    python -m bench --quick            # about a minute: small sizes, 3 rounds
    python -m bench --engine sqlite    # one engine
    python -m bench --scaling          # W3, W4, W5 at 1x, 10x, 100x the data
    python -m bench.parts              # the read and fill paths' steps, before and after each optimisation
    python -m bench.instructions       # instructions per operation under callgrind, stocksbot vs raw (SQLite)

Each implementation runs in its own worker process (so its imports, caches and memory
are its own); the driver process sends the workloads to the workers interleaved,
A B C A B C ..., round after round, and checks that every implementation produced the
same results before it prints a single timing. See docs/performance.md.

Modules: ``common`` (sizes, data, databases, digests), ``impl_stocksbot``, ``impl_raw``,
``impl_sqlalchemy`` (the three implementations), ``worker`` (the worker loop), ``coldstart``
(W6, a new process), ``report`` (the tables), ``run`` (the driver), ``sa_models`` (the ORM
models), ``parts`` (single steps timed the old way and the new way), ``instructions`` (W1-W5
counted by callgrind instead of timed).
"""
