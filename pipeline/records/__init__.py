"""The typed records stages hand on, one per stage, each saved as JSON in the build folder:
train.json, approximate.json, convert.json, parity.json."""

from pipeline.records.approximate import (
           ApproximateRecord,
           AutoChoice,
           Candidate,
           FineTune,
           Site,
)
from pipeline.records.base import Model, Record
from pipeline.records.convert import CheckResult, ConvertRecord, IOTensor
from pipeline.records.parity import ParityRecord
from pipeline.records.train import TrainRecord

__all__ = ["ApproximateRecord", "AutoChoice", "Candidate", "CheckResult", "ConvertRecord",
           "FineTune", "IOTensor", "Model", "ParityRecord", "Record", "Site", "TrainRecord"]
