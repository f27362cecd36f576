"""The chain_client tests (plain pytest over their own anvil nodes)."""
