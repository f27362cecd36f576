"""The HTTP service of the supply-chain finance ledger (FastAPI + SQLModel).

Entry points: :func:`api.app.create_app` (an ASGI app for given settings) and
:func:`api.server.serve` (run it with uvicorn). See api/README.md for the endpoints.
"""
