"""Misbehaving ESMEs and raw PDU builders for the SMSC-role tests."""
