import sys

from emodesk.cli import main

sys.exit(main())
