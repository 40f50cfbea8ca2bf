import argparse

from benchmarks import run_all

p = argparse.ArgumentParser(prog="python -m benchmarks")
p.add_argument("--only")
p.add_argument("--quick", action="store_true")
a = p.parse_args()
run_all(only=a.only, quick=a.quick)
