"""The loyalty domain: participants, wallets, the ledger, orders and refunds.

Knows nothing of HTTP, GraphQL or any job queue (`jobs` only says what work a queue is
handed); `schema/` and `workers/` call in here.
"""
