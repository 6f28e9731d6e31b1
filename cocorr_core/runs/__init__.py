"""Runs: run configurations, the result store, sweeps over any executor, and the ledger."""
