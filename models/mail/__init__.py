"""The mail domain: campaigns, sequences, the send ledger, the suppression list, templates.

Other domains use what is exported here: `enrol_on_event` in the transaction where a trial
starts, a fan confirms or a lead is created."""

from models.mail.sequences import enrol_on_event
from models.mail.tables import Trigger

__all__ = ["Trigger", "enrol_on_event"]
