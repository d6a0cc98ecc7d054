"""Errors of the classifier stage (each message is one line)."""
from __future__ import annotations

from sijscan.errors import InputError, ModelError, SijscanError


class ClassifierInputError(InputError):
    """Training/prediction inputs (manifest, view, images, arguments) cannot be used."""


class InitWeightsError(InputError):
    """The requested initial weights cannot be obtained or do not fit the network."""


class PublishedCheckpointError(ModelError):
    """The authors' checkpoint is unreadable or does not hold the expected network."""


class TrainingInterrupted(SijscanError):
    """Training was stopped on purpose (a test or a callback); ``--resume`` continues it."""
