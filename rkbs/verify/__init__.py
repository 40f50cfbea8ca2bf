"""Verdicts and certificates: the numbers behind every claim check (MATH.md §4)."""

from rkbs.verify.report import CheckResult, all_passed, check, format_table, write_json

__all__ = ["CheckResult", "all_passed", "check", "format_table", "write_json"]
