"""schemathesis hooks of ``tests/api/test_schemathesis.py``; schemathesis imports this
module inside ``.venv-fuzz`` (so it imports nothing of the project).

``filter_case``: the run never revokes an API key it authenticates with. It would be a
valid request (an organization may revoke any of its keys, the one in use included), but
every request after it answers 401 and the rest of the run tests nothing; within a few
hundred cases the coverage phase's boundary values (org 1, key 1) hit exactly that for the
operator. Revocation stays fuzzed on every other id, and the stateful phase revokes keys
the run created itself (the ``RevokeApiKey`` link).

``before_call``: every schema-valid ``Idempotency-Key`` is made unique, as a client's key
is unique to one intended command. schemathesis draws the same few keys again and again
(its coverage phase sends one boundary value with every body it tries), and the API
answers a key reused for a different request with 422 ``idempotency_key_reused`` (as the
IETF Idempotency-Key draft demands), so most commands never reached their own logic. A
key generated invalid (negative header) is sent as it is; replays of one key are the
subject of ``tests/api/test_reliability.py``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

#: the ids of the keys the run sends (set by the test for each run)
OWN_KEY_IDS = frozenset(os.environ.get("SCF_FUZZ_OWN_KEY_IDS", "").split(","))


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    if case.method.upper() != "DELETE" or not case.path.endswith("/api-keys/{key_id}"):
        return True
    return str((case.path_parameters or {}).get("key_id")) not in OWN_KEY_IDS


_serial = itertools.count()


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    if name is None or (
        case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    ):
        return
    # at most 150 + 1 + 20 + 1 + 32 characters: inside the declared 1..200
    headers[name] = f"{str(headers[name])[:150]}.{next(_serial)}-{uuid.uuid4().hex}"
