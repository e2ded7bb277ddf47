"""`python -m gateway.cli`: the `loyalty` command."""

import sys

from gateway.cli import main

sys.exit(main())
