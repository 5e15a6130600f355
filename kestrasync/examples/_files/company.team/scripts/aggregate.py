"""Totals of yesterday's orders per region (read by the etl_daily flow: {{ read('scripts/aggregate.py') }})."""
import json

orders = json.load(open("orders.json"))
totals = {}
for order in orders:
    totals[order["region"]] = totals.get(order["region"], 0) + order["amount"]
print(totals)
