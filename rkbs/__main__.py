import sys

from rkbs.cli import main

sys.exit(main())
