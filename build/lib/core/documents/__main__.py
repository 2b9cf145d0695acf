"""`python -m core.documents`: the parsing child (see core/documents/child.py)."""

import sys

from core.documents.child import main

sys.exit(main())
