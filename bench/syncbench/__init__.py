"""The parts of ``bench/sync.py``: the client, the servers, the scenarios and the report."""
