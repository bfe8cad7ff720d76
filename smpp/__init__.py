"""SMPP 3.4 wire layer: codec, USSD mapping, ESME client, SMSC server and simulator.

This package imports neither ``menus`` nor ``ussd_gateway``.
"""
