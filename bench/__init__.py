"""Benchmarks for Privacy Vault: `python -m bench records` (see bench/README.md).

Everything runs on this machine only: a throwaway `bao server -dev`, the real service and
the baseline apps as subprocesses on 127.0.0.1, and a bounded client workload.
"""
