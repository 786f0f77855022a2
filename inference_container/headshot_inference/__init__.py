"""The inference container: the SageMaker HTTP contract, the backends and fidelity scoring.

Photo decoding and face analysis come from the shared `headshot` domain package, so the
container judges faces exactly as the validator Lambda does.
"""

__version__ = "0.1.0"
