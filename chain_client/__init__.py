"""chain_client: the one package of the project that talks to the chain.

Generic EVM JSON-RPC transport (compile, keys, send/track transactions, decode reverts,
follow events, run a local node). Contract-specific clients are built on top of it and
take an ABI + address; nothing in here knows the ledger's contracts.
"""
