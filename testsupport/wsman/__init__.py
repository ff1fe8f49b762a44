"""A loopback WinRM service around the lab's simulated Windows hosts, for the real pypsrp client to talk to.

It needs psrpcore and pyspnego (the `test` extra); `endpoint` is where to start.
"""
