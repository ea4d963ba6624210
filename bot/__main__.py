import sys

from bot.entrypoints.cli import main

sys.exit(main())
