"""The control plane's use cases, one per module, over the small ports in `ports`.

Nothing here imports an adapter (boto3, PynamoDB) or a handler; `headshot.wiring` builds
the use cases with the adapters, and `tests/fakes.py` builds them with in-memory ones.
"""
