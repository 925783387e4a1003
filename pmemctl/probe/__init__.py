"""``pmemctl probe``: try the PMem call shapes on throw-away VMs of a real vCenter.

Modules, one job each:

* :mod:`~pmemctl.probe.result` — the saved result and the typed API ``apply`` reads;
* :mod:`~pmemctl.probe.target` — find and check the PMem host and shared datastore;
* :mod:`~pmemctl.probe.lab` — throw-away VMs, task waiting, faults, clean-up;
* :mod:`~pmemctl.probe.steps` — the six steps;
* :mod:`~pmemctl.probe.run` — run the steps, always clean up;
* :mod:`~pmemctl.probe.record` — the ``--record`` cassette;
* :mod:`~pmemctl.probe.render` — the table.
"""
