import sys

from sijscan.cli.main import main

sys.exit(main())
