"""The loyalty domain: participants, wallets, the ledger, orders and refunds.

Knows nothing of HTTP, GraphQL or job queues; `schema/` and `workers/` call in here.
"""
