"""Moodle 4.5/5.x through its REST web services: client (the choke point), typed errors, idempotent
operations, the ticket bank as Moodle XML, the provisioning steps and a stand-in site (``sandbox``)."""
