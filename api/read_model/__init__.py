"""The read model: the ledger's events and records in the database, for queries the chain
cannot answer quickly (lists, histories, reports).

One job per module: :mod:`~api.read_model.projector` writes it (the only writer, in the
indexing process), :mod:`~api.read_model.rows` says what an event means for its rows,
:mod:`~api.read_model.checkpoints` keeps the reader's progress in the same transactions,
:mod:`~api.read_model.progress` tells a process's waiting requests when it covers their
block. :mod:`api.indexer` runs them in each process.
"""
