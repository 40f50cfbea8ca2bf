"""Verdicts and certificates: the numbers behind every claim check (theory §4)."""

from rkbs.verify.certificates import (
    Certificate,
    certify,
    certify_pair,
    certify_point,
    default_heldout,
)
from rkbs.verify.counterexamples import DuplicatedFeatures, p1_counterexample
from rkbs.verify.problems import FEATURE_FAMILIES, FittingProblem, binary_targets, feature_family
from rkbs.verify.report import (
    CheckResult,
    all_passed,
    check,
    claims_markdown,
    format_summary,
    format_table,
    rows_markdown,
    verdict_text,
    write_json,
)

__all__ = ["CheckResult", "all_passed", "check", "claims_markdown", "format_summary",
           "format_table", "rows_markdown", "verdict_text", "write_json", "Certificate",
           "certify", "certify_pair", "certify_point", "default_heldout", "DuplicatedFeatures",
           "p1_counterexample", "FEATURE_FAMILIES", "FittingProblem", "binary_targets",
           "feature_family"]
