"""One subpackage per paper, each behind a small front (its `__init__`) that its notebooks import.

A paper imports only the shared layers below it, never another paper. `cocorr_core.catalog`
(above every paper) lists them.
"""
