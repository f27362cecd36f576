"""``python -m api``: serve the API with settings from SCF_* environment variables."""

from api.server import serve

if __name__ == "__main__":
    serve()
