"""rapport: a client of the rapport workers over ZeroMQ.

    import rapport
    with rapport.Client() as c:                      # /etc/rapport/rapport.conf
        entry = c.create_interaction(fields=rapport.ia.InteractionFields(
            contact_no="K01", interaction_template_code="CALL"))
    for event in rapport.Subscriber(after_seq=saved):
        handle(event)
        saved = ...                                  # persist event.seq

Client (client.py): a method per command of rapport-interaction,
rapport-segment and rapport-logwriter, with request ids, retries under the
same id and errors (errors.py). Subscriber (subscriber.py): the event
stream with gap recovery. The message classes are rapport.v1.*_pb2,
generated from the .proto contract, also reachable as rapport.common,
rapport.ia, rapport.sg and rapport.lw."""
from rapport.v1 import common_pb2 as common
from rapport.v1 import interaction_pb2 as ia
from rapport.v1 import logwriter_pb2 as lw
from rapport.v1 import segment_pb2 as sg
from rapport.config import Config, ConfigError
from rapport.errors import *  # noqa: F401,F403 - RapportError and one class per code
from rapport import errors
from rapport.errors import RapportError
from rapport.client import Client, new_request_id, result
from rapport.subscriber import Subscriber

__all__ = ["Client", "Subscriber", "Config", "ConfigError", "RapportError", "new_request_id",
           "result", "common", "ia", "lw", "sg"] + errors.__all__
