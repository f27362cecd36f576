"""The organizations' signing keys in the database, for instances of the service on
several machines (a :class:`chain_client.keystore.KeyDocuments` place).

Why: a member's key is made by whichever instance onboarded it, and every instance must
sign for that member at once; files under one instance's ``<data>/keys/`` reach no other.
The row holds the very document a key file holds (scrypt + AES-256-GCM under the master
passphrase, checked and opened by :class:`chain_client.keystore.KeyStore` as a file is), so
the database holds nothing the passphrase does not protect, and each instance still needs
the passphrase (``SCF_MASTER_PASSPHRASE`` or ``_FILE``). The unique address makes "one key
per address" hold across instances creating keys at once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from api.models import SigningKey
from api.timeutil import utcnow
from chain_client.errors import KeyAlreadyExists, KeyNotFound, KeystoreError
from chain_client.keystore import KeyStore

log = logging.getLogger(__name__)


class DbKeyDocuments:
    """Sealed key documents in the ``signing_keys`` table."""

    finds_every_address = True  # the address is a column, unique

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(col(SigningKey.id)).order_by(col(SigningKey.id))).scalars()
            )

    def read(self, key_id: str) -> str:
        with self.engine.connect() as conn:
            text = conn.execute(
                select(col(SigningKey.document)).where(col(SigningKey.id) == key_id)
            ).scalar()
        if text is None:
            raise KeyNotFound(f"no key with id {key_id}")
        return str(text)

    def add(self, key_id: str, address: str, text: str) -> None:
        label = str(json.loads(text).get("label", ""))[:200]
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(SigningKey).values(
                        id=key_id, address=address, label=label, document=text, created_at=utcnow()
                    )
                )
        except IntegrityError:
            raise KeyAlreadyExists(f"a key for {address} is already stored") from None

    def remove(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(SigningKey).where(col(SigningKey.id) == key_id))
        if gone.rowcount != 1:
            raise KeyNotFound(f"no key with id {key_id}")

    def find(self, address: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(col(SigningKey.id)).where(col(SigningKey.address) == address)
            ).scalar()
        return None if found is None else str(found)

    def name(self, key_id: str) -> str:
        return f"stored key {key_id}"

    def location(self, key_id: str) -> Path | None:
        return None


def copy_folder_keys(folder: KeyStore, database: KeyStore) -> int:
    """Copy the keys of an instance's folder (made before its database held keys) into
    the database, sealed as they are; returns how many were new there. Keys the database
    already has (by address) are left alone, so every instance may run it at start."""
    copied = 0
    for info in folder.list():
        try:
            _, text = folder.sealed(info.id)
            database.add_sealed(text)
        except KeyAlreadyExists:
            continue
        except KeystoreError:
            log.warning("key %s of the data folder could not be copied to the database", info.id)
            continue
        copied += 1
    if copied:
        log.info("copied %d signing keys of %s into the database", copied, folder.directory)
    return copied
