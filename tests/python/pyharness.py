"""What the Python package's tests share: the integration harness (workers
on temporary sockets and stores), the package on the path, and a small
catalog to record interactions against."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402,F401  (puts RAPPORT_PY_PROTO, the built package, on the path)
import rapport  # noqa: E402

ia = rapport.ia


def seed(client, contacts=20):
    """A group, a salesperson, the template CALL and contacts K00.."""
    client.put_group(code="calls", description="Calls")
    client.put_salesperson(code="JO", name="Jo")
    client.put_template(code="call", description="Phone call", interaction_group_code="calls",
                        unit_cost_cents=120, unit_duration_min=10)
    client.import_contacts(contacts=[
        ia.Contact(no="K%02d" % i, name="Contact %d" % i, type=rapport.common.CONTACT_TYPE_PERSON,
                   salesperson_code="JO") for i in range(contacts)])


def create(client, contact="K01", **kw):
    """One interaction with the template CALL; its Entry."""
    return client.create_interaction(
        origin=ia.ORIGIN_CONTACT,
        fields=ia.InteractionFields(contact_no=contact, interaction_template_code="call"),
        **kw)
