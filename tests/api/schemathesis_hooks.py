"""schemathesis hooks of ``tests/api/test_schemathesis.py``; schemathesis imports this
module inside ``.venv-fuzz`` (so it imports nothing of the project).

One hook: the run never revokes the API key it authenticates with. It would be a valid
request (an organization may revoke any of its keys, the one in use included), but every
request after it answers 401 and the rest of the run tests nothing; within a few hundred
cases the coverage phase's boundary values (org 1, key 1) hit exactly that for the
operator. Revocation stays fuzzed on every other id, and the stateful phase revokes keys
the run created itself (the ``RevokeApiKey`` link).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

#: the id of the key the run sends (set by the test for each run)
OWN_KEY_ID = os.environ.get("SCF_FUZZ_OWN_KEY_ID", "")


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    if case.method.upper() != "DELETE" or not case.path.endswith("/api-keys/{key_id}"):
        return True
    return str((case.path_parameters or {}).get("key_id")) != OWN_KEY_ID
