"""Idempotent commands, one module per job.

A command is one journal row per request: its transaction stored before it is broadcast,
its answer stored once known. The guarantees, and which module keeps each:

* Same ``Idempotency-Key`` (per organization) -> same stored answer, replayed with
  ``Idempotent-Replayed: true``; a different request under a used key is refused (422
  ``idempotency_key_reused``); a key whose first request is still running answers 409
  ``request_in_progress`` (:mod:`~api.commands.claims`, :mod:`~api.commands.replay`).
* Never a second transaction: the signed raw transaction and its hash are committed
  *before* the broadcast (:mod:`~api.commands.journal`, through
  :meth:`api.chain.ChainGateway.send_journaled`). A retry, or reconciliation at start-up,
  finds the hash and waits for *that* transaction (re-broadcasting the same bytes if the
  node lost it) instead of signing anew (:mod:`~api.commands.recovery`).
* A command that died before signing sent nothing; it is marked ``aborted`` at start-up
  and a retry with the same key simply runs it.
* Every command ends in the audit log, in the transaction that stores its answer (who,
  what, when, outcome, transaction), and so does its effect on the API's own rows
  (:mod:`~api.commands.writer`, which batches them under load).
* Read-your-writes: a mined command answers once the read model covers its block
  (:meth:`api.indexer.Indexer.wait_indexed`, in :mod:`~api.commands.completion`).
* Several worker processes: a same-key request that finds the command ``signed`` in
  another process waits for it (409 ``request_in_progress``) instead of finishing it too,
  unless the row has not moved for ``resume_after`` seconds (its process died).

:mod:`~api.commands.runner` puts the steps in order and returns a plain
:class:`~api.commands.replay.CommandResult`; :func:`api.commands.http.command_response` is
the one place a result becomes an HTTP response.
"""
