"""``python -m paper_figures [--out DIR] [--quick] [--only TEXT]``."""

from __future__ import annotations

import argparse

from paper_figures import run_all

if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="python -m paper_figures",
                                     description="regenerate every paper figure and table")
    parser.add_argument("--out", default="figures", help="output folder (default: figures)")
    parser.add_argument("--quick", action="store_true", help="small configurations")
    parser.add_argument("--only", metavar="TEXT", help="only figures whose name contains TEXT")
    args = parser.parse_args()
    run_all(args.out, quick=args.quick, only=args.only)
