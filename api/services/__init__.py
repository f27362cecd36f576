"""Business rules of the API that are not HTTP: who may see what, onboarding, responses."""
