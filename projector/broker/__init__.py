"""The broker edge: connection, topology, publisher and consumer are the modules importing kombu.

Submodules are imported directly (`projector.broker.consumer`, ...) so that code needing
only the wire format or the batch handling does not pull kombu in.
"""
