"""Helpers for the robustness tests (tests/test_robust_*.py): a link-cutting TCP proxy, the
gateway as a subprocess, and small config writers."""
