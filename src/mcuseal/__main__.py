import sys

from mcuseal.cli import main

sys.exit(main())
