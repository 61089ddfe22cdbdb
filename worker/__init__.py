"""formicr worker: classifier, reading pipeline, CSV output, Celery app and CLI."""

__version__ = "0.1.0"
