"""The benchmark harness: environment set-up, servers, wrk, machine checks and reporting.

Only ``paths``, ``setup_env`` and ``machine`` may be imported before the benchmark's own
virtualenv exists (they use the standard library alone); ``report`` needs matplotlib.
"""
