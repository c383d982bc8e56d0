"""Fakes of the upstream services remote engines relay to: real HTTP servers on
loopback, written from each service's public documentation, with scripted faults."""
