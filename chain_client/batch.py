"""Many eth_calls in few round trips: JSON-RPC batches, optionally in parallel.

Why not web3's contract calls: a verifier reading 10,000 fragments would spend most of
its time in web3's per-call formatting and in 10,000 HTTP round trips. Here calldata is
built by the caller (selector + words), sent as JSON-RPC batch requests of ``batch_size``
calls, ``workers`` batches at a time, all pinned to one block so the reads form one
consistent snapshot, and results come back as raw bytes for cheap fixed-layout decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from chain_client.errors import ChainClientError, ContractRevert
from chain_client.reverts import ErrorDecoder


class BatchCallError(ChainClientError):
    """A batched call failed for a reason other than a revert (node error, bad reply)."""


def encode_uint_call(selector: bytes, *values: int) -> str:
    """Calldata for a function whose arguments are all uint256 (or address as int)."""
    return "0x" + selector.hex() + "".join(f"{v:064x}" for v in values)


def words(data: bytes) -> list[int]:
    """A return value of static types split into 32-byte words as ints."""
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


def word_address(word: int) -> str:
    return to_checksum_address(word.to_bytes(32, "big")[12:])


class BatchCaller:
    """eth_call many calldatas against one contract, in batches, pinned to a block."""

    def __init__(
        self,
        w3: Web3,
        *,
        batch_size: int = 500,
        workers: int = 4,
        decoder: ErrorDecoder | None = None,
    ) -> None:
        if batch_size < 1 or workers < 1:
            raise ValueError("batch_size and workers must be >= 1")
        self.w3 = w3
        self.batch_size = batch_size
        self.workers = workers
        self.decoder = decoder

    def call_many(
        self, to: str, calldatas: Sequence[str], *, block: int | str = "latest"
    ) -> list[bytes | ContractRevert]:
        """Results in order: return data, or the decoded revert of that one call."""
        target = to_checksum_address(to)
        tag = hex(block) if isinstance(block, int) else block
        chunks = [
            calldatas[i : i + self.batch_size] for i in range(0, len(calldatas), self.batch_size)
        ]
        if not chunks:
            return []
        if len(chunks) == 1 or self.workers == 1:
            parts = [self._one_batch(target, chunk, tag) for chunk in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(chunks))) as pool:
                parts = list(pool.map(lambda c: self._one_batch(target, c, tag), chunks))
        return [item for part in parts for item in part]

    def _one_batch(
        self, to: str, calldatas: Sequence[str], tag: str
    ) -> list[bytes | ContractRevert]:
        requests = [("eth_call", [{"to": to, "data": data}, tag]) for data in calldatas]
        provider: Any = self.w3.provider
        try:
            responses = provider.make_batch_request(requests)
        except Exception as exc:
            raise BatchCallError(f"batch of {len(requests)} eth_call failed: {exc}") from exc
        if not isinstance(responses, list):
            error = responses.get("error") if isinstance(responses, dict) else responses
            raise BatchCallError(f"node refused the batch: {error}")
        by_id = sorted(responses, key=lambda r: int(r.get("id", 0)))
        if len(by_id) != len(requests):
            raise BatchCallError(f"asked {len(requests)} calls, got {len(by_id)} answers")
        results: list[bytes | ContractRevert] = []
        for response in by_id:
            if response.get("error"):
                error = response["error"]
                data = error.get("data") if isinstance(error, dict) else None
                if isinstance(data, dict):
                    data = data.get("data")
                if self.decoder is not None and (
                    isinstance(data, str) or "revert" in str(error).lower()
                ):
                    results.append(self.decoder.decode(data if isinstance(data, str) else None))
                    continue
                raise BatchCallError(f"eth_call failed: {error}")
            result = response.get("result")
            results.append(bytes.fromhex(str(result)[2:]) if result else b"")
        return results
